// The OpenAI simulator, driven by the official openai SDK the way the gateway's users will drive it.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import OpenAI, { APIError, toFile } from 'openai';
import { silentMp3, toneWav } from '../../server/simulator/audio-samples.js';
import { startSimulator, type Simulator } from '../../server/simulator/simulator.js';

const MAIN_KEY = 'sk-test-main-key-0001';
const TINY_KEY = 'sk-test-tiny-key-0002';
const BROKE_KEY = 'sk-test-broke-key-0003';
const PROJECT_KEY = 'sk-test-proj-key-0004';

async function apiError(promise: Promise<unknown>): Promise<APIError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof APIError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

describe('OpenAI simulator', () => {
  let simulator: Simulator;
  let client: OpenAI;
  const clientFor = (apiKey: string, extra: Partial<ConstructorParameters<typeof OpenAI>[0]> = {}): OpenAI =>
    new OpenAI({ apiKey, baseURL: simulator.url, maxRetries: 0, ...extra });

  beforeAll(async () => {
    simulator = await startSimulator({
      orgs: [
        { id: 'org-main', keys: [MAIN_KEY] },
        { id: 'org-tiny', keys: [TINY_KEY], limits: { 'gpt-4o-mini': { rpm: 2, tpm: 1_000 } } },
        { id: 'org-broke', keys: [BROKE_KEY], outOfCredit: true },
        { id: 'org-proj', keys: [PROJECT_KEY], projectTpm: 5_000 },
      ],
    });
    client = clientFor(MAIN_KEY);
  });
  afterAll(async () => {
    await simulator.close();
  });
  beforeEach(() => simulator.reset());

  describe('auth and errors', () => {
    it('rejects an unknown key with 401 invalid_api_key and masks it', async () => {
      const error = await apiError(clientFor('sk-not-a-real-key-abcd').models.list());
      expect(error.status).toBe(401);
      expect(error.code).toBe('invalid_api_key');
      expect(error.message).toContain('sk-…abcd');
      expect(error.message).not.toContain('not-a-real');
    });

    it('rejects an OpenAI-Organization header that is not the key’s org', async () => {
      const error = await apiError(clientFor(MAIN_KEY, { organization: 'org-tiny' }).models.list());
      expect(error.status).toBe(401);
      expect(error.code).toBe('mismatched_organization');
    });

    it('answers bad JSON, a missing model and an unknown path in OpenAI’s error shape', async () => {
      const headers = { authorization: `Bearer ${MAIN_KEY}`, 'content-type': 'application/json' };
      const bad = await fetch(`${simulator.url}/chat/completions`, { method: 'POST', headers, body: '{nope' });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');

      const noModel = await fetch(`${simulator.url}/chat/completions`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }),
      });
      expect(noModel.status).toBe(400);
      expect(((await noModel.json()) as { error: { param: string } }).error.param).toBe('model');

      const missing = await fetch(`${simulator.url}/nothing-here`, { headers });
      expect(missing.status).toBe(404);
      expect(missing.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/);
      expect(((await missing.json()) as { error: { message: string } }).error.message).toContain('/v1/nothing-here');
    });
  });

  describe('chat completions', () => {
    it('returns usage and OpenAI’s headers on a plain call', async () => {
      const { data, response } = await client.chat.completions
        .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }] })
        .withResponse();
      expect(data.object).toBe('chat.completion');
      expect(data.id).toMatch(/^chatcmpl-/);
      expect(data.choices[0]?.message.content).toBeTruthy();
      const usage = data.usage;
      expect(usage).toBeDefined();
      expect(usage?.prompt_tokens).toBeGreaterThan(0);
      expect(usage?.completion_tokens).toBeGreaterThanOrEqual(8);
      expect(usage?.total_tokens).toBe((usage?.prompt_tokens ?? 0) + (usage?.completion_tokens ?? 0));
      expect(usage?.prompt_tokens_details?.cached_tokens).toBe(0);
      expect(data.service_tier).toBe('default');

      expect(response.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/);
      expect(response.headers.get('openai-organization')).toBe('org-main');
      expect(response.headers.get('openai-version')).toBe('2020-10-01');
      expect(Number(response.headers.get('openai-processing-ms'))).toBeGreaterThanOrEqual(0);
      expect(response.headers.get('x-ratelimit-limit-requests')).toBe('500');
      expect(response.headers.get('x-ratelimit-remaining-requests')).toBe('499');
      expect(response.headers.get('x-ratelimit-reset-requests')).toBe('120ms');
      expect(response.headers.get('x-ratelimit-limit-tokens')).toBe('200000');
      expect(Number(response.headers.get('x-ratelimit-remaining-tokens'))).toBeLessThan(200_000);
      expect(response.headers.get('x-ratelimit-reset-tokens')).toMatch(/^\d+(ms|s)$/);
    });

    it('is deterministic for the same prompt', async () => {
      const ask = () => client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Same question' }] });
      const [first, second] = await Promise.all([ask(), ask()]);
      expect(first.choices[0]?.message.content).toBe(second.choices[0]?.message.content);
      expect(first.usage).toEqual(second.usage);
    });

    it('reports cached tokens in 128-token steps for long prompts', async () => {
      const long = 'The quick brown fox jumps over the lazy dog. '.repeat(200);
      const data = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: long }] });
      const cached = data.usage?.prompt_tokens_details?.cached_tokens ?? 0;
      expect(data.usage?.prompt_tokens).toBeGreaterThanOrEqual(1024);
      expect(cached).toBeGreaterThanOrEqual(1024);
      expect(cached % 128).toBe(0);
      expect(cached).toBeLessThanOrEqual(data.usage?.prompt_tokens ?? 0);
    });

    it('reports reasoning tokens inside completion tokens for o-series models and echoes the service tier', async () => {
      const data = await client.chat.completions.create({
        model: 'o4-mini',
        service_tier: 'priority',
        messages: [{ role: 'user', content: 'Think hard' }],
      });
      const reasoning = data.usage?.completion_tokens_details?.reasoning_tokens ?? 0;
      expect(reasoning).toBeGreaterThan(0);
      expect(data.usage?.completion_tokens).toBeGreaterThan(reasoning);
      expect(data.service_tier).toBe('priority');
    });

    it('caps the answer at max_tokens with finish_reason length', async () => {
      const data = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        max_tokens: 3,
        messages: [{ role: 'user', content: 'Be brief' }],
      });
      expect(data.usage?.completion_tokens).toBe(3);
      expect(data.choices[0]?.finish_reason).toBe('length');
    });

    it('streams chunks and, with include_usage, one final usage chunk', async () => {
      const stream = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: 'Stream please' }],
      });
      const chunks = [];
      for await (const chunk of stream) chunks.push(chunk);
      const last = chunks.at(-1);
      expect(last?.choices).toEqual([]);
      expect(last?.usage?.total_tokens).toBeGreaterThan(0);
      expect(chunks.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true);
      expect(chunks[0]?.object).toBe('chat.completion.chunk');
      const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
      const plain = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'Stream please' }],
      });
      expect(text).toBe(plain.choices[0]?.message.content);
      expect(last?.usage?.completion_tokens).toBe(plain.usage?.completion_tokens);
    });

    it('sends no usage chunk without include_usage', async () => {
      const stream = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        stream: true,
        messages: [{ role: 'user', content: 'No usage' }],
      });
      const chunks = [];
      for await (const chunk of stream) chunks.push(chunk);
      expect(chunks.every((chunk) => chunk.usage === undefined || chunk.usage === null)).toBe(true);
      expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('stop');
    });

    it('treats special-token text in a prompt as plain text', async () => {
      const data = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'a <|endoftext|> b' }] });
      expect(data.usage?.prompt_tokens).toBeGreaterThan(0);
    });

    it('serves legacy completions', async () => {
      const data = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Once upon a time' });
      expect(data.object).toBe('text_completion');
      expect(data.usage?.completion_tokens).toBeLessThanOrEqual(16);
      expect(data.choices[0]?.text.length).toBeGreaterThan(0);
    });
  });

  describe('embeddings, moderations, models', () => {
    it('returns base64 embeddings (the SDK default) of the model’s dimension', async () => {
      const small = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['one', 'two'] });
      expect(small.data).toHaveLength(2);
      const vector = small.data[0]?.embedding ?? [];
      expect(vector).toHaveLength(1536);
      const norm = Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0));
      expect(norm).toBeCloseTo(1, 3);
      expect(small.usage.prompt_tokens).toBe(2);

      const large = await client.embeddings.create({ model: 'text-embedding-3-large', input: 'x', dimensions: 256 });
      expect(large.data[0]?.embedding).toHaveLength(256);
      const full = await client.embeddings.create({ model: 'text-embedding-3-large', input: 'x', encoding_format: 'float' });
      expect(full.data[0]?.embedding).toHaveLength(3072);
    });

    it('flags moderation input deterministically and reports no usage', async () => {
      const result = await client.moderations.create({ model: 'omni-moderation-latest', input: ['I will kill the process', 'Have a nice day'] });
      expect(result.results[0]?.flagged).toBe(true);
      expect(result.results[0]?.categories.violence).toBe(true);
      expect(result.results[1]?.flagged).toBe(false);
      expect(result).not.toHaveProperty('usage');
    });

    it('lists every priced model and retrieves one', async () => {
      const ids = [];
      for await (const model of client.models.list()) ids.push(model.id);
      for (const id of ['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'gpt-4.1-mini', 'gpt-4.1-nano', 'o3', 'o4-mini', 'gpt-3.5-turbo',
        'gpt-3.5-turbo-instruct', 'babbage-002', 'davinci-002', 'text-embedding-3-small', 'text-embedding-3-large',
        'text-embedding-ada-002', 'whisper-1', 'gpt-4o-transcribe', 'gpt-4o-mini-transcribe', 'omni-moderation-latest']) {
        expect(ids).toContain(id);
      }
      expect((await client.models.retrieve('gpt-4o')).id).toBe('gpt-4o');
      expect((await apiError(client.models.retrieve('gpt-nope'))).status).toBe(404);
    });
  });

  describe('responses', () => {
    it('returns a completed response with usage', async () => {
      const response = await client.responses.create({ model: 'o3', input: 'Hello there' });
      expect(response.object).toBe('response');
      expect(response.status).toBe('completed');
      expect(response.output_text.length).toBeGreaterThan(0);
      expect(response.usage?.input_tokens).toBeGreaterThan(0);
      expect(response.usage?.output_tokens_details.reasoning_tokens).toBeGreaterThan(0);
      expect(response.usage?.total_tokens).toBe((response.usage?.input_tokens ?? 0) + (response.usage?.output_tokens ?? 0));
    });

    it('streams named events ending in response.completed with usage', async () => {
      const stream = await client.responses.create({
        model: 'gpt-4.1-mini',
        stream: true,
        input: [{ role: 'user', content: 'Stream a response' }],
      });
      const types: string[] = [];
      const sequence: number[] = [];
      let usageTotal = 0;
      let deltas = '';
      for await (const event of stream) {
        types.push(event.type);
        sequence.push(event.sequence_number);
        if (event.type === 'response.output_text.delta') deltas += event.delta;
        if (event.type === 'response.completed') usageTotal = event.response.usage?.total_tokens ?? 0;
      }
      expect(types.slice(0, 4)).toEqual([
        'response.created',
        'response.in_progress',
        'response.output_item.added',
        'response.content_part.added',
      ]);
      expect(types.filter((type) => type === 'response.output_text.delta').length).toBeGreaterThan(1);
      expect(types.slice(-4)).toEqual([
        'response.output_text.done',
        'response.content_part.done',
        'response.output_item.done',
        'response.completed',
      ]);
      expect(sequence).toEqual(sequence.map((_, index) => index));
      expect(deltas.length).toBeGreaterThan(0);
      expect(usageTotal).toBeGreaterThan(0);
    });
  });

  describe('audio', () => {
    const wav = toneWav(3.5);
    const file = () => toFile(wav, 'silence.wav', { type: 'audio/wav' });

    it('measures a WAV’s duration for whisper-1 json, verbose_json and text', async () => {
      const json = await client.audio.transcriptions.create({ model: 'whisper-1', file: await file() });
      expect(json.usage).toEqual({ type: 'duration', seconds: 4 });
      expect(json.text.length).toBeGreaterThan(0);

      const verbose = await client.audio.transcriptions.create({ model: 'whisper-1', file: await file(), response_format: 'verbose_json' });
      expect(verbose.duration).toBeCloseTo(3.5, 2);
      expect(verbose.segments?.length).toBeGreaterThan(0);
      expect(verbose.usage).toEqual({ type: 'duration', seconds: 4 });

      const { data: text, response } = await client.audio.transcriptions
        .create({ model: 'whisper-1', file: await file(), response_format: 'text' })
        .withResponse();
      expect(typeof text).toBe('string');
      expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
      expect(text).not.toContain('usage');

      const srt = await client.audio.transcriptions.create({ model: 'whisper-1', file: await file(), response_format: 'srt' });
      expect(srt).toContain('00:00:00,000 --> 00:00:03,500');
      expect(simulator.stats().orgs['org-main']?.models['whisper-1']?.usage.audioSeconds).toBe(16);
    });

    it('measures an MP3’s duration too', async () => {
      const mp3 = await toFile(silentMp3(134), 'speech.mp3', { type: 'audio/mpeg' });
      const verbose = await client.audio.transcriptions.create({ model: 'whisper-1', file: mp3, response_format: 'verbose_json' });
      expect(verbose.duration).toBeCloseTo(3.5, 2);
      expect(verbose.usage).toEqual({ type: 'duration', seconds: 4 });
    });

    it('reports token usage for gpt-4o-transcribe', async () => {
      const result = await client.audio.transcriptions.create({ model: 'gpt-4o-transcribe', file: await file() });
      expect(result.usage?.type).toBe('tokens');
      if (result.usage?.type !== 'tokens') return;
      expect(result.usage.input_token_details?.audio_tokens).toBe(35);
      expect(result.usage.total_tokens).toBe(result.usage.input_tokens + result.usage.output_tokens);
    });

    it('translates with whisper-1 without usage', async () => {
      const result = await client.audio.translations.create({ model: 'whisper-1', file: await file() });
      expect(result.text.length).toBeGreaterThan(0);
      expect(result).not.toHaveProperty('usage');
      const verbose = await client.audio.translations.create({ model: 'whisper-1', file: await file(), response_format: 'verbose_json' });
      expect(verbose).toMatchObject({ duration: expect.closeTo(3.5, 2) });
    });

    it('rejects bytes that are not audio', async () => {
      const error = await apiError(
        client.audio.transcriptions.create({ model: 'whisper-1', file: await toFile(Buffer.from('not audio at all'), 'x.wav') }),
      );
      expect(error.status).toBe(400);
    });
  });

  describe('rate limits and billing', () => {
    it('answers 429 requests once the RPM is spent, with retry-after, and counts it', async () => {
      const tiny = clientFor(TINY_KEY);
      const ask = () => tiny.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
      await ask();
      await ask();
      const error = await apiError(ask());
      expect(error.status).toBe(429);
      expect(error.code).toBe('rate_limit_exceeded');
      expect(error.type).toBe('requests');
      expect(error.message).toMatch(/^429 Rate limit reached for gpt-4o-mini in organization org-tiny on requests per min \(RPM\): Limit 2, Used 2, Requested 1\. Please try again in \d/);
      expect(Number(error.headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Number(error.headers?.get('retry-after-ms'))).toBeGreaterThan(0);
      expect(error.headers?.get('x-ratelimit-remaining-requests')).toBe('0');

      const stats = simulator.stats();
      expect(stats.orgs['org-tiny']?.rateLimited.requests).toBe(1);
      expect(stats.orgs['org-tiny']?.models['gpt-4o-mini']).toMatchObject({ requests: 3, rateLimited: { requests: 1, tokens: 0, quota: 0 } });
      const served = (await (await fetch(simulator.url.replace(/\/v1$/, '/_sim/stats'))).json()) as typeof stats;
      expect(served.orgs['org-tiny']?.rateLimited.requests).toBe(1);
    });

    it('refuses a request larger than the whole TPM limit as not retryable', async () => {
      const error = await apiError(
        clientFor(TINY_KEY).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 5_000, messages: [{ role: 'user', content: 'hi' }] }),
      );
      expect(error.status).toBe(429);
      expect(error.type).toBe('tokens');
      expect(error.message).toMatch(/^429 Request too large for gpt-4o-mini in organization org-tiny on tokens per min \(TPM\)/);
      expect(error.headers?.get('x-should-retry')).toBe('false');
      expect(simulator.stats().orgs['org-tiny']?.rateLimited.tokens).toBe(1);
    });

    it('applies a project TPM when OpenAI-Project is sent', async () => {
      const project = clientFor(PROJECT_KEY, { project: 'proj_abc' });
      const { response } = await project.chat.completions
        .create({ model: 'gpt-4o-mini', max_tokens: 2_000, messages: [{ role: 'user', content: 'hi' }] })
        .withResponse();
      expect(response.headers.get('x-ratelimit-limit-project-tokens')).toBe('5000');
      await project.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 2_000, messages: [{ role: 'user', content: 'hi' }] });
      const error = await apiError(
        project.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 2_000, messages: [{ role: 'user', content: 'hi' }] }),
      );
      expect(error.type).toBe('tokens');
      expect(error.message).toContain('in project proj_abc');
    });

    it('answers insufficient_quota for an org out of credit', async () => {
      const error = await apiError(clientFor(BROKE_KEY).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }));
      expect(error.status).toBe(429);
      expect(error.code).toBe('insufficient_quota');
      expect(error.type).toBe('insufficient_quota');
      expect(simulator.stats().orgs['org-broke']?.rateLimited.quota).toBe(1);
    });

    it('setOrg changes limits at once and reset clears stats', async () => {
      simulator.setOrg({ id: 'org-main', keys: [MAIN_KEY], limits: { 'gpt-4o': { rpm: 1, tpm: 10_000 } } });
      try {
        await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'one' }] });
        expect((await apiError(client.chat.completions.create({ model: 'gpt-4o-2024-08-06', messages: [{ role: 'user', content: 'two' }] }))).type).toBe('requests');
        expect(simulator.stats().totalRequests).toBe(2);
        simulator.reset();
        expect(simulator.stats().totalRequests).toBe(0);
        await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'three' }] });
      } finally {
        simulator.setOrg({ id: 'org-main', keys: [MAIN_KEY] });
      }
    });
  });

  describe('fault injection', () => {
    const streamChat = (content: string, headers: Record<string, string> = {}) =>
      client.chat.completions.create(
        { model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content }] },
        { headers },
      );

    it('cut: the stream ends early with no usage chunk', async () => {
      const stream = await streamChat('Tell me a story', { 'x-sim-fault': 'cut' });
      const chunks = [];
      let failure: unknown;
      try {
        for await (const chunk of stream) chunks.push(chunk);
      } catch (error) {
        failure = error;
      }
      expect(failure).toBeDefined();
      expect(chunks.length).toBeGreaterThan(0);
      expect(chunks.some((chunk) => chunk.usage)).toBe(false);
      expect(simulator.stats().orgs['org-main']?.brokenStreams).toBe(1);
    });

    it('error-mid-stream: a 200 stream delivers an error event', async () => {
      const stream = await streamChat('Story [[sim:error-mid-stream]] please');
      const chunks = [];
      const error = await apiError(
        (async () => {
          for await (const chunk of stream) chunks.push(chunk);
        })(),
      );
      expect(error.message).toContain('The server had an error while processing your request.');
      expect(chunks.length).toBeGreaterThan(0);

      const responses = await client.responses.create({ model: 'gpt-4o', stream: true, input: 'hi [[sim:error-mid-stream]]' });
      const types: string[] = [];
      try {
        for await (const event of responses) types.push(event.type);
      } catch {
        types.push('thrown');
      }
      expect(types.at(-1) === 'error' || types.at(-1) === 'thrown').toBe(true);
      expect(types).not.toContain('response.completed');
    });

    it('500, 503, 429-requests, 429-tokens and quota by header or marker', async () => {
      const ask = (content: string, fault?: string) =>
        apiError(
          client.chat.completions.create(
            { model: 'gpt-4o-mini', messages: [{ role: 'user', content }] },
            fault ? { headers: { 'x-sim-fault': fault } } : {},
          ),
        );
      expect((await ask('x', '500')).status).toBe(500);
      const overloaded = await ask('x [[sim:503]]');
      expect(overloaded.status).toBe(503);
      expect(overloaded.message).toContain('The engine is currently overloaded');
      const requests = await ask('x', '429-requests');
      expect([requests.status, requests.type, requests.code]).toEqual([429, 'requests', 'rate_limit_exceeded']);
      expect(Number(requests.headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const tokens = await ask('[[sim:429-tokens]]');
      expect([tokens.status, tokens.type]).toEqual([429, 'tokens']);
      expect((await ask('x', 'quota')).code).toBe('insufficient_quota');
      const counters = simulator.stats().orgs['org-main'];
      expect(counters?.serverErrors).toBe(2);
      expect(counters?.rateLimited).toEqual({ requests: 1, tokens: 1, quota: 1 });
    });

    it('stall: headers and a first chunk, then silence until the client gives up', async () => {
      const controller = new AbortController();
      const response = await fetch(`${simulator.url}/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${MAIN_KEY}`, 'content-type': 'application/json', 'x-sim-fault': 'stall' },
        body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
        signal: controller.signal,
      });
      expect(response.status).toBe(200);
      const reader = response.body!.getReader();
      const first = await reader.read();
      expect(new TextDecoder().decode(first.value)).toContain('chat.completion.chunk');
      const next = reader.read();
      const timedOut = await Promise.race([next.then(() => false), new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 300))]);
      expect(timedOut).toBe(true);
      controller.abort();
      await next.catch(() => undefined);
      // The simulator is still healthy afterwards.
      expect((await client.models.list()).data.length).toBeGreaterThan(0);
    });

    it('slow-first-byte holds the response for 2 s', async () => {
      const started = Date.now();
      await client.chat.completions.create(
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
        { headers: { 'x-sim-fault': 'slow-first-byte' } },
      );
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_950);
    });

    it('x-sim-latency-ms and x-sim-token-ms pace a stream so the first chunk arrives well before the end', async () => {
      const started = Date.now();
      const stream = await streamChat('Paced answer', { 'x-sim-latency-ms': '100', 'x-sim-token-ms': '15' });
      let firstAt = 0;
      let count = 0;
      for await (const chunk of stream) {
        if (count++ === 0) firstAt = Date.now() - started;
        void chunk;
      }
      const total = Date.now() - started;
      expect(firstAt).toBeGreaterThanOrEqual(90);
      expect(total - firstAt).toBeGreaterThanOrEqual(15 * (count - 2));
    });

    it('survives clients that abort mid-stream', async () => {
      for (let i = 0; i < 5; i++) {
        const controller = new AbortController();
        const stream = await client.chat.completions.create(
          { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: `abort ${i}` }] },
          { headers: { 'x-sim-token-ms': '20' }, signal: controller.signal },
        );
        try {
          for await (const chunk of stream) {
            void chunk;
            controller.abort();
          }
        } catch {
          // the abort surfaces as an error: expected
        }
      }
      const data = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'still alive?' }] });
      expect(data.choices[0]?.message.content).toBeTruthy();
    });
  });

  it('fails the configured fraction of requests with 500/503', async () => {
    const flaky = await startSimulator({ orgs: [{ id: 'org-flaky', keys: ['sk-flaky-0000'] }], errorRate: 1, seed: 7 });
    try {
      const flakyClient = new OpenAI({ apiKey: 'sk-flaky-0000', baseURL: flaky.url, maxRetries: 0 });
      const error = await apiError(flakyClient.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }));
      expect([500, 503]).toContain(error.status);
      expect(flaky.stats().orgs['org-flaky']?.serverErrors).toBe(1);
    } finally {
      await flaky.close();
    }
  });
});
