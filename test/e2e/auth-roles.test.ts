// The role matrix: every /api route the router knows, called as anonymous, finance, engineer and
// admin. Routes come from Fastify's own route table, so a route added without a rule (or with a
// rule that breaks the policy below) fails here. Then every route an engineer may read is called as
// one, with real traffic in the ledger, and its answer searched for money (engineers see usage, not money).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../server/auth/roles.decorator.js';
import { UsersService } from '../../server/auth/users.service.js';
import { MONEY_FIELD, moneyKeys } from '../support/money.js';
import { fastifyRoutes, nestRules, type RouteRule } from '../support/routes.js';
import { startStack, type Stack } from '../support/stack.js';

type Who = 'anonymous' | Role;
const WHO: Who[] = ['anonymous', 'finance', 'engineer', 'admin'];

/**
 * What each part of the API may allow (admin may always; anonymous never unless public).
 * required: roles that must be declared; optional: roles a route may add. First matching prefix wins.
 */
interface Policy {
  prefix: string;
  public?: boolean;
  required?: Role[];
  optional?: Role[];
  /** Writes (non-GET) are admin-only under this prefix. */
  adminWrites?: boolean;
  /** Money routes never open to engineers. */
  noEngineerOn?: RegExp;
}
const MONEY = /spend|cost|statement|export|budget|forecast|invoice|month-to-date/i;
const POLICY: Policy[] = [
  { prefix: '/api/auth/sign-in', public: true },
  { prefix: '/api/auth/', required: ['finance', 'engineer'] },
  // Finance reads the price table its statements are computed from; only admins change it.
  { prefix: '/api/admin/prices', optional: ['finance'], adminWrites: true },
  { prefix: '/api/admin/', required: [] },
  { prefix: '/api/analytics/', optional: ['finance', 'engineer'], noEngineerOn: MONEY },
  { prefix: '/api/budgets', required: ['finance'], adminWrites: true, noEngineerOn: MONEY },
  // Everyone reads alerts, rules, channels, deliveries and feature health (no money in them for engineers); admins change them.
  { prefix: '/api/alerts', required: ['finance', 'engineer'], adminWrites: true },
  { prefix: '/api/headroom/', required: ['engineer'] },
  { prefix: '/api/throttling/', required: ['engineer'] },
  { prefix: '/api/latency', required: ['engineer'], optional: ['finance'] },
  { prefix: '/api/usage', optional: ['finance', 'engineer'] },
  // What content was flagged where: engineers and admins, never finance.
  { prefix: '/api/moderation/', required: ['engineer'] },
  // Batches with progress for everyone; their cost only for finance and admins (the answer drops it for engineers).
  { prefix: '/api/batches', required: ['finance', 'engineer'] },
  { prefix: '/api/prices', optional: ['finance', 'engineer'], adminWrites: true },
];
// Served by Fastify plugins, not Nest controllers: the public OpenAPI document and its UI (no data).
const NOT_NEST = /^\/api\/docs(\/|-|$)/;

/** Who the declared rule lets in. */
function allowedBy(rule: RouteRule): Set<Who> {
  if (rule.public) return new Set(WHO);
  return new Set<Who>(['admin', ...(rule.roles ?? [])]);
}

let stack: Stack;
let routes: RouteRule[];
const sessions = new Map<Who, { cookie: string; csrf: string }>();
const password = (role: Role) => `matrix password for ${role}`;

async function signIn(role: Role): Promise<{ cookie: string; csrf: string }> {
  const response = await fetch(`${stack.url}/api/auth/sign-in`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: `${role}@matrix.test`, password: password(role) }),
  });
  const { csrfToken } = (await response.json()) as { csrfToken: string };
  return { cookie: response.headers.get('set-cookie')!.split(';')[0], csrf: csrfToken };
}

beforeAll(async () => {
  stack = await startStack();
  const users = stack.app.get(UsersService);
  for (const role of ['admin', 'finance', 'engineer'] as const) {
    await users.create({ email: `${role}@matrix.test`, password: password(role), role });
    sessions.set(role, await signIn(role));
  }
  const nest = nestRules(stack.app);
  const table = fastifyRoutes(stack.app);
  routes = table
    .filter((r) => r.path.startsWith('/api') && !NOT_NEST.test(r.path))
    .map((r) => nest.find((n) => n.method === r.method && n.path === r.path) ?? { ...r, public: false, roles: undefined, readsBody: false, readsQuery: false, status: 0, unknown: true });
});
afterAll(() => stack?.close());

describe('role matrix', () => {
  it('finds the API routes in the router (sanity: the table is not empty)', () => {
    const paths = routes.map((r) => `${r.method} ${r.path}`);
    expect(paths).toContain('GET /api/admin/orgs');
    expect(paths).toContain('POST /api/auth/sign-in');
    expect(paths).toContain('DELETE /api/admin/users/:id');
    expect(routes.length).toBeGreaterThan(15);
  });

  it('every /api route is a guarded Nest route with an access rule that fits the policy', () => {
    const problems: string[] = [];
    for (const route of routes) {
      const name = `${route.method} ${route.path}`;
      if ('unknown' in route) {
        problems.push(`${name}: registered outside Nest controllers, so AccessGuard never sees it`);
        continue;
      }
      const policy = POLICY.find((p) => route.path === p.prefix || route.path.startsWith(p.prefix));
      if (!policy) {
        problems.push(`${name}: no entry in this test's POLICY table; add one for its prefix`);
        continue;
      }
      if (!route.public && !route.roles) problems.push(`${name}: no @Roles or @Public`);
      if (route.public !== Boolean(policy.public)) problems.push(`${name}: ${route.public ? 'public but policy says signed-in only' : 'must be @Public'}`);
      if (route.public) continue;
      const declared = new Set<Role>((route.roles ?? []).filter((r) => r !== 'admin'));
      const writes = route.method !== 'GET' && policy.adminWrites;
      for (const role of writes ? [] : (policy.required ?? [])) if (!declared.has(role)) problems.push(`${name}: must allow ${role}`);
      const permitted = new Set<Role>(writes ? [] : [...(policy.required ?? []), ...(policy.optional ?? [])]);
      for (const role of declared) if (!permitted.has(role)) problems.push(`${name}: must not allow ${role}`);
      if (policy.noEngineerOn?.test(route.path) && declared.has('engineer')) problems.push(`${name}: money data is not for engineers`);
    }
    expect(problems).toEqual([]);
  });

  it('the guard enforces the declared rule for anonymous, finance, engineer and admin on every route', async () => {
    const mismatches: string[] = [];
    // Sign-out last: it ends the session the other calls use.
    const ordered = [...routes].sort((a, b) => Number(a.path.endsWith('/sign-out')) - Number(b.path.endsWith('/sign-out')));
    for (const who of WHO) {
      for (const route of ordered) {
        if ('unknown' in route) continue;
        const session = sessions.get(who);
        const url = stack.url + route.path.replace(/:[A-Za-z]+/g, '00000000-0000-4000-8000-000000000000');
        const write = route.method !== 'GET';
        const response = await fetch(url, {
          method: route.method,
          headers: {
            ...(session ? { cookie: session.cookie, 'x-csrf-token': session.csrf } : {}),
            ...(write ? { 'content-type': 'application/json' } : {}),
          },
          body: write ? '{}' : undefined,
        });
        await response.arrayBuffer();
        const allowed = allowedBy(route).has(who);
        const expected = allowed ? 'allowed' : who === 'anonymous' ? '401' : '403';
        const got = response.status === 401 ? '401' : response.status === 403 ? '403' : response.status >= 500 ? `error ${response.status}` : 'allowed';
        if (got !== expected) mismatches.push(`${who} ${route.method} ${route.path}: expected ${expected}, got ${response.status}`);
      }
    }
    expect(mismatches).toEqual([]);
  });
});

/** What an engineer's GET needs to answer with data; a route missing here that answers 400 fails. */
const QUERY: Record<string, Record<string, string>> = {
  '/api/analytics/usage': { from: '', to: '', interval: 'hour', groupBy: 'feature,model' },
  '/api/moderation/summary': { from: '', to: '' },
  '/api/analytics/realtime': { from: new Date(Date.now() - 86_400_000).toISOString().slice(0, 10), to: new Date(Date.now() + 86_400_000).toISOString().slice(0, 10) },
  '/api/analytics/tags': { from: '2025-01-01', to: '2025-02-01' },
};

describe('engineers see usage, not money', () => {
  it('no route an engineer may call answers a money field (JSON, recursively, or CSV columns), with real spend in the ledger', async () => {
    // Real calls through the gateway: the ledger and rollups have spend, headroom and throttling.
    for (const feature of stack.features.slice(0, 2)) {
      await stack.client(feature).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'money?' }] });
    }
    await stack.events();
    const hour = 3_600_000;
    const now = Date.now();
    QUERY['/api/analytics/usage'].from = new Date(Math.floor(now / hour) * hour - hour).toISOString();
    QUERY['/api/analytics/usage'].to = new Date(Math.floor(now / hour) * hour + hour).toISOString();
    QUERY['/api/moderation/summary'].from = QUERY['/api/analytics/usage'].from;
    QUERY['/api/moderation/summary'].to = QUERY['/api/analytics/usage'].to;

    const call = async (role: Role, path: string) => {
      const session = await signIn(role);
      // Path parameters get a real value (a feature's slug), so the route answers rather than 404s.
      const url = path.replace(':feature', stack.features[0].slug);
      const response = await fetch(`${stack.url}${url}?${new URLSearchParams(QUERY[path] ?? {})}`, { headers: { cookie: session.cookie } });
      const text = await response.text();
      const json = (response.headers.get('content-type') ?? '').includes('json');
      const found = json ? moneyKeys(JSON.parse(text)) : text.split('\n')[0].split(',').filter((column) => MONEY_FIELD.test(column));
      return { status: response.status, found, text };
    };
    const engineerRoutes = routes.filter((r) => r.method === 'GET' && !('unknown' in r) && allowedBy(r).has('engineer'));
    const problems: string[] = [];
    for (const route of engineerRoutes) {
      const answer = await call('engineer', route.path);
      if (answer.status !== 200) problems.push(`${route.path}: ${answer.status} ${answer.text.slice(0, 200)} (add its query to QUERY)`);
      else if (answer.found.length) problems.push(`${route.path}: ${answer.found.slice(0, 5).join(', ')}`);
    }
    expect(problems).toEqual([]);
    // Not vacuous: the routes an engineer reads data from were called, and the same answer has money for finance.
    expect(engineerRoutes.map((r) => r.path)).toEqual(expect.arrayContaining(['/api/analytics/usage', '/api/analytics/tags', '/api/headroom/latest', '/api/throttling/summary']));
    const forFinance = await call('finance', '/api/analytics/usage');
    expect(forFinance.found).toEqual(expect.arrayContaining(['.totals.spendNanos']));
    const engineer = JSON.parse((await call('engineer', '/api/analytics/usage')).text) as { totals: { requests: number }; series: unknown[] };
    expect(engineer.totals.requests).toBe(2);
    expect(engineer.series.length).toBeGreaterThan(0);
  });
});
