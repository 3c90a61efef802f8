// The API contract (server/contract) against the running app: every /api route Nest registers is in the
// contract with the same access rule, reads and status; /api/docs carries every route's schemas; and every
// route's real answer, as each role that may call it, is exactly what its response schema says (no field
// missing, none the schema does not know), with real traffic, throttling and a reconciliation sync behind it.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { UsersService } from '../../server/auth/users.service.js';
import { API_ROUTES, type Role } from '../../server/contract/index.js';
import { openApiPath } from '../../server/contract/openapi.js';
import { SyncService } from '../../server/reconciliation/sync.service.js';
import { HardBudgets } from '../../server/budgets/hard-budgets.js';
import { DeliveriesWorker } from '../../server/alerts/deliveries.worker.js';
import { ADMIN_TOKEN, startStack, type Stack, type StackOrg } from '../support/stack.js';
import { fastifyRoutes, nestRules, type RouteRule } from '../support/routes.js';

type Route = (typeof API_ROUTES)[number];
const NOT_NEST = /^\/api\/docs(\/|-|$)/;
const key = (method: string, path: string) => `${method} ${path}`;
const adminKeyOf = (org: StackOrg) => `sk-admin-${org.openaiOrgId}-0123456789abcdef`;

let stack: Stack;
let nest: RouteRule[];
const sessions = new Map<Role, { cookie: string; csrf: string }>();
const password = (role: Role) => `contract password for ${role}`;
/** Which routes were called and parsed, as whom. */
const checked = new Map<string, Set<string>>();

async function signIn(role: Role): Promise<{ cookie: string; csrf: string }> {
  const response = await fetch(`${stack.url}/api/auth/sign-in`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: `${role}@contract.test`, password: password(role) }),
  });
  const { csrfToken } = (await response.json()) as { csrfToken: string };
  return { cookie: response.headers.get('set-cookie')!.split(';')[0], csrf: csrfToken };
}

const routeNamed = (name: string): Route => {
  const route = API_ROUTES.find((r) => r.name === name);
  if (!route) throw new Error(`no contract route ${name}`);
  return route;
};

/**
 * Calls a contract route as `who` (a role's session, or the admin token) and checks the answer against the
 * route: its status, and for JSON that parsing with the response schema gives back the same document
 * (an unknown field would be stripped, a missing or mistyped one fails to parse).
 */
async function call(
  name: string,
  who: Role | 'admin-token',
  options: { params?: Record<string, string>; query?: Record<string, string>; body?: unknown; csv?: boolean } = {},
): Promise<unknown> {
  const route = routeNamed(name);
  const path = route.path.replace(/:([A-Za-z]+)/g, (_, p: string) => options.params?.[p] ?? '');
  const session = who === 'admin-token' ? undefined : sessions.get(who);
  const headers: Record<string, string> = session ? { cookie: session.cookie, 'x-csrf-token': session.csrf } : { authorization: `Bearer ${ADMIN_TOKEN}` };
  if (route.body) headers['content-type'] = 'application/json';
  const response = await fetch(`${stack.url}${path}${options.query ? `?${new URLSearchParams(options.query)}` : ''}`, {
    method: route.method,
    headers,
    body: route.body ? JSON.stringify(options.body ?? {}) : undefined,
  });
  const text = await response.text();
  const label = `${who} ${route.method} ${route.path}`;
  expect(response.status, `${label}: ${text.slice(0, 300)}`).toBe(route.status ?? 200);
  const type = response.headers.get('content-type') ?? '';
  let body: unknown = text;
  if (route.response === null) expect(text, label).toBe('');
  else if (options.csv || route.csv === 'only') {
    expect(type, label).toMatch(/^text\/csv/);
    expect(text.split('\r\n').length, label).toBeGreaterThan(1);
  } else {
    expect(type, label).toMatch(/^application\/json/);
    body = JSON.parse(text);
    expectShape(route.response, body, label);
  }
  (checked.get(name) ?? checked.set(name, new Set()).get(name)!).add(who === 'admin-token' ? 'admin' : who);
  return body;
}

function expectShape(schema: z.ZodType, body: unknown, label: string): void {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new Error(`${label}: the answer does not fit its contract: ${JSON.stringify(parsed.error.issues.slice(0, 5))}`);
  // Parsing drops fields the schema does not name: then the answer has fields the contract does not describe.
  expect(parsed.data, `${label}: fields the contract does not describe`).toEqual(body);
}

beforeAll(async () => {
  stack = await startStack({ env: { RECON_SYNC_INTERVAL_MS: '0', RECON_BACKFILL_DAYS: '2', BATCH_WATCH_INTERVAL_MS: '0' } });
  const users = stack.app.get(UsersService);
  for (const role of ['admin', 'finance', 'engineer'] as const) {
    await users.create({ email: `${role}@contract.test`, password: password(role), role, name: `Contract ${role}` });
    sessions.set(role, await signIn(role));
  }
  // Traffic, an org out of credit (429 quota, counted in throttling), a call without a key, and a
  // reconciliation sync, so every answer has rows to describe.
  for (const feature of stack.features.slice(0, 2)) {
    await stack.client(feature).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'contract' }] });
    await stack.client(feature).embeddings.create({ model: 'text-embedding-3-small', input: 'contract' });
  }
  await expect(stack.client(stack.features[2]).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'broke' }] })).rejects.toMatchObject({ status: 429 });
  await fetch(`${stack.url}/v1/models`).then((r) => r.arrayBuffer());
  const alpha = stack.orgs[0];
  stack.sim.setOrg({ id: alpha.openaiOrgId, keys: [alpha.upstreamKey], adminKeys: [adminKeyOf(alpha)] });
  await stack.orgsService.setAdminKey(alpha.id, adminKeyOf(alpha));
  await stack.ledger.flush();
  await stack.app.get(SyncService).syncOrg(alpha.id);
  nest = nestRules(stack.app);
}, 60_000);
afterAll(() => stack?.close());


/** The gateway records a batch's creator beside the create call, not before answering it: wait for that row. */
async function remembered(batchId: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await stack.db.query('SELECT 1 FROM batches WHERE id = $1', [batchId])).rowCount) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`batch ${batchId} not recorded within 5 s`);
}

describe('the contract covers the API the app serves', () => {
  it('every /api route Nest serves is in the contract with the same access rule, reads and status, and the other way round', () => {
    const served = fastifyRoutes(stack.app).filter((r) => r.path.startsWith('/api') && !NOT_NEST.test(r.path));
    expect(served.length).toBeGreaterThan(30);
    const contract = new Map(API_ROUTES.map((r) => [key(r.method, r.path), r]));
    const problems: string[] = [];
    for (const r of served) {
      const name = key(r.method, r.path);
      const route = contract.get(name);
      const rule = nest.find((n) => n.method === r.method && n.path === r.path);
      if (!route) {
        problems.push(`${name}: not in the contract (add it to server/contract/<area>.ts)`);
        continue;
      }
      if (!rule) continue; // the role matrix test reports routes outside Nest
      const roles = route.roles === 'public' ? 'public' : [...new Set(['admin', ...route.roles])].sort().join(',');
      const declared = rule.public ? 'public' : [...new Set(['admin', ...(rule.roles ?? [])])].sort().join(',');
      if (roles !== declared) problems.push(`${name}: contract roles ${roles}, controller ${declared}`);
      if (rule.readsBody !== Boolean(route.body)) problems.push(`${name}: the handler ${rule.readsBody ? 'reads a body the contract has no schema for' : 'reads no body'}`);
      if (rule.readsQuery !== Boolean(route.query)) problems.push(`${name}: the handler ${rule.readsQuery ? 'reads a query the contract has no schema for' : 'reads no query'}`);
      if (rule.status !== (route.status ?? 200)) problems.push(`${name}: answers ${rule.status}, the contract says ${route.status ?? 200}`);
      const params = [...r.path.matchAll(/:([A-Za-z]+)/g)].map((m) => m[1]).sort();
      if (params.join() !== Object.keys(route.params?.shape ?? {}).sort().join()) problems.push(`${name}: path parameters ${params} not all in the contract's params`);
    }
    for (const name of contract.keys()) if (!served.some((r) => key(r.method, r.path) === name)) problems.push(`${name}: in the contract but not served`);
    expect(problems).toEqual([]);
  });

  it('/api/docs has parameters, request body and response schemas for every /api route', async () => {
    const response = await fetch(`${stack.url}/api/docs/openapi.json`);
    expect(response.status).toBe(200);
    const doc = (await response.json()) as { paths: Record<string, Record<string, OpenApiOperation>> };
    const served = fastifyRoutes(stack.app).filter((r) => r.path.startsWith('/api') && !NOT_NEST.test(r.path));
    const problems: string[] = [];
    for (const r of served) {
      const name = key(r.method, r.path);
      const route = API_ROUTES.find((c) => key(c.method, c.path) === name);
      const op = doc.paths[openApiPath(r.path)]?.[r.method.toLowerCase()];
      if (!op || !route) {
        problems.push(`${name}: missing from /api/docs or the contract`);
        continue;
      }
      const status = String(route.status ?? 200);
      const answer = op.responses?.[status];
      if (!answer) problems.push(`${name}: no ${status} response`);
      else if (route.response !== null) {
        const schemas = Object.values(answer.content ?? {}).map((c) => c.schema);
        if (!schemas.length || schemas.some((s) => !s || Object.keys(s).length === 0)) problems.push(`${name}: response without a schema`);
      }
      if (!op.responses?.default?.content?.['application/json']?.schema) problems.push(`${name}: no error schema`);
      for (const [, param] of r.path.matchAll(/:([A-Za-z]+)/g)) {
        if (!op.parameters?.some((p) => p.in === 'path' && p.name === param && p.schema?.type)) problems.push(`${name}: path parameter ${param} has no schema`);
      }
      const rule = nest.find((n) => n.method === r.method && n.path === r.path);
      if (rule?.readsQuery && !op.parameters?.some((p) => p.in === 'query' && p.schema)) problems.push(`${name}: reads a query, documents none`);
      // An object body documents its properties; a union (a channel is a webhook, Slack or email) documents each branch's.
      const body = op.requestBody?.content?.['application/json']?.schema;
      const branches = body?.oneOf ?? body?.anyOf;
      const documented = Boolean(body?.properties) || Boolean(branches?.length && branches.every((b) => b.properties));
      if (rule?.readsBody && !documented) problems.push(`${name}: reads a body, documents no schema for it`);
      if (!op.summary) problems.push(`${name}: no summary`);
    }
    expect(problems).toEqual([]);
    // Not vacuous: the documented shapes are the contract's own.
    const usage = doc.paths['/api/analytics/usage'].get;
    expect(usage.parameters.map((p) => p.name)).toEqual(expect.arrayContaining(['from', 'to', 'tz', 'interval', 'groupBy', 'org', 'feature', 'model', 'family']));
    expect(usage.parameters.find((p) => p.name === 'from')?.required).toBe(true);
    const usageAnswer = usage.responses['200'].content!['application/json'].schema as { properties: Record<string, { properties?: Record<string, unknown> }> };
    expect(Object.keys(usageAnswer.properties.totals.properties ?? {})).toEqual(expect.arrayContaining(['requests', 'spendNanos', 'latencyMs']));
    const createUser = doc.paths['/api/admin/users'].post.requestBody!.content['application/json'].schema as { required: string[]; properties: Record<string, { enum?: string[] }> };
    expect(createUser.required).toEqual(expect.arrayContaining(['email', 'password', 'role']));
    expect(createUser.properties.role.enum).toEqual(['admin', 'finance', 'engineer']);
    expect(doc.paths['/api/admin/users/{id}'].delete.responses['200']).toBeDefined();
    expect(Object.keys(doc.paths['/api/analytics/statements'].get.responses['200'].content ?? {})).toEqual(['application/json', 'text/csv']);
  });
});

interface BodySchema {
  properties?: Record<string, unknown>;
  oneOf?: BodySchema[];
  anyOf?: BodySchema[];
}

interface OpenApiOperation {
  summary?: string;
  parameters: Array<{ name: string; in: string; required?: boolean; schema?: { type?: string } }>;
  requestBody?: { content: Record<string, { schema?: BodySchema }> };
  responses: Record<string, { content?: Record<string, { schema?: Record<string, unknown> }> }>;
}

describe('every answer is what the contract says, as each role', () => {
  const hour = 3_600_000;
  const range = () => {
    const now = Date.now();
    return { from: new Date(Math.floor(now / hour) * hour - hour).toISOString(), to: new Date(Math.floor(now / hour) * hour + hour).toISOString() };
  };
  const today = () => new Date().toISOString().slice(0, 10);

  it('reads: every GET route as every role that may call it', async () => {
    const alpha = stack.orgs[0];
    const month = today().slice(0, 7);
    const users = (await call('listUsers', 'admin')) as Array<{ id: string }>;
    const reads: Array<[string, Parameters<typeof call>[2]?]> = [
      ['me'],
      ['usage', { query: { ...range(), interval: 'hour', groupBy: 'feature,model' } }],
      ['usage', { query: range() }],
      ['spend', { query: { ...range(), interval: 'hour', groupBy: 'org' } }],
      ['catalog'],
      ['monthToDate'],
      ['statement', { query: { org: alpha.id, month } }],
      ['statement', { query: { org: alpha.id, month, format: 'csv' }, csv: true }],
      ['exportEvents', { query: range() }],
      ['report', { query: { from: today(), to: today() } }],
      ['exportCsv', { query: { from: today(), to: today() } }],
      ['keys', { query: { from: today(), to: today(), org: alpha.id } }],
      ['status'],
      ['latest'],
      ['closest', { query: { limit: '5' } }],
      ['series'],
      ['throttlingSeries'],
      ['throttlingErrors'],
      ['throttlingErrors', { query: range() }],
      ['anonymous'],
      ['throttlingSummary'],
      ['list', { query: { includeRetired: 'true' } }],
      ['listOrgs'],
      ['getOrg', { params: { id: alpha.id } }],
      ['listFeatures'],
      ['listGatewayKeys'],
      ['keyUsage'],
      ['listGatewayKeys', { query: { feature: stack.features[0].id } }],
      ['getUser', { params: { id: users[0].id } }],
      ['listApiTokens'],
      ['listAudit', { query: { limit: '50' } }],
      ['listAudit', { query: { action: 'org', actor: 'admin', target: alpha.name, signIns: 'include', from: range().from, to: range().to } }],
      ['moderationPolicies'],
      ['moderationPolicy', { params: { feature: stack.features[0].slug } }],
      ['moderationSummary', { query: range() }],
      ['listBatches'],
      ['realtimeActivity', { query: { from: today(), to: today() } }],
      ['listBudgets'],
      ['budgetFeatures', { query: { tz: 'Europe/Paris' } }],
      ['listAlerts'],
      ['listAlerts', { query: { state: 'firing', limit: '10' } }],
      ['alertRules'],
      ['featureHealth'],
      ['listAlertChannels'],
      ['listAlertDeliveries'],
      ['tagCatalog', { query: range() }],
      ['tagStatement', { query: { feature: stack.features[0].slug, month, tag: 'customer' } }],
      ['tagStatement', { query: { feature: stack.features[0].slug, month, tag: 'endUser', format: 'csv' }, csv: true }],
      ['listTags'],
      ['featureAttribution', { params: { id: stack.features[0].id } }],
    ];
    for (const [name, options] of reads) {
      const route = routeNamed(name);
      const roles: Role[] = route.roles === 'public' ? ['admin', 'finance', 'engineer'] : ['admin', ...route.roles.filter((r) => r !== 'admin')];
      for (const role of roles) await call(name, role, options);
    }
    // Not vacuous: the answers had rows in them.
    const usage = (await call('usage', 'finance', { query: { ...range(), interval: 'hour', groupBy: 'feature' } })) as { series: unknown[]; totals: { requests: number; spendNanos?: string } };
    expect(usage.series.length).toBeGreaterThan(0);
    expect(usage.totals.spendNanos).toMatch(/^\d+$/);
    expect(((await call('usage', 'engineer', { query: range() })) as { totals: { spendNanos?: string } }).totals.spendNanos).toBeUndefined();
    expect(((await call('latest', 'engineer')) as { data: unknown[] }).data.length).toBeGreaterThan(0);
    expect(((await call('throttlingSummary', 'engineer')) as { data: unknown[] }).data.length).toBeGreaterThan(0);
    expect(((await call('throttlingErrors', 'engineer', { query: range() })) as { data: unknown[] }).data.length).toBeGreaterThan(0);
    expect(((await call('keyUsage', 'admin')) as { upstreamKeys: unknown[] }).upstreamKeys.length).toBeGreaterThan(0);
    expect(((await call('report', 'finance', { query: { from: today(), to: today() } })) as { days: unknown[] }).days.length).toBeGreaterThan(0);
    expect(((await call('statement', 'finance', { query: { org: alpha.id, month } })) as { lines: unknown[] }).lines.length).toBeGreaterThan(0);
  }, 60_000);

  it('writes: every admin route, and sign-in and sign-out', async () => {
    const alpha = stack.orgs[0];
    const org = (await call('createOrg', 'admin', { body: { name: 'Contract org', openaiOrgId: 'org-contract', baseUrl: stack.sim.url, apiKey: 'sk-contract-0123456789', keyLabel: 'first' } })) as { id: string; upstreamKeys: Array<{ id: string }> };
    await call('updateOrg', 'admin', { params: { id: org.id }, body: { name: 'Contract org, renamed' } });
    const key = (await call('addUpstreamKey', 'admin-token', { params: { id: org.id }, body: { apiKey: 'sk-contract-second-0123456789', label: 'second' } })) as { id: string };
    await call('setUpstreamKeyOpenaiId', 'admin', { params: { id: org.id, keyId: key.id }, body: { openaiKeyId: 'key_contract' } });
    await call('revokeUpstreamKey', 'admin', { params: { id: org.id, keyId: key.id } });
    await call('setAdminKey', 'admin', { params: { id: org.id }, body: { adminKey: 'sk-admin-contract-0123456789' } });
    await call('getOrg', 'admin', { params: { id: org.id } });
    await call('removeAdminKey', 'admin', { params: { id: org.id } });
    const feature = (await call('createFeature', 'admin', { body: { slug: 'contract', name: 'Contract', defaultOrgId: org.id, grantedOrgIds: [alpha.id], monthlyBudgetUsd: 12.5 } })) as { id: string };
    await call('updateFeature', 'admin', { params: { id: feature.id }, body: { monthlyBudgetUsd: null } });
    const issued = (await call('issueGatewayKey', 'admin', { params: { id: feature.id }, body: { name: 'contract key' } })) as { record: { id: string } };
    await call('revokeGatewayKey', 'admin', { params: { id: issued.record.id } });
    const user = (await call('createUser', 'admin', { body: { email: 'Someone@Contract.test', password: 'a long enough password', role: 'finance' } })) as { id: string; email: string };
    expect(user.email).toBe('someone@contract.test');
    await call('updateUser', 'admin', { params: { id: user.id }, body: { role: 'engineer', name: 'Someone' } });
    await call('disableUser', 'admin', { params: { id: user.id } });
    const token = (await call('createApiToken', 'admin', { body: { name: 'sheet', role: 'finance', expiresInDays: 30 } })) as { record: { id: string } };
    await call('revokeApiToken', 'admin', { params: { id: token.record.id } });
    await call('add', 'admin', { body: { model: 'contract-model', effectiveFrom: '2025-01-01T00:00:00Z', prices: { inputPerMtok: '1.00', outputPerMtok: '2.00', perImage: { '1024x1024/hd': '0.08' } } } });
    await call('correct', 'admin', { body: { model: 'contract-model', from: '2025-01-01T00:00:00Z', to: '2025-02-01T00:00:00Z', prices: { inputPerMtok: '1.50', outputPerMtok: '2.00' }, reason: 'contract test' } });
    await call('list', 'finance', { query: { model: 'contract-model', includeRetired: 'true' } });
    await call('sync', 'admin', { body: { orgId: alpha.id } });
    await call('setModerationPolicy', 'admin', { params: { feature: stack.features[0].slug }, body: { preset: 'strict', thresholds: { violence: 0.3 }, guardrail: 'monitor' } });
    await call('removeModerationPolicy', 'admin', { params: { feature: stack.features[0].slug } });
    await call('declareTag', 'admin', { body: { name: 'customer', description: 'Who the call is for', maxValues: 500 } });
    await call('updateTag', 'admin', { params: { name: 'customer' }, body: { maxLength: 64 } });
    await call('setFeatureAttribution', 'admin', { params: { id: stack.features[0].slug }, body: { defaultTags: { customer: 'contract' }, requiredTags: ['customer'] } });
    await call('setFeatureAttribution', 'admin', { params: { id: stack.features[0].id }, body: {} });
    await call('removeTag', 'admin', { params: { name: 'customer' } });
    // A batch through the gateway (the watcher is off), metered by the admin trigger.
    const line = JSON.stringify({ custom_id: 'contract-1', method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'contract' }] } });
    const file = await stack.client(stack.features[0]).files.create({ file: await toFile(Buffer.from(`${line}\n`), 'contract.jsonl'), purpose: 'batch' });
    const batch = await stack.client(stack.features[0]).batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await remembered(batch.id);
    await call('meterBatch', 'admin', { params: { id: batch.id }, body: {} });
    await call('listAudit', 'admin');
    // Sign-in's answer, then sign-out as each role (last: it ends the sessions the other calls used).
    for (const role of ['finance', 'engineer', 'admin'] as const) {
      await call('signIn', role, { body: { email: `${role}@contract.test`, password: password(role) } });
      await call('signOut', role);
    }
  }, 60_000);

  it('writes: budgets, alert rules, alerts, channels and deliveries, and metering a batch, as admin', async () => {
    // The test before signed every role out: new sessions.
    for (const role of ['admin', 'finance', 'engineer'] as const) sessions.set(role, await signIn(role));
    const feature = stack.features[0];
    // A budget its feature's spend already crossed: evaluating fires its thresholds.
    const budget = (await call('createBudget', 'admin', { body: { name: 'contract budget', featureId: feature.id, amountUsd: '0.000000001', forecastPercent: null } })) as { id: string; spentNanos: string };
    expect(BigInt(budget.spentNanos)).toBeGreaterThan(0n);
    const updated = (await call('updateBudget', 'admin', { params: { id: budget.id }, body: { name: 'contract budget, renamed', thresholds: [50, 100] } })) as { name: string; thresholds: number[] };
    expect(updated).toMatchObject({ name: 'contract budget, renamed', thresholds: [50, 100] });
    await stack.app.get(HardBudgets).refresh();
    await call('updateAlertRule', 'admin', { params: { kind: 'error_rate' }, body: { enabled: true, params: { percent: 50, windowMinutes: 5, minRequests: 10 } } });
    const evaluated = (await call('evaluateAlerts', 'admin')) as { alerts: Array<{ id: string; subject: string }> };
    const alert = evaluated.alerts.find((a) => a.subject.startsWith(`budget:${budget.id}:`));
    expect(alert, JSON.stringify(evaluated.alerts.map((a) => a.subject))).toBeDefined();
    for (const role of ['admin', 'finance', 'engineer'] as const) await call('listAlerts', role, { query: { state: 'firing' } });
    const acked = (await call('acknowledgeAlert', 'admin', { params: { id: alert!.id } })) as { acknowledgedAt: string | null };
    expect(acked.acknowledgedAt).not.toBeNull();
    const until = new Date(Date.now() + 3_600_000).toISOString();
    const silenced = (await call('silenceAlert', 'admin', { params: { id: alert!.id }, body: { until } })) as { silencedUntil: string | null };
    expect(Date.parse(silenced.silencedUntil!)).toBe(Date.parse(until));
    await call('deleteBudget', 'admin', { params: { id: budget.id } });

    // A webhook channel pointing at a local receiver: created, renamed, tested (delivered), then deleted.
    const received: string[] = [];
    const receiver: Server = createServer((req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        received.push(text);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((done) => receiver.listen(0, '127.0.0.1', done));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      const channel = (await call('createAlertChannel', 'admin', { body: { kind: 'webhook', name: 'contract hook', url, secret: 'contract-secret-0123456789' } })) as { id: string };
      await call('updateAlertChannel', 'admin', { params: { id: channel.id }, body: { name: 'contract hook, renamed' } });
      const test = (await call('testAlertChannel', 'admin', { params: { id: channel.id } })) as { deliveryId: string };
      const deadline = Date.now() + 15_000;
      let delivery: { id: string; status: string } | undefined;
      while (Date.now() < deadline) {
        await stack.app.get(DeliveriesWorker).drain();
        const { deliveries } = (await call('listAlertDeliveries', 'admin', { query: { channel: channel.id } })) as { deliveries: Array<{ id: string; status: string }> };
        delivery = deliveries.find((d) => d.id === test.deliveryId);
        if (delivery?.status === 'delivered') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(delivery?.status).toBe('delivered');
      expect(received.some((b) => b.includes('"test"'))).toBe(true);
      for (const role of ['admin', 'finance', 'engineer'] as const) await call('listAlertDeliveries', role, { query: { channel: channel.id } });
      await call('deleteAlertChannel', 'admin', { params: { id: channel.id } });
    } finally {
      await new Promise((done) => receiver.close(done));
    }

    // A batch created through the gateway with the SDK, metered now by the admin trigger.
    const api = stack.client(feature);
    const line = JSON.stringify({ custom_id: 'c-1', method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'contract' }] } });
    const file = await api.files.create({ file: await toFile(Buffer.from(`${line}\n`), 'contract.jsonl'), purpose: 'batch' });
    const batch = await api.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await remembered(batch.id);
    const view = (await call('meterBatch', 'admin', { params: { id: batch.id }, body: {} })) as { id: string; requestTotal: number };
    expect(view.id).toBe(batch.id);
  }, 60_000);

  it('every route of the contract was called and its answer checked, as every role it names', () => {
    const missing: string[] = [];
    for (const route of API_ROUTES) {
      const roles = route.roles === 'public' ? ['finance', 'engineer', 'admin'] : ['admin', ...route.roles];
      for (const role of roles) if (!checked.get(route.name)?.has(role)) missing.push(`${route.method} ${route.path} as ${role}`);
    }
    expect(missing).toEqual([]);
  });
});

