// Streams and the Responses API, including every way a stream can end badly: each still makes
// exactly one ledger row with the right outcome, and a cut-short stream is priced by estimate.
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
let client: OpenAI;
beforeAll(async () => {
  // A short idle timeout so a stalled upstream is given up on quickly.
  stack = await startStack({ env: { UPSTREAM_IDLE_TIMEOUT_MS: '600' } });
  client = stack.client();
});
afterAll(() => stack?.close());
beforeEach(() => stack.resetUsage());

async function onlyEvent() {
  // Aborted calls settle a moment after the client gives up.
  for (let i = 0; i < 40; i++) {
    const events = await stack.events();
    if (events.length > 0) {
      expect(events).toHaveLength(1);
      return events[0];
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no usage event was recorded');
}

describe('Responses API', () => {
  it('meters a plain response', async () => {
    const response = await client.responses.create({ model: 'gpt-4.1-mini', input: 'Write a haiku about ledgers.' });
    const event = await onlyEvent();
    expect(event.endpoint).toBe('responses');
    expect(event.input_tokens).toBe(response.usage!.input_tokens);
    expect(event.output_tokens).toBe(response.usage!.output_tokens);
    // gpt-4.1-mini: $0.40 in, $0.10 cached, $1.60 out per 1M tokens.
    const cached = response.usage!.input_tokens_details.cached_tokens;
    const expected = (response.usage!.input_tokens - cached) * 400 + cached * 100 + response.usage!.output_tokens * 1600;
    expect(BigInt(event.cost_nanos as string)).toBe(BigInt(expected));
  });

  it('meters a streamed response from response.completed', async () => {
    const stream = await client.responses.create({ model: 'o4-mini', input: 'Think, then answer briefly.', stream: true });
    let completed: OpenAI.Responses.Response | undefined;
    for await (const event of stream) if (event.type === 'response.completed') completed = event.response;
    const event = await onlyEvent();
    expect(event.streamed).toBe(true);
    expect(event.outcome).toBe('ok');
    expect(event.usage_source).toBe('reported');
    expect(event.output_tokens).toBe(completed!.usage!.output_tokens);
    expect(event.reasoning_tokens).toBe(completed!.usage!.output_tokens_details.reasoning_tokens);
    expect(event.reasoning_tokens).toBeGreaterThan(0);
  });
});

describe('streams that end badly', () => {
  it('relays chunk by chunk: the first chunk arrives long before the upstream finishes', async () => {
    const started = Date.now();
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Count slowly.' }] },
      { headers: { 'x-sim-token-ms': '25' } },
    );
    let firstAt = 0;
    let chunks = 0;
    for await (const _chunk of stream) {
      firstAt ||= Date.now() - started;
      chunks++;
    }
    const total = Date.now() - started;
    expect(chunks).toBeGreaterThan(5);
    expect(firstAt).toBeLessThan(total / 3);
    const event = await onlyEvent();
    expect(event.ttfb_ms).toBeLessThan(Number(event.latency_ms) / 3);
  });

  it('records a client disconnect as client_aborted with estimated, priced tokens', async () => {
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Tell me a long story about a lighthouse keeper.' }] },
      { headers: { 'x-sim-token-ms': '40' } },
    );
    let received = 0;
    for await (const _chunk of stream) {
      if (++received === 4) break; // leaving the loop aborts the request
    }
    const event = await onlyEvent();
    expect(event.outcome).toBe('client_aborted');
    expect(event.usage_source).toBe('estimated');
    expect(event.input_tokens).toBeGreaterThan(5);
    expect(event.output_tokens).toBeGreaterThan(0);
    expect(BigInt(event.cost_nanos as string)).toBeGreaterThan(0n);
  });

  it('records an error sent inside a 200 stream as a failure with its code', async () => {
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Hello' }] },
      { headers: { 'x-sim-fault': 'error-mid-stream' } },
    );
    const error = await (async () => {
      for await (const _chunk of stream) void _chunk;
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    const event = await onlyEvent();
    expect(event.status).toBe(200);
    expect(event.outcome).toBe('error');
    expect(event.error_code).toBe('server_error');
    expect(event.error_kind).toBe('stream_error');
    expect(event.usage_source).toBe('estimated');
  });

  it('records a Responses stream that fails with event: error', async () => {
    const stream = await client.responses.create({ model: 'gpt-4.1-mini', input: 'Hi', stream: true }, { headers: { 'x-sim-fault': 'error-mid-stream' } });
    await (async () => {
      for await (const _e of stream) void _e;
    })().catch(() => undefined);
    const event = await onlyEvent();
    expect(event.outcome).toBe('error');
    expect(event.error_kind).toBe('stream_error');
  });

  it('ends the client stream cleanly when the upstream connection drops mid-stream', async () => {
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Hello there' }] },
      { headers: { 'x-sim-fault': 'cut' } },
    );
    let chunks = 0;
    await (async () => {
      for await (const _chunk of stream) chunks++;
    })().catch(() => undefined);
    expect(chunks).toBeGreaterThan(0);
    const event = await onlyEvent();
    expect(event.outcome).toBe('upstream_aborted');
    expect(event.usage_source).toBe('estimated');
    expect(BigInt(event.cost_nanos as string)).toBeGreaterThan(0n);
  });

  it('gives up on a stalled upstream after UPSTREAM_IDLE_TIMEOUT_MS instead of hanging', async () => {
    const started = Date.now();
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Hello' }] },
      { headers: { 'x-sim-fault': 'stall' } },
    );
    await (async () => {
      for await (const _chunk of stream) void _chunk;
    })().catch(() => undefined);
    expect(Date.now() - started).toBeLessThan(5_000);
    const event = await onlyEvent();
    expect(event.outcome).toBe('upstream_aborted');
    expect(event.error_kind).toBe('upstream_timeout');
  });
});

describe('review findings, pinned', () => {
  it('records a cut stream whose prompt contains special-token text', async () => {
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'What does <|endoftext|> mean?' }] },
      { headers: { 'x-sim-fault': 'cut' } },
    );
    await (async () => {
      for await (const _chunk of stream) void _chunk;
    })().catch(() => undefined);
    const event = await onlyEvent();
    expect(event.usage_source).toBe('estimated');
    expect(event.input_tokens).toBeGreaterThan(5);
  });

  it('cuts the connection when a non-streamed body breaks mid-way, instead of leaving the client waiting', async () => {
    const started = Date.now();
    const error = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-sim-fault': 'cut' } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(Date.now() - started).toBeLessThan(3_000);
    const event = await onlyEvent();
    expect(event.outcome).toBe('upstream_aborted');
  });

  it('reads usage from the end of a body too large to parse whole, so big embedding batches are not free', async () => {
    const input = Array.from({ length: 700 }, (_, i) => `document number ${i} about invoices and ledgers`);
    const result = await client.embeddings.create({ model: 'text-embedding-3-large', input });
    const event = await onlyEvent();
    expect(event.input_tokens).toBe(result.usage.prompt_tokens);
    expect(BigInt(event.cost_nanos as string)).toBe(BigInt(result.usage.prompt_tokens * 130));
  });

  it('records a call whose client left before any response byte, as client_aborted', async () => {
    const key = stack.features[0].gatewayKey;
    const controller = new AbortController();
    const pending = fetch(`${stack.url}/v1/chat/completions`, {
      method: 'POST',
      signal: controller.signal,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-sim-latency-ms': '1500' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'never mind' }] }),
    }).catch(() => undefined);
    setTimeout(() => controller.abort(), 100);
    await pending;
    const event = await onlyEvent();
    expect(event.outcome).toBe('client_aborted');
  });
});

describe('service tiers', () => {
  it('prices a priority-tier call at the priority price', async () => {
    const result = await client.chat.completions.create({ model: 'gpt-4o', service_tier: 'priority', messages: [{ role: 'user', content: 'Quick!' }] });
    expect(result.service_tier).toBe('priority');
    const event = await onlyEvent();
    expect(event.service_tier).toBe('priority');
    // gpt-4o priority: $4.25 in, $17.00 out per 1M tokens.
    const u = result.usage!;
    expect(BigInt(event.cost_nanos as string)).toBe(BigInt(u.prompt_tokens * 4250 + u.completion_tokens * 17000));
  });

  it('records a tier the price list does not have as unpriced, not at the default price', async () => {
    const result = await client.chat.completions.create({ model: 'gpt-4o-mini', service_tier: 'flex', messages: [{ role: 'user', content: 'Later is fine.' }] });
    const event = await onlyEvent();
    expect(result.service_tier).toBe('flex');
    expect(event.service_tier).toBe('flex');
    expect(event.input_tokens).toBe(result.usage!.prompt_tokens);
    expect(event.cost_nanos).toBeNull();
  });
});
