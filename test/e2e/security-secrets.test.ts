// Runs traffic and admin actions, then scans everything the gateway logged, every response it
// sent and every row of every table for an upstream key, gateway key or API token in clear.
import { Writable } from 'node:stream';
import OpenAI from 'openai';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { ADMIN_TOKEN, startStack, type Stack } from '../support/stack.js';

const logged: string[] = [];
// Keep the app's real logger (its redaction, its hooks); only its output lands here instead of stdout.
vi.mock('pino', async (importOriginal) => {
  const real = await importOriginal<typeof import('pino')>();
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logged.push(chunk.toString());
      done();
    },
  });
  const pino = ((options: Parameters<typeof real.default>[0]) => real.default(options, sink)) as unknown as typeof real.default;
  return { ...real, default: Object.assign(pino, real.default) };
});

let stack: Stack;
const responses: Array<{ what: string; text: string }> = [];
/** Secrets that were legitimately shown once, with the response that showed them. */
const shownOnce = new Map<string, string>();

beforeAll(async () => {
  // trace: per-request logs included, the most a misconfigured operator could log.
  stack = await startStack({ env: { LOG_LEVEL: 'trace' } });
});
afterAll(() => stack?.close());

const recordingFetch: typeof fetch = async (input, init) => {
  const response = await fetch(input, init);
  const text = await response.clone().text();
  responses.push({ what: `${init?.method ?? 'GET'} ${String(input)}`, text: `${JSON.stringify([...response.headers])}\n${text}` });
  return response;
};

async function admin(method: string, path: string, body?: unknown): Promise<Record<string, any>> {
  const response = await recordingFetch(`${stack.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return (await response.json()) as Record<string, any>;
}

it('never shows an upstream key, gateway key or API token in clear in logs, responses or the database', async () => {
  const client = (key: string) => new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: key, maxRetries: 0, fetch: recordingFetch });
  const [alpha] = stack.features;

  // Traffic: plain, streamed, embeddings, models, and the failures that tend to echo keys.
  await client(alpha.gatewayKey).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });
  const stream = await client(alpha.gatewayKey).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'stream' }], stream: true });
  for await (const _ of stream);
  await client(alpha.gatewayKey).embeddings.create({ model: 'text-embedding-3-small', input: 'embed me' });
  await client(alpha.gatewayKey).models.list();
  await client(stack.features[2].gatewayKey).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'no credit' }] }).catch(() => undefined);
  await client(`${alpha.gatewayKey}x`).models.list().catch(() => undefined); // a mistyped gateway key
  await client(stack.orgs[0].upstreamKey).models.list().catch(() => undefined); // an OpenAI key sent to the gateway by mistake

  // Admin actions: an org whose key the upstream rejects, a rotation, key issuance and revocation.
  const wrongKey = 'sk-wrong-upstream-key-3f9a7c2e5d1b';
  const rotatedKey = `sk-test-rotated-${Date.now()}-9e8d7c6b5a`;
  const org = await admin('POST', '/api/admin/orgs', { name: 'misconfigured', openaiOrgId: 'org-alpha-misconfigured', baseUrl: stack.sim.url, apiKey: wrongKey });
  const feature = await admin('POST', '/api/admin/features', { slug: 'misconfigured', name: 'Misconfigured', defaultOrgId: org.id });
  const issued = await admin('POST', `/api/admin/features/${feature.id}/gateway-keys`, { name: 'scan' });
  shownOnce.set(issued.key, responses.at(-1)!.text);
  await client(issued.key).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'rejected upstream' }] }).catch(() => undefined);
  stack.sim.setOrg({ id: 'org-alpha', keys: [stack.orgs[0].upstreamKey, rotatedKey] });
  const added = await admin('POST', `/api/admin/orgs/${stack.orgs[0].id}/keys`, { apiKey: rotatedKey, label: 'rotated' });
  await client(alpha.gatewayKey).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'after rotation' }] });
  const oldKeyId = (await admin('GET', `/api/admin/orgs/${stack.orgs[0].id}`)).upstreamKeys.find((k: { id: string }) => k.id !== added.id).id;
  await admin('DELETE', `/api/admin/orgs/${stack.orgs[0].id}/keys/${oldKeyId}`);
  await admin('POST', '/api/admin/orgs', { name: 'bad', openaiOrgId: 'not-an-org', apiKey: 'sk-in-a-rejected-form-0123456789' });
  const token = await admin('POST', '/api/admin/api-tokens', { name: 'sheet', role: 'finance', expiresInDays: 7 });
  shownOnce.set(token.token, responses.at(-1)!.text);
  await admin('GET', '/api/admin/orgs');
  await admin('GET', '/api/admin/gateway-keys');
  await admin('GET', '/api/admin/api-tokens');
  await admin('GET', '/api/admin/audit');
  await admin('DELETE', `/api/admin/gateway-keys/${issued.record.id}`);
  await stack.ledger.flush();

  const secrets = [
    ...stack.orgs.map((o) => o.upstreamKey),
    ...stack.features.map((f) => f.gatewayKey),
    wrongKey,
    rotatedKey,
    'sk-in-a-rejected-form-0123456789',
    issued.key as string,
    token.token as string,
    ADMIN_TOKEN,
  ];

  const tables = (await stack.db.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'usage_events_%'`)).rows as Array<{ tablename: string }>;
  const database: Array<{ what: string; text: string }> = [];
  for (const { tablename } of tables) {
    const rows = (await stack.db.query(`SELECT row_to_json(t)::text AS row FROM "${tablename}" t`)).rows as Array<{ row: string }>;
    database.push(...rows.map((r) => ({ what: `table ${tablename}`, text: r.row })));
  }
  expect(tables.map((t) => t.tablename)).toEqual(expect.arrayContaining(['upstream_keys', 'gateway_keys', 'usage_events', 'audit_log', 'api_tokens']));
  expect(database.length).toBeGreaterThan(20);
  expect(logged.length).toBeGreaterThan(10); // the capture works: request logs at trace
  expect(responses.length).toBeGreaterThan(20);

  const leaks: string[] = [];
  const haystacks = [...logged.map((text) => ({ what: 'log', text })), ...responses, ...database];
  for (const secret of secrets) {
    // The random part alone too: a leak with the prefix stripped is still a leak.
    const needles = [secret, secret.replace(/^(sk-|tg-|tga-)/, '')];
    for (const { what, text } of haystacks) {
      if (shownOnce.get(secret) === text) continue;
      if (needles.some((n) => text.includes(n))) leaks.push(`${secret.slice(0, 6)}… in ${what}: ${text.slice(0, 200)}`);
    }
  }
  expect(leaks).toEqual([]);
  // And the masked forms are what admins see instead.
  expect(JSON.stringify(await admin('GET', `/api/admin/orgs/${stack.orgs[0].id}`))).toContain(`sk-…${rotatedKey.slice(-4)}`);
});
