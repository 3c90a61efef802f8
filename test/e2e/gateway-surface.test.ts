// The rest of OpenAI's /v1 surface through the gateway: resource routes forwarded under their
// template's name, unknown paths under `other`, traversal refused before anything is sent, resource
// calls recorded as not metered per call, 512 MB-class files streamed both ways, and background
// responses billed once, to the feature that created them.
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { UsageReport } from '../../server/analytics/analytics.service.js';
import { BackgroundResponses } from '../../server/gateway/background-responses.js';
import { withToolCalls } from '../../server/gateway/meters/tool-calls.js';
import { usageFrom } from '../../server/gateway/usage-meter.js';
import { PricingService } from '../../server/pricing/pricing.service.js';
import { getJson } from './analytics-fixtures.js';
import { fileRoundTrip } from '../support/file-round-trip.js';
import { startStack, type Stack, type StackFeature } from '../support/stack.js';

let stack: Stack;
/** A second feature on the first org: another team reading what the first one created. */
let other: StackFeature;
beforeAll(async () => {
  // Phases long enough that a cancel lands while a response runs, on a busy machine too.
  stack = await startStack({ simulator: { jobPhaseMs: 400 } });
  const feature = await stack.orgsService.createFeature({ slug: 'feature-reader', name: 'Reader', defaultOrgId: stack.orgs[0].id, grantedOrgIds: [] });
  other = { id: feature.id, slug: feature.slug, gatewayKey: (await stack.orgsService.issueGatewayKey(feature.id, 'reader')).key };
});
afterAll(() => stack?.close());
/** What the simulator received before the test (its ring of the latest requests is never emptied). */
let seenBefore: object[] = [];
beforeEach(async () => {
  await stack.resetUsage();
  seenBefore = stack.sim.received();
});
/** The requests the simulator received during this test, oldest first. */
const received = () => stack.sim.received().filter((r) => !seenBefore.includes(r));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/**
 * The ledger once it holds `count` rows: a call that shows a background response's usage queues its
 * row after the claim in Postgres, so just after the client got its answer.
 */
async function eventsOnce(count: number): Promise<Record<string, unknown>[]> {
  for (let i = 0; ; i++) {
    const events = await stack.events();
    if (events.length >= count || i > 100) return events;
    await sleep(20);
  }
}
type ErrorBody = { error: { message: string; type: string; param: string | null; code: string | null } };

/** A request with its path sent byte for byte (fetch would resolve `..` itself). */
function rawRequest(method: string, path: string, key: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(stack.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, method, path, headers: { authorization: `Bearer ${key}`, ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        req.destroy(); // an upload refused from its headers is never finished from this side
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', reject);
    // A declared body is never sent: the answer must come from the headers.
    if (headers['content-length']) req.flushHeaders();
    else req.end();
  });
}

describe('the rest of the surface, forwarded', () => {
  it('resource calls are forwarded with the org key and recorded under their template, not metered per call', async () => {
    const client = stack.client();
    const file = await client.files.create({ file: await toFile(Buffer.from('tide tables'), 'notes.txt'), purpose: 'assistants' });
    expect((await client.files.retrieve(file.id)).bytes).toBe(11);
    expect(await (await client.files.content(file.id)).text()).toBe('tide tables');
    const store = await client.vectorStores.create({ name: 'docs' });
    expect((await client.vectorStores.delete(store.id)).deleted).toBe(true);
    expect((await client.files.delete(file.id)).deleted).toBe(true);

    const sent = received().filter((r) => r.url.startsWith('/v1/files') || r.url.startsWith('/v1/vector_stores'));
    expect(sent.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /v1/files',
      `GET /v1/files/${file.id}`,
      `GET /v1/files/${file.id}/content`,
      'POST /v1/vector_stores',
      `DELETE /v1/vector_stores/${store.id}`,
      `DELETE /v1/files/${file.id}`,
    ]);
    for (const r of sent) {
      expect(r.headers.authorization).toBe(`Bearer ${stack.orgs[0].upstreamKey}`);
      expect(r.headers['openai-organization']).toBe(stack.orgs[0].openaiOrgId);
    }
    const events = await stack.events();
    expect(events.map((e) => e.endpoint)).toEqual(['files.create', 'files.retrieve', 'files.content', 'vector_stores.create', 'vector_stores.delete', 'files.delete']);
    for (const e of events) {
      // Not $0 (cost_nanos '0') and not unpriced: a NULL cost said to be not metered per call.
      expect(e).toMatchObject({ status: 200, outcome: 'ok', usage_source: 'not_metered', cost_nanos: null, feature_id: stack.features[0].id, org_id: stack.orgs[0].id });
    }
    // The rollups the dashboard reads do not count them as unpriced spend.
    const { rows } = await stack.db.query(`SELECT sum(requests)::int AS requests, sum(unpriced_requests)::int AS unpriced FROM usage_hourly WHERE endpoint LIKE 'files.%' OR endpoint LIKE 'vector_stores.%'`);
    expect(rows[0]).toEqual({ requests: 6, unpriced: 0 });
    // And the analytics API (the dashboard's spend views) names them.
    const from = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const to = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const report = await getJson<UsageReport>(stack, `/api/analytics/usage?from=${from}&to=${to}&groupBy=endpoint`);
    expect(report.totals).toMatchObject({ requests: 6, unpricedRequests: 0, notMeteredRequests: 6, spendNanos: '0' });
  });

  it('an unknown path under /v1 is still forwarded, under `other`, with a row', async () => {
    const client = stack.client();
    const error = (await client.post('/brand_new_things', { body: { a: 1 } }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(error.status).toBe(404); // the simulator does not know it either: OpenAI's answer, relayed
    await client.get('/brand_new_things/thing_1?limit=2').catch(() => undefined);
    expect(received().map((r) => `${r.method} ${r.url}`)).toEqual(['POST /v1/brand_new_things', 'GET /v1/brand_new_things/thing_1?limit=2']);
    expect((await stack.events()).map((e) => [e.endpoint, e.status, e.feature_id])).toEqual([
      ['other', 404, stack.features[0].id],
      ['other', 404, stack.features[0].id],
    ]);
  });

  it('encoded or dot-segment traversal is refused with 400 and never reaches the upstream', async () => {
    const key = stack.features[0].gatewayKey;
    const tricks = [
      '/v1/files/%2e%2e/%2e%2e/admin',
      '/v1/files/..%2f..%2fdashboard',
      '/v1/files/abc%2Fcontent',
      '/v1/%2e%2e/api/orgs',
      '/v1/files/../../api/orgs',
      '/v1/vector_stores/vs_1/files/./x',
      '/v1/files//content',
      '/v1/files/file_1%00',
    ];
    for (const path of tricks) {
      const res = await rawRequest('GET', path, key);
      expect(res.status, path).toBe(400);
      expect((JSON.parse(res.body) as ErrorBody).error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_path' });
    }
    expect(received()).toEqual([]);
    const events = await stack.events();
    expect(events).toHaveLength(tricks.length);
    expect(events.every((e) => e.status === 400 && e.error_code === 'invalid_path' && e.cost_nanos === '0')).toBe(true);
  });

  it('the header allowlist holds on resource routes: cookies, api-key and proxies stay at the gateway', async () => {
    const res = await fetch(`${stack.url}/v1/files`, {
      headers: { authorization: `Bearer ${stack.features[0].gatewayKey}`, cookie: 'session=secret', 'api-key': 'sk-leak', 'x-forwarded-for': '10.0.0.1', 'openai-beta': 'assistants=v2' },
    });
    expect(res.status).toBe(200);
    const [sent] = received();
    expect(sent?.headers.cookie).toBeUndefined();
    expect(sent?.headers['api-key']).toBeUndefined();
    expect(sent?.headers['x-forwarded-for']).toBeUndefined();
    expect(sent?.headers['openai-beta']).toBe('assistants=v2');
  });

  it('an upload over FILE_LIMIT_BYTES is refused before it is sent', async () => {
    // The headers alone: the gateway must answer from Content-Length, without reading 600 MB.
    const res = await rawRequest('POST', '/v1/files', stack.features[0].gatewayKey, { 'content-type': 'multipart/form-data; boundary=x', 'content-length': String(600 * 1024 * 1024) });
    expect(res.status).toBe(413);
    expect((JSON.parse(res.body) as ErrorBody).error).toMatchObject({ code: 'request_too_large', message: expect.stringMatching(/FILE_LIMIT_BYTES/) });
    expect(received()).toEqual([]);
    expect(await stack.events()).toMatchObject([{ endpoint: 'files.create', status: 413, cost_nanos: '0' }]);
  });
});

describe('files through the gateway, streamed both ways', () => {
  const roundTrip = (mb: number) => fileRoundTrip({ baseURL: `${stack.url}/v1`, key: stack.features[0].gatewayKey, client: stack.client() }, mb);

  it('a 100 MB file goes up and comes back through the gateway without the gateway holding it', async () => {
    // The first transfer loads code and grows the allocator's pools; that is not the file.
    await roundTrip(16);
    await stack.resetUsage();
    const { peakGrowth } = await roundTrip(100);
    // The gateway and the simulator both run in this process: had either held the upload or the
    // download, RSS would have grown by 100 MB or more.
    expect(peakGrowth).toBeLessThan(80 * 1024 * 1024);
    expect((await stack.events()).map((e) => [e.endpoint, e.status, e.usage_source])).toEqual([
      ['files.create', 200, 'not_metered'],
      ['files.retrieve', 200, 'not_metered'],
      ['files.content', 200, 'not_metered'],
      ['files.delete', 200, 'not_metered'],
    ]);
  }, 120_000);
});

describe('responses by id and background responses', () => {
  const priceOf = (model: string, usage: unknown, at: Date) => {
    const metered = usageFrom(usage);
    if (!metered) throw new Error('no usage');
    return stack.app.get(PricingService).price(model, undefined, at, metered).costNanos?.toString();
  };

  async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
    for (let i = 0; ; i++) {
      const value = await read();
      if (done(value) || i > 200) return value;
      await sleep(25);
    }
  }

  it('created with key A and retrieved three times with key B: billed once, to A, on the retrieve that first shows usage', async () => {
    const a = stack.client();
    const b = stack.client(other);
    const queued = await a.responses.create({ model: 'gpt-4.1-mini', input: 'Summarise the tide tables', background: true });
    expect(queued.status).toBe('queued');
    const done = await until(() => b.responses.retrieve(queued.id), (r) => r.status === 'completed');
    expect(done.usage?.output_tokens).toBeGreaterThan(0);
    await b.responses.retrieve(queued.id);
    await b.responses.retrieve(queued.id);
    await b.responses.retrieve(queued.id);

    const retrieved = received().filter((r) => r.method === 'GET').length;
    const events = await eventsOnce(1 + retrieved);
    const create = events[0]!;
    // The create: answered queued, no usage yet, cost 0 pending (not unpriced).
    expect(create).toMatchObject({ endpoint: 'responses', feature_id: stack.features[0].id, cost_nanos: '0', usage_source: 'none', output_tokens: 0 });
    const retrieves = events.slice(1);
    expect(retrieves.every((e) => e.endpoint === 'responses.retrieve')).toBe(true);
    const billed = retrieves.filter((e) => e.cost_nanos !== '0');
    expect(billed).toHaveLength(1);
    expect(billed[0]).toMatchObject({
      feature_id: stack.features[0].id,
      gateway_key_id: create.gateway_key_id,
      org_id: stack.orgs[0].id,
      output_tokens: done.usage?.output_tokens,
      usage_source: 'reported',
      cost_nanos: priceOf('gpt-4.1-mini', done.usage, billed[0]!.created_at as Date),
    });
    // Every other retrieve by B: no usage, no cost, under B.
    for (const e of retrieves.filter((r) => r !== billed[0])) expect(e).toMatchObject({ feature_id: other.id, cost_nanos: '0', output_tokens: 0 });
    const total = events.reduce((sum, e) => sum + BigInt((e.cost_nanos as string | null) ?? 0), 0n);
    expect(total.toString()).toBe(billed[0]!.cost_nanos);
    // The claim is in Postgres: another replica, or this one restarted, cannot bill it again.
    const { rows } = await stack.db.query('SELECT feature_id, billed_event_id FROM background_responses WHERE response_id = $1', [queued.id]);
    expect(rows).toEqual([{ feature_id: stack.features[0].id, billed_event_id: billed[0]!.id }]);
    expect(await stack.app.get(BackgroundResponses).claim(queued.id, randomUUID(), { orgId: stack.orgs[0].id, featureId: other.id, gatewayKeyId: null }, null)).toBeNull();
  });

  it('a background response that searched the web is billed its tool fee once, by the call that claims it', async () => {
    const queued = await stack.client().responses.create({ model: 'gpt-4.1-mini', input: 'Search the tide tables', background: true, tools: [{ type: 'web_search' }] });
    const done = await until(() => stack.client(other).responses.retrieve(queued.id), (r) => r.status === 'completed');
    expect(done.output.filter((item) => item.type === 'web_search_call')).toHaveLength(1);
    const retrieved = received().filter((r) => r.method === 'GET').length;
    const billed = (await eventsOnce(1 + retrieved)).filter((e) => e.cost_nanos !== '0');
    expect(billed).toHaveLength(1);
    expect(billed[0]).toMatchObject({ endpoint: 'responses.retrieve', feature_id: stack.features[0].id, web_search_calls: 1 });
    const usage = withToolCalls(usageFrom(done.usage)!, { web_search: 1, file_search: 0 }, undefined);
    const expected = stack.app.get(PricingService).price('gpt-4.1-mini', undefined, billed[0]!.created_at as Date, usage).costNanos;
    expect(billed[0]!.cost_nanos).toBe(expected?.toString());
    expect(BigInt(billed[0]!.cost_nanos as string)).toBeGreaterThan(BigInt(priceOf('gpt-4.1-mini', done.usage, billed[0]!.created_at as Date)!));
  });

  it('a cancelled background response is billed for what OpenAI reports, to its creator; retrieve, delete and input items work', async () => {
    const a = stack.client();
    const b = stack.client(other);
    const running = await a.responses.create({ model: 'gpt-4.1-mini', input: 'A long job', background: true });
    await until(() => a.responses.retrieve(running.id), (r) => r.status === 'in_progress');
    const cancelled = await b.responses.cancel(running.id);
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.usage?.input_tokens).toBeGreaterThan(0);
    await b.responses.retrieve(running.id);

    const plain = await a.responses.create({ model: 'gpt-4.1-mini', input: 'Hello' });
    expect((await b.responses.retrieve(plain.id)).usage).toEqual(plain.usage);
    expect((await collectAll(b.responses.inputItems.list(plain.id))).length).toBeGreaterThan(0);
    await b.responses.delete(plain.id);

    const events = await eventsOnce(received().length);
    const cancel = events.find((e) => e.endpoint === 'responses.cancel');
    expect(cancel).toMatchObject({ feature_id: stack.features[0].id, input_tokens: cancelled.usage?.input_tokens, cost_nanos: priceOf('gpt-4.1-mini', cancelled.usage, cancel!.created_at as Date) });
    const byName = (name: string) => events.filter((e) => e.endpoint === name);
    // The plain response was billed when created; retrieving it does not bill again.
    expect(byName('responses').map((e) => e.cost_nanos === '0')).toEqual([true, false]);
    expect(byName('responses.retrieve').every((e) => e.cost_nanos === '0')).toBe(true);
    expect(byName('responses.input_items')).toMatchObject([{ usage_source: 'not_metered', cost_nanos: null }]);
    expect(byName('responses.delete')).toMatchObject([{ usage_source: 'not_metered', cost_nanos: null, status: 200 }]);
  });

  it('a background response streamed to its end is billed once, by the stream; a later retrieve does not bill again', async () => {
    const a = stack.client();
    const queued = await a.responses.create({ model: 'gpt-4.1-mini', input: 'Stream me later', background: true });
    let usage: unknown;
    for await (const event of await stack.client(other).responses.retrieve(queued.id, { stream: true })) {
      if (event.type === 'response.completed') usage = event.response.usage;
    }
    expect(usage).toBeTruthy();
    await stack.client(other).responses.retrieve(queued.id);
    const events = (await eventsOnce(3)).filter((e) => e.endpoint === 'responses.retrieve');
    expect(events.map((e) => [e.streamed, e.cost_nanos === '0', e.feature_id])).toEqual([
      [true, false, stack.features[0].id],
      [false, true, other.id],
    ]);

    // Created streamed: the create's own stream reaches the usage first and bills it, once.
    await stack.resetUsage();
    let id = '';
    for await (const event of await a.responses.create({ model: 'gpt-4.1-mini', input: 'Stream me now', background: true, stream: true })) {
      if (event.type === 'response.completed') id = event.response.id;
    }
    expect(id).not.toBe('');
    await stack.client(other).responses.retrieve(id);
    const streamed = await eventsOnce(2);
    expect(streamed.map((e) => [e.endpoint, e.cost_nanos === '0', e.feature_id])).toEqual([
      ['responses', false, stack.features[0].id],
      ['responses.retrieve', true, other.id],
    ]);
  });
});

async function collectAll<T>(page: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of page) items.push(item);
  return items;
}
