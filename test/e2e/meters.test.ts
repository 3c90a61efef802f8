// Images, speech and built-in tool calls through the gateway with the official SDK: each call's
// cost exact, computed here from the shipped price list's rows (never restated), and the ledger
// keeping every component it was priced on. The audio is relayed byte for byte.
import { createHash } from 'node:crypto';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { endpointFamily, endpointFamilySql } from '../../server/analytics/endpoint-family.js';
import type { Statement } from '../../server/analytics/statement.types.js';
import { shippedPriceList, type PriceListRow } from '../../server/pricing/pricing.service.js';
import { pngBase64 } from '../../server/simulator/images.js';
import { startStack, type Stack } from '../support/stack.js';
import { api, getJson, parseCsv } from './analytics-fixtures.js';

let stack: Stack;
let client: OpenAI;
beforeAll(async () => {
  stack = await startStack();
  client = stack.client();
});
afterAll(() => stack?.close());
beforeEach(() => stack.resetUsage());

const list = shippedPriceList();
const row = (model: string): PriceListRow =>
  list.filter((p) => p.model === model && (p.service_tier ?? 'default') === 'default').reduce((a, b) => (a.effective_from > b.effective_from ? a : b));
const rate = (r: PriceListRow, field: string): string => {
  const value = (r as unknown as Record<string, unknown>)[field];
  if (typeof value !== 'string') throw new Error(`${r.model} has no ${field}`);
  return value;
};

/** USD decimal → pico-dollars (exact BigInt). */
const pico = (usd: string): bigint => {
  const [whole, fraction = ''] = usd.split('.');
  return BigInt(whole + fraction.padEnd(12, '0'));
};
/** Σ count × (USD per `per` units), in nano-dollars, rounded once half up: how OpenAI's prices read. */
const nanos = (...terms: Array<[count: number, usd: string, per: number]>): bigint => {
  let total = 0n;
  for (const [count, usd, per] of terms) total += (BigInt(count) * pico(usd)) / BigInt(per);
  return (total + 500n) / 1000n;
};
/** The event once it is recorded: an estimate settles after the response (the tokenizer loads on first use). */
const settledEvent = async () => {
  for (let i = 0; i < 100; i++) {
    const [event] = await stack.events();
    if (event) return event;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no usage event');
};
const onlyEvent = async () => {
  const events = await stack.events();
  expect(events).toHaveLength(1);
  return events[0];
};

describe('images', () => {
  it('prices gpt-image-1 from its token usage: text in, image in, image out apart', async () => {
    const image = await toFile(Buffer.from(pngBase64('input', 64), 'base64'), 'in.png', { type: 'image/png' });
    const result = await client.images.edit({ model: 'gpt-image-1', image, prompt: 'a lighthouse at dusk, oil on canvas', quality: 'low', size: '1024x1024' });
    const usage = result.usage!;
    expect(usage.input_tokens_details.image_tokens).toBeGreaterThan(0);
    const event = await onlyEvent();
    expect(event.endpoint).toBe('images.edits');
    expect(event.model).toBe('gpt-image-1');
    expect(event.image_input_tokens).toBe(usage.input_tokens_details.image_tokens);
    expect(event.image_output_tokens).toBe(usage.output_tokens);
    const r = row('gpt-image-1');
    expect(BigInt(event.cost_nanos as string)).toBe(
      nanos([usage.input_tokens_details.text_tokens, rate(r, 'input'), 1e6], [usage.input_tokens_details.image_tokens, rate(r, 'image_input'), 1e6], [usage.output_tokens, rate(r, 'image_output'), 1e6]),
    );
  });

  it('prices a streamed gpt-image-1 generation (partial images) from the usage of its completed event', async () => {
    const stream = await client.images.generate({ model: 'gpt-image-1', prompt: 'a red fox in snow', stream: true, partial_images: 2, quality: 'medium' });
    let completed: { usage: { input_tokens: number; output_tokens: number; input_tokens_details: { text_tokens: number; image_tokens: number } } } | undefined;
    let partials = 0;
    for await (const event of stream) {
      if (event.type === 'image_generation.partial_image') partials++;
      if (event.type === 'image_generation.completed') completed = event;
    }
    expect(partials).toBe(2);
    const usage = completed!.usage;
    const event = await onlyEvent();
    expect(event.endpoint).toBe('images.generations');
    expect(event.streamed).toBe(true);
    expect(event.outcome).toBe('ok');
    expect(event.usage_source).toBe('reported');
    expect(event.image_output_tokens).toBe(usage.output_tokens);
    const r = row('gpt-image-1');
    expect(BigInt(event.cost_nanos as string)).toBe(nanos([usage.input_tokens_details.text_tokens, rate(r, 'input'), 1e6], [usage.output_tokens, rate(r, 'image_output'), 1e6]));
  });

  it('prices a streamed gpt-image-1 edit (multipart, streamed through unparsed) from its image_edit.completed event', async () => {
    const image = await toFile(Buffer.from(pngBase64('edit-stream', 64), 'base64'), 'in.png', { type: 'image/png' });
    const stream = await client.images.edit({ model: 'gpt-image-1', image, prompt: 'make it night', stream: true, partial_images: 1 });
    let usage: { input_tokens: number; output_tokens: number; input_tokens_details: { text_tokens: number; image_tokens: number } } | undefined;
    for await (const event of stream) if (event.type === 'image_edit.completed') usage = event.usage;
    const event = await onlyEvent();
    expect(event).toMatchObject({ endpoint: 'images.edits', model: 'gpt-image-1', streamed: true, outcome: 'ok', image_input_tokens: usage!.input_tokens_details.image_tokens });
    const r = row('gpt-image-1');
    expect(BigInt(event.cost_nanos as string)).toBe(
      nanos([usage!.input_tokens_details.text_tokens, rate(r, 'input'), 1e6], [usage!.input_tokens_details.image_tokens, rate(r, 'image_input'), 1e6], [usage!.output_tokens, rate(r, 'image_output'), 1e6]),
    );
  });

  it('prices dall-e-3 per image by the requested size and quality (hd 1024x1792)', async () => {
    // dall-e-3 takes only n=1 (OpenAI's API reference; the simulator refuses n=2 as OpenAI does), so
    // n=2 is checked on dall-e-2 below and in the unit test of the request reader.
    await client.images.generate({ model: 'dall-e-3', prompt: 'a city of glass', size: '1024x1792', quality: 'hd' });
    const event = await onlyEvent();
    expect(event.image_count).toBe(1);
    expect(event.image_spec).toBe('1024x1792/hd');
    const perImage = (row('dall-e-3').per_image as Record<string, string>)['1024x1792/hd'];
    expect(BigInt(event.cost_nanos as string)).toBe(nanos([1, perImage, 1]));
    expect(event.usage_source).toBe('reported');
  });

  it('prices dall-e-2 variations (multipart, fields read as the upload passes) per image, n=2', async () => {
    const image = await toFile(Buffer.from(pngBase64('variation', 64), 'base64'), 'in.png', { type: 'image/png' });
    const result = await client.images.createVariation({ model: 'dall-e-2', image, n: 2, size: '512x512' });
    expect(result.data).toHaveLength(2);
    const event = await onlyEvent();
    expect(event.endpoint).toBe('images.variations');
    expect(event.model).toBe('dall-e-2');
    expect(event.image_count).toBe(2);
    expect(event.image_spec).toBe('512x512');
    const perImage = (row('dall-e-2').per_image as Record<string, string>)['512x512'];
    expect(BigInt(event.cost_nanos as string)).toBe(nanos([2, perImage, 1]));
  });
});

describe('speech', () => {
  const direct = () => new OpenAI({ baseURL: stack.sim.url, apiKey: stack.orgs[0].upstreamKey, organization: stack.orgs[0].openaiOrgId, maxRetries: 0 });
  const sha = (bytes: ArrayBuffer) => createHash('sha256').update(Buffer.from(bytes)).digest('hex');

  it('bills tts-1 per input character and relays the audio byte for byte', async () => {
    const input = 'The quick brown fox jumps over the lazy dog. Ünïcödé too.';
    const request = { model: 'tts-1', voice: 'alloy', input, response_format: 'mp3' } as const;
    const through = await client.audio.speech.create(request);
    expect(through.headers.get('content-type')).toBe('audio/mpeg');
    const bytes = await through.arrayBuffer();
    const upstream = await (await direct().audio.speech.create(request)).arrayBuffer();
    expect(bytes.byteLength).toBeGreaterThan(1000);
    expect(sha(bytes)).toBe(sha(upstream));
    const event = (await stack.events()).find((e) => e.endpoint === 'audio.speech')!;
    expect(event.characters).toBe(input.length);
    expect(BigInt(event.cost_nanos as string)).toBe(nanos([input.length, rate(row('tts-1'), 'per_million_characters'), 1e6]));
  });

  it('bills gpt-4o-mini-tts by text tokens in and audio tokens out from the SSE usage', async () => {
    const response = await client.audio.speech.create({ model: 'gpt-4o-mini-tts', voice: 'coral', input: 'Hello from the gateway, streamed as events.', stream_format: 'sse' });
    const text = await response.text();
    const done = text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6))).find((e) => e.type === 'speech.audio.done');
    const usage = done.usage as { input_tokens: number; output_tokens: number };
    const event = await onlyEvent();
    expect(event.outcome).toBe('ok');
    expect(event.usage_source).toBe('reported');
    expect(event.input_tokens).toBe(usage.input_tokens);
    expect(event.audio_output_tokens).toBe(usage.output_tokens);
    const r = row('gpt-4o-mini-tts');
    expect(BigInt(event.cost_nanos as string)).toBe(nanos([usage.input_tokens, rate(r, 'input'), 1e6], [usage.output_tokens, rate(r, 'audio_output'), 1e6]));
  });

  it('estimates gpt-4o-mini-tts without usage: PCM priced from its length and flagged, mp3 left unpriced', async () => {
    const pcm = await (await client.audio.speech.create({ model: 'gpt-4o-mini-tts', voice: 'coral', input: 'Raw samples have a known length.', response_format: 'pcm' })).arrayBuffer();
    let event = await settledEvent();
    expect(event.usage_source).toBe('estimated');
    expect(event.input_tokens).toBeGreaterThan(0);
    // 24 kHz 16-bit mono, 1,250 audio tokens per minute (OpenAI's $0.015/min at $12 per 1M tokens).
    expect(event.audio_output_tokens).toBe(Math.ceil(((pcm.byteLength / 48_000) * 1250) / 60));
    expect(event.cost_nanos).not.toBeNull();
    await stack.resetUsage();
    await (await client.audio.speech.create({ model: 'gpt-4o-mini-tts', voice: 'coral', input: 'Compressed audio has no length in bytes.' })).arrayBuffer();
    event = await settledEvent();
    expect(event.usage_source).toBe('estimated');
    expect(event.cost_nanos).toBeNull();
  });
});

describe('built-in tool calls', () => {
  it('charges a web search call per call at the price list fee, on top of the tokens', async () => {
    const response = await client.responses.create({ model: 'gpt-4.1-mini', input: 'What happened in Lisbon today?', tools: [{ type: 'web_search' }] });
    expect(response.output.some((item) => item.type === 'web_search_call')).toBe(true);
    const event = await onlyEvent();
    expect(event.web_search_calls).toBe(1);
    const r = row('gpt-4.1-mini');
    const u = response.usage!;
    const fee = (r.per_thousand_calls as Record<string, string>).web_search;
    expect(BigInt(event.cost_nanos as string)).toBe(
      nanos([u.input_tokens - u.input_tokens_details.cached_tokens, rate(r, 'input'), 1e6], [u.input_tokens_details.cached_tokens, rate(r, 'cached_input'), 1e6], [u.output_tokens, rate(r, 'output'), 1e6], [1, fee, 1000]),
    );
  });

  it('counts the tool calls of a streamed response from its response.completed event (preview fee for web_search_preview)', async () => {
    const stream = await client.responses.create({ model: 'gpt-4.1-mini', input: 'Search twice', tools: [{ type: 'web_search_preview' }, { type: 'file_search', vector_store_ids: ['vs_1'] }], stream: true });
    for await (const _ of stream) void _;
    const event = await onlyEvent();
    expect(event.web_search_preview_calls).toBe(1);
    expect(event.file_search_calls).toBe(1);
    expect(event.web_search_calls).toBe(0);
  });
});

describe('spend by endpoint family and statements with their components', () => {
  const month = () => new Date().toISOString().slice(0, 7);
  const today = () => new Date().toISOString().slice(0, 10);
  const tomorrow = () => new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);

  it('breaks spend down by family and filters by it; each statement line carries the components it was priced on', async () => {
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    await client.images.generate({ model: 'dall-e-3', prompt: 'a kite', size: '1024x1792', quality: 'hd' });
    await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'Twenty-eight characters long' }).then((r) => r.arrayBuffer());
    await client.responses.create({ model: 'gpt-4.1-mini', input: 'search', tools: [{ type: 'web_search' }] });
    const events = await stack.events();
    expect(events).toHaveLength(4);
    const costOf = (endpoint: string) => BigInt(events.find((e) => e.endpoint === endpoint)!.cost_nanos as string);

    const report = await getJson<{ series: Array<{ group: { family: string }; spendNanos: string; requests: number }> }>(
      stack,
      `/api/analytics/spend?from=${today()}&to=${tomorrow()}&groupBy=family`,
    );
    const byFamily = Object.fromEntries(report.series.map((p) => [p.group.family, BigInt(p.spendNanos)]));
    expect(byFamily).toEqual({ chat: costOf('chat.completions'), images: costOf('images.generations'), speech: costOf('audio.speech'), responses: costOf('responses') });
    const images = await getJson<{ series: Array<{ requests: number; spendNanos: string }> }>(stack, `/api/analytics/spend?from=${today()}&to=${tomorrow()}&family=images`);
    expect(images.series.map((p) => [p.requests, BigInt(p.spendNanos)])).toEqual([[1, costOf('images.generations')]]);

    const st = await getJson<Statement>(stack, `/api/analytics/statements?org=${stack.orgs[0].id}&month=${month()}`);
    const line = (model: string) => st.lines.find((l) => l.model === model)!;
    expect(line('dall-e-3')).toMatchObject({ images: 1, characters: 0 });
    expect(line('dall-e-3').unitPrices?.perImage?.['1024x1792/hd']).toBe((row('dall-e-3').per_image as Record<string, string>)['1024x1792/hd']);
    expect(line('tts-1')).toMatchObject({ characters: 'Twenty-eight characters long'.length });
    // numeric(14, 6) reads back as 15.000000: the same decimal.
    expect(Number(line('tts-1').unitPrices?.perMillionCharacters)).toBe(Number(rate(row('tts-1'), 'per_million_characters')));
    expect(line('gpt-4.1-mini')).toMatchObject({ webSearchCalls: 1 });
    expect(line('gpt-4.1-mini').unitPrices?.perThousandCalls?.web_search).toBe((row('gpt-4.1-mini').per_thousand_calls as Record<string, string>).web_search);
    expect(st.total).toMatchObject({ images: 1, webSearchCalls: 1, characters: 'Twenty-eight characters long'.length });

    const exported = parseCsv(await (await api(stack, `/api/analytics/exports/usage-events.csv?from=${today()}&to=${tomorrow()}&family=images`)).text());
    expect(exported).toHaveLength(2);
    expect(exported[1][exported[0].indexOf('image_spec')]).toBe('1024x1792/hd');

    const csv = parseCsv(await (await api(stack, `/api/analytics/statements?org=${stack.orgs[0].id}&month=${month()}&format=csv`)).text());
    const header = csv[0];
    const ttsRow = csv.find((r) => r[header.indexOf('model')] === 'tts-1')!;
    expect(ttsRow[header.indexOf('characters')]).toBe(String('Twenty-eight characters long'.length));
  });

  it('derives the same family in TypeScript and in SQL', async () => {
    const names = ['chat.completions', 'completions', 'responses', 'responses.retrieve', 'embeddings', 'images.generations', 'images.edits', 'images.variations', 'audio.speech', 'audio.transcriptions', 'audio.translations', 'batch', 'batches.create', 'moderations', 'models', 'files.create', "o'dd", 'realtime', 'realtime.client_secrets'];
    const { rows } = await stack.db.query(`SELECT name, ${endpointFamilySql('name')} AS family FROM unnest($1::text[]) AS name`, [names]);
    expect(Object.fromEntries(rows.map((r) => [r.name, r.family]))).toEqual(Object.fromEntries(names.map((n) => [n, endpointFamily(n)])));
    expect(names.map(endpointFamily)).toEqual(['chat', 'chat', 'responses', 'responses', 'embeddings', 'images', 'images', 'images', 'speech', 'transcription', 'transcription', 'batch', 'batch', 'other', 'other', 'other', 'other', 'realtime', 'realtime']);
  });

  it('re-costs speech from its stored characters when a price is corrected', async () => {
    const input = 'Corrected prices apply to what was stored.';
    await client.audio.speech.create({ model: 'tts-1-hd', voice: 'alloy', input }).then((r) => r.arrayBuffer());
    const [recorded] = await stack.events();
    expect(BigInt(recorded.cost_nanos as string)).toBe(nanos([input.length, rate(row('tts-1-hd'), 'per_million_characters'), 1e6]));
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const to = new Date(Date.now() + 3_600_000).toISOString();
    const response = await api(stack, '/api/admin/prices/corrections', {
      method: 'POST',
      body: JSON.stringify({ model: 'tts-1-hd', from, to, reason: 'test: a corrected character rate', prices: { perMillionCharacters: '45.00' } }),
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { eventsRecosted: number }).eventsRecosted).toBe(1);
    const [event] = await stack.events();
    expect(BigInt(event.cost_nanos as string)).toBe(nanos([input.length, '45.00', 1e6]));
  });
});
