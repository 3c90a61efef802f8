// What reaches /v1 that is not a plain good call: bodies Fastify cannot read, refused keys,
// anonymous floods, malformed uploads, hostile headers and path tricks. Each request with a key
// Tallygate issued gets exactly one ledger row; anonymous ones are counted, not stored.
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AnonymousRequests } from '../../server/ratelimits/anonymous-requests.service.js';
import { ADMIN_TOKEN, startStack, type Stack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { BODY_LIMIT_BYTES: '65536' } });
});
afterAll(() => stack?.close());
beforeEach(() => stack.resetUsage());

const post = (path: string, body: string | undefined, headers: Record<string, string>) =>
  fetch(`${stack.url}/v1${path}`, { method: 'POST', headers: { authorization: `Bearer ${stack.features[0].gatewayKey}`, ...headers }, body });
type ErrorBody = { error: { message: string; type: string; param: string | null; code: string | null } };

describe('one row per request with an issued key, whatever its body', () => {
  it('malformed JSON: 400 in OpenAI shape and a row under the feature', async () => {
    const res = await post('/chat/completions', '{"model": "gpt-4o-mini", ', { 'content-type': 'application/json' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorBody).error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_json' });
    const events = await stack.events();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ status: 400, error_kind: 'invalid_request', feature_id: stack.features[0].id, cost_nanos: '0' });
    expect(events[0].id).toBe(res.headers.get('x-tallygate-event-id'));
  });

  it('an empty JSON body: 400 that says it is empty, and a row', async () => {
    const res = await post('/chat/completions', '', { 'content-type': 'application/json' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorBody).error.message).toMatch(/empty/);
    expect(await stack.events()).toMatchObject([{ status: 400, feature_id: stack.features[0].id }]);
  });

  it('a body over BODY_LIMIT_BYTES: 413 through the SDK, and a row', async () => {
    const error = (await stack
      .client()
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(100_000) }] })
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(error.status).toBe(413);
    expect(error.code).toBe('request_too_large');
    expect(await stack.events()).toMatchObject([{ status: 413, error_kind: 'invalid_request', feature_id: stack.features[0].id }]);
    expect(stack.sim.stats().totalRequests).toBe(0);
  });

  it('a revoked key: 401, and a row under its feature and key', async () => {
    const { key, record } = await stack.orgsService.issueGatewayKey(stack.features[1].id, 'soon-revoked');
    await stack.orgsService.revokeGatewayKey(record.id);
    const error = (await new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: key, maxRetries: 0 }).models.list().catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(error.status).toBe(401);
    expect(await stack.events()).toMatchObject([{ status: 401, error_kind: 'auth', feature_id: stack.features[1].id, gateway_key_id: record.id, org_id: stack.orgs[1].id }]);
  });
});

describe('requests without a key Tallygate issued', () => {
  const metric = async (reason: string) => {
    const text = await (await fetch(`${stack.url}/metrics`)).text();
    return Number(new RegExp(`^tallygate_anonymous_requests_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
  };

  it('are answered 401 but counted per reason, on /metrics and the rate-limits API, with no ledger row', async () => {
    const before = { missing: await metric('missing_key'), malformed: await metric('malformed_key'), unknown: await metric('unknown_key') };
    const call = (apiKey: string) => new OpenAI({ baseURL: `${stack.url}/v1`, apiKey, maxRetries: 0 }).models.list().catch((e: unknown) => e);
    const unknown = `tg-${'A'.repeat(43)}`;
    const results = await Promise.all([call('tg-not-a-real-key-123456'), call('tg-not-a-real-key-123456'), call(unknown)]);
    for (const r of results) expect((r as InstanceType<typeof OpenAI.APIError>).status).toBe(401);
    const missing = await fetch(`${stack.url}/v1/models`);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('x-tallygate-event-id')).toBeNull(); // there is no row to point at

    expect(await stack.events()).toEqual([]);
    expect(await metric('malformed_key')).toBe(before.malformed + 2);
    expect(await metric('unknown_key')).toBe(before.unknown + 1);
    expect(await metric('missing_key')).toBe(before.missing + 1);

    await stack.app.get(AnonymousRequests).flush();
    const res = await fetch(`${stack.url}/api/throttling/anonymous`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).toBe(200);
    const { data } = (await res.json()) as { data: Array<{ minute: string; reason: string; requests: number }> };
    const total = (reason: string) => data.filter((d) => d.reason === reason).reduce((sum, d) => sum + d.requests, 0);
    expect(total('malformed_key')).toBeGreaterThanOrEqual(2);
    expect(total('unknown_key')).toBeGreaterThanOrEqual(1);
    expect(total('missing_key')).toBeGreaterThanOrEqual(1);
    expect(data.every((d) => new Date(d.minute).getUTCSeconds() === 0)).toBe(true);
  });
});

describe('malformed uploads', () => {
  it('a multipart upload without a boundary is a 400 in OpenAI shape, not a retryable 502, and is recorded', async () => {
    const res = await post('/audio/transcriptions', '--x\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--x--\r\n', { 'content-type': 'multipart/form-data' });
    expect(res.status).toBe(400);
    expect(res.headers.get('x-should-retry')).toBe('false');
    expect(((await res.json()) as ErrorBody).error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_multipart' });
    expect(await stack.events()).toMatchObject([{ status: 400, error_kind: 'invalid_request', feature_id: stack.features[0].id }]);
    expect(stack.sim.stats().totalRequests).toBe(0);
  });
});

describe('what is forwarded upstream', () => {
  it('only the allowlisted client headers reach OpenAI; hostile ones stay at the gateway', async () => {
    const res = await fetch(`${stack.url}/v1/models`, {
      headers: {
        authorization: `Bearer ${stack.features[0].gatewayKey}`,
        'api-key': 'sk-someone-elses-azure-key',
        'x-api-key': 'stolen',
        'x-forwarded-for': '203.0.113.7',
        'x-real-ip': '203.0.113.7',
        forwarded: 'for=203.0.113.7',
        cookie: 'session=abc',
        'x-tallygate-tag-team': 'search',
        'openai-beta': 'assistants=v2',
        'x-stainless-lang': 'js',
        'idempotency-key': 'stainless-node-retry-123',
        'user-agent': 'OpenAI/JS 6.0.0',
      },
    });
    expect(res.status).toBe(200);
    const received = stack.sim.received().at(-1)!;
    expect(received.url).toBe('/v1/models');
    for (const hostile of ['api-key', 'x-api-key', 'x-forwarded-for', 'x-real-ip', 'forwarded', 'cookie', 'x-tallygate-tag-team']) {
      expect(received.headers[hostile], hostile).toBeUndefined();
    }
    expect(received.headers).toMatchObject({
      authorization: `Bearer ${stack.orgs[0].upstreamKey}`,
      'openai-organization': stack.orgs[0].openaiOrgId,
      'openai-beta': 'assistants=v2',
      'x-stainless-lang': 'js',
      'idempotency-key': 'stainless-node-retry-123',
      'user-agent': 'OpenAI/JS 6.0.0',
    });
  });

  it('the SDK still gets everything it sends through (retry count, platform headers)', async () => {
    await stack.client().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    const received = stack.sim.received().at(-1)!;
    expect(received.headers['x-stainless-retry-count']).toBe('0');
    expect(received.headers['x-stainless-package-version']).toBeDefined();
    expect(received.headers['content-type']).toBe('application/json');
  });
});

describe('path parameters', () => {
  it('refuses an encoded .. in a model id with 400 in OpenAI shape, never forwarding it with the org key', async () => {
    const seen = stack.sim.received().length;
    const before = stack.sim.stats().totalRequests;
    // (`/v1/models/%2e%2e` never matches the route: Fastify's router answers 404 itself.)
    for (const path of ['/v1/models/..%2F..%2Fx', '/v1/models/gpt-4o%2F..%2F..%2Forganization%2Fusage', '/v1/models/a%00b', '/v1/models/gpt..4o']) {
      const res = await fetch(`${stack.url}${path}`, { headers: { authorization: `Bearer ${stack.features[0].gatewayKey}` } });
      expect(res.status, path).toBe(400);
      expect(((await res.json()) as ErrorBody).error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_path_parameter', param: 'model' });
    }
    expect(stack.sim.stats().totalRequests).toBe(before);
    expect(stack.sim.received().length).toBe(seen);
    expect(await stack.events()).toHaveLength(4);
  });

  it('still serves real model ids through the SDK, fine-tuned ones included', async () => {
    expect((await stack.client().models.retrieve('gpt-4o-mini')).id).toBe('gpt-4o-mini');
    const error = (await stack.client().models.retrieve('ft:gpt-4o-mini-2024-07-18:acme:support:9xYz').catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(error.status).toBe(404); // the simulator knows no such model: it reached the upstream
    expect(stack.sim.received().at(-1)!.url).toBe('/v1/models/ft:gpt-4o-mini-2024-07-18:acme:support:9xYz');
  });
});
