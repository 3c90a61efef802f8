import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.close());
beforeEach(async () => {
  await stack.ledger.flush();
  await stack.db.query('TRUNCATE usage_events, usage_hourly');
  stack.sim.reset();
});

describe('chat completions through the gateway', () => {
  it('answers like OpenAI and writes one priced ledger row', async () => {
    const { data, response } = await stack
      .client()
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello to the ledger' }] })
      .withResponse();
    expect(data.object).toBe('chat.completion');
    expect(data.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(response.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/);
    expect(response.headers.get('x-ratelimit-limit-requests')).toBeTruthy();

    const [event] = await stack.events();
    expect(event.endpoint).toBe('chat.completions');
    expect(event.status).toBe(200);
    expect(event.outcome).toBe('ok');
    expect(event.org_id).toBe(stack.orgs[0].id);
    expect(event.feature_id).toBe(stack.features[0].id);
    expect(event.input_tokens).toBe(data.usage!.prompt_tokens);
    expect(event.output_tokens).toBe(data.usage!.completion_tokens);
    expect(event.usage_source).toBe('reported');
    // gpt-4o-mini: $0.15 / 1M input = 150 nano-dollars per token, $0.60 / 1M output = 600.
    expect(BigInt(event.cost_nanos as string)).toBe(BigInt(data.usage!.prompt_tokens * 150 + data.usage!.completion_tokens * 600));
    expect(event.upstream_request_id).toBe(response.headers.get('x-request-id'));
    expect(event.rl_limit_requests).toBe(Number(response.headers.get('x-ratelimit-limit-requests')));
    expect(event.rl_remaining_tokens).toBe(String(response.headers.get('x-ratelimit-remaining-tokens')));
  });

  it('streams with exact usage even when the client did not ask for it, and hides the extra chunk', async () => {
    const stream = await stack.client().chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Stream me a few words' }],
      stream: true,
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.every((c) => c.choices.length > 0)).toBe(true);

    const [event] = await stack.events();
    expect(event.streamed).toBe(true);
    expect(event.usage_source).toBe('reported');
    expect(event.output_tokens).toBeGreaterThan(0);
    expect(BigInt(event.cost_nanos as string)).toBeGreaterThan(0n);
  });

  it('passes the usage chunk through when the client asked for it', async () => {
    const stream = await stack.client().chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Stream with usage' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    const [event] = await stack.events();
    expect(usage?.completion_tokens).toBe(event.output_tokens);
  });
});

describe('gateway-made errors', () => {
  it('rejects an unknown key with 401 in OpenAI shape and records it', async () => {
    const client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: 'tg-not-a-real-key-123456', maxRetries: 0 });
    const error = await client.models.list().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('invalid_api_key');
    expect((error as InstanceType<typeof OpenAI.APIError>).message).not.toContain('not-a-real-key');
    const [event] = await stack.events();
    expect(event.status).toBe(401);
    expect(event.error_kind).toBe('auth');
    expect(event.org_id).toBeNull();
  });

  it('answers malformed JSON with 400 invalid_request_error', async () => {
    const res = await fetch(`${stack.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.features[0].gatewayKey}`, 'content-type': 'application/json' },
      body: '{"model": "gpt-4o-mini", ',
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { type: string; code: string } };
    expect(body.error.type).toBe('invalid_request_error');
  });
});
