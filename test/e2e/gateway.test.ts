import OpenAI from 'openai';
import { HardBudgets } from '../../server/budgets/hard-budgets.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.close());
beforeEach(() => stack.resetUsage());

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

describe('every other endpoint', () => {
  it('legacy completions, plain and streamed, are metered', async () => {
    const plain = await stack.client().completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Say this is a test', max_tokens: 12 });
    expect(plain.object).toBe('text_completion');
    const stream = await stack.client().completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Stream a test', stream: true });
    for await (const chunk of stream) expect(chunk.usage ?? null).toBeNull();
    const events = await stack.events();
    expect(events.map((e) => [e.endpoint, e.streamed, e.usage_source])).toEqual([
      ['completions', false, 'reported'],
      ['completions', true, 'reported'],
    ]);
    // gpt-3.5-turbo-instruct: $1.50 in, $2.00 out per 1M tokens.
    expect(BigInt(events[0].cost_nanos as string)).toBe(BigInt(plain.usage!.prompt_tokens * 1500 + plain.usage!.completion_tokens * 2000));
    expect(events[1].output_tokens).toBeGreaterThan(0);
  });

  it('embeddings (base64, the SDK default) decode and are priced from prompt tokens', async () => {
    const result = await stack.client().embeddings.create({ model: 'text-embedding-3-small', input: ['alpha', 'beta gamma'] });
    expect(result.data[1].embedding).toHaveLength(1536);
    const [event] = await stack.events();
    expect(event.input_tokens).toBe(result.usage.prompt_tokens);
    expect(BigInt(event.cost_nanos as string)).toBe(BigInt(result.usage.prompt_tokens * 20));
  });

  it('moderations are free but counted', async () => {
    const result = await stack.client().moderations.create({ model: 'omni-moderation-latest', input: 'I will kill this bug' });
    expect(result.results[0].flagged).toBe(true);
    const [event] = await stack.events();
    expect(event.endpoint).toBe('moderations');
    expect(event.cost_nanos).toBe('0');
  });

  it('lists and retrieves models', async () => {
    const page = await stack.client().models.list();
    expect(page.data.map((m) => m.id)).toContain('gpt-4o-mini');
    const model = await stack.client().models.retrieve('gpt-4o-mini');
    expect(model.id).toBe('gpt-4o-mini');
    const events = await stack.events();
    expect(events.map((e) => e.endpoint)).toEqual(['models', 'models']);
  });

  it('records a model without a price as unpriced, never $0', async () => {
    await stack.client().chat.completions.create({ model: 'gpt-9-experimental', messages: [{ role: 'user', content: 'hi' }] });
    const [event] = await stack.events();
    expect(event.input_tokens).toBeGreaterThan(0);
    expect(event.cost_nanos).toBeNull();
  });

  it('prices a dated snapshot as its family', async () => {
    const result = await stack.client().chat.completions.create({ model: 'gpt-4o-2024-08-06', messages: [{ role: 'user', content: 'hi' }] });
    const [event] = await stack.events();
    expect(BigInt(event.cost_nanos as string)).toBe(BigInt(result.usage!.prompt_tokens * 2500 + result.usage!.completion_tokens * 10000));
  });
});

describe('organizations', () => {
  it('sends the org key and OpenAI-Organization upstream, never the gateway key', async () => {
    const { response } = await stack.client().models.list().withResponse();
    // The simulator answers with the org its key belongs to.
    expect(response.headers.get('openai-organization')).toBe(stack.orgs[0].openaiOrgId);
  });

  it('routes to a granted org picked with the SDK organization option, and bills it there', async () => {
    const client = stack.client(stack.features[0], { organization: stack.orgs[1].openaiOrgId });
    const { response } = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    expect(response.headers.get('openai-organization')).toBe(stack.orgs[1].openaiOrgId);
    const [event] = await stack.events();
    expect(event.org_id).toBe(stack.orgs[1].id);
    expect(event.feature_id).toBe(stack.features[0].id);
  });

  it('refuses an org the feature was not granted with 403', async () => {
    const client = stack.client(stack.features[0], { organization: stack.orgs[2].openaiOrgId });
    const error = (await client.models.list().catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(error.status).toBe(403);
    expect(error.code).toBe('organization_not_allowed');
  });

  it('refuses a suspended org with 403 and x-should-retry: false', async () => {
    await stack.orgsService.updateOrg(stack.orgs[1].id, { status: 'suspended' });
    try {
      const { response, error } = await stack
        .client(stack.features[1])
        .models.list()
        .then(() => ({ response: undefined, error: undefined }))
        .catch((e: InstanceType<typeof OpenAI.APIError>) => ({ response: e.headers, error: e }));
      expect(error?.status).toBe(403);
      expect(error?.code).toBe('organization_suspended');
      expect(response?.get('x-should-retry')).toBe('false');
    } finally {
      await stack.orgsService.updateOrg(stack.orgs[1].id, { status: 'active' });
    }
  });

  it('passes a billing 429 through unchanged and classifies it as quota', async () => {
    const error = (await stack.client(stack.features[2]).chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(error.status).toBe(429);
    expect(error.code).toBe('insufficient_quota');
    const [event] = await stack.events();
    expect(event.error_kind).toBe('quota');
    expect(event.cost_nanos).toBe('0');
  });

  it('counts the SDK retries of a rate-limited call, one row per attempt', async () => {
    const client = stack.client(stack.features[0], { maxRetries: 2 });
    const error = (await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-sim-fault': '429-requests' } })
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(error.status).toBe(429);
    expect(error.headers?.get('retry-after')).toBeTruthy();
    const events = await stack.events();
    expect(events.map((e) => e.retry_count)).toEqual([0, 1, 2]);
    expect(events.every((e) => e.error_kind === 'rate_limit_requests')).toBe(true);
  }, 20_000);
});

describe('monthly budgets', () => {
  it('blocks a feature that has spent its budget with 429 feature_budget_exceeded, and no retry', async () => {
    const org = stack.orgs[0];
    const feature = await stack.orgsService.createFeature({ slug: 'tight-budget', name: 'Tight', defaultOrgId: org.id, monthlyBudgetUsd: 0.000001 });
    const { key } = await stack.orgsService.issueGatewayKey(feature.id);
    const client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: key, maxRetries: 2 });
    await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'spend it all' }] });
    await stack.ledger.flush(); // the spend reaches the rollups
    // Budgets and their spend are refreshed in the background: refresh now so the next call sees both.
    await stack.app.get(HardBudgets).refresh();
    const error = (await client.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'one more' }] })
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(error.status).toBe(429);
    expect(error.code).toBe('feature_budget_exceeded');
    expect(error.headers?.get('x-should-retry')).toBe('false');
    const events = (await stack.events()).filter((e) => e.feature_id === feature.id);
    expect(events.map((e) => e.error_kind)).toEqual([null, 'budget']); // one row: the SDK did not retry
  });
});

describe('operations endpoints', () => {
  it('reports liveness and readiness', async () => {
    expect((await fetch(`${stack.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${stack.url}/readyz`);
    expect(await ready.json()).toEqual({ status: 'ready', sharedState: 'off' });
  });

  it('describes the admin API in an OpenAPI document at /api/docs', async () => {
    const doc = (await (await fetch(`${stack.url}/api/docs/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/admin/orgs', '/api/admin/features/{id}/gateway-keys']));
  });
});

describe('gateway-made errors', () => {
  it('rejects an unknown key with 401 in OpenAI shape; it is counted, not stored', async () => {
    const client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: 'tg-not-a-real-key-123456', maxRetries: 0 });
    const error = await client.models.list().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('invalid_api_key');
    expect((error as InstanceType<typeof OpenAI.APIError>).message).not.toContain('not-a-real-key');
    // A key Tallygate never issued gets no ledger row (an anonymous flood must not grow it): see gateway-edges.test.ts.
    expect(await stack.events()).toEqual([]);
  });

  it('answers a revoked key with 401', async () => {
    const { key, record } = await stack.orgsService.issueGatewayKey(stack.features[0].id, 'to-revoke');
    const client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: key, maxRetries: 0 });
    await client.models.list();
    await stack.orgsService.revokeGatewayKey(record.id);
    const error = (await client.models.list().catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(error.status).toBe(401);
  });

  it('answers 502 with x-should-retry when the upstream is unreachable', async () => {
    const org = await stack.orgsService.createOrg({ name: 'down', openaiOrgId: 'org-down', baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'sk-down-000000000000' });
    const feature = await stack.orgsService.createFeature({ slug: 'down', name: 'Down', defaultOrgId: org.id });
    const { key } = await stack.orgsService.issueGatewayKey(feature.id);
    const res = await fetch(`${stack.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(502);
    expect(res.headers.get('x-should-retry')).toBe('true');
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('upstream_unreachable');
    expect(body.error.message).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|at /);
    const [event] = await stack.events();
    expect(event.error_kind).toBe('upstream_unreachable');
  });

  it('answers an oversized JSON body with 413', async () => {
    const big = await startStack({ env: { BODY_LIMIT_BYTES: '2048' } });
    try {
      const error = (await big
        .client()
        .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(5000) }] })
        .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
      expect(error.status).toBe(413);
      expect(error.code).toBe('request_too_large');
    } finally {
      await big.close();
    }
  });

  it('answers 504 when the upstream sends no headers in time', async () => {
    const slow = await startStack({ env: { UPSTREAM_HEADERS_TIMEOUT_MS: '300' } });
    try {
      const error = (await slow
        .client()
        .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-sim-fault': 'slow-first-byte' } })
        .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
      expect(error.status).toBe(504);
      expect(error.code).toBe('upstream_timeout');
      const [event] = await slow.events();
      expect(event.error_kind).toBe('upstream_timeout');
    } finally {
      await slow.close();
    }
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
