// Hostile input against the analytics filters and the admin forms: SQL fragments, huge and
// malformed values, path traversal and header injection must answer 4xx and change nothing.
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startStack, type Stack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
  // Some ledger rows, so a filter that leaked past validation would have something to return.
  await stack.client().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'seed' }] });
  await stack.ledger.flush();
});
afterAll(() => stack?.close());

const SQL = [`' OR '1'='1`, `1; DROP TABLE users;--`, `x' UNION SELECT password_hash FROM users--`, `$$; DELETE FROM orgs; $$`];
const HUGE = 'A'.repeat(20_000);
const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

/** A digest of every row of every table: "changes nothing" means this stays the same. */
async function databaseState(): Promise<string> {
  const tables = (await stack.db.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`)).rows as Array<{ tablename: string }>;
  const hash = createHash('sha256');
  for (const { tablename } of tables) {
    const { rows } = await stack.db.query(`SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS h, count(*) AS n FROM "${tablename}" t`);
    hash.update(`${tablename}:${rows[0].n}:${rows[0].h};`);
  }
  return hash.digest('hex');
}

/** A raw request: no URL normalisation by the client, so `..` and odd bytes reach the server as sent. */
function raw(method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(stack.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, method, path, headers: { ...auth, ...headers } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
const json = (method: string, path: string, body: unknown) => raw(method, path, { 'content-type': 'application/json' }, typeof body === 'string' ? body : JSON.stringify(body));
const q = (params: Record<string, string>) => new URLSearchParams(params).toString();

describe('analytics filters', () => {
  const range = { from: '2025-01-01', to: '2025-02-01' };
  const cases: Array<[string, string]> = [
    ...SQL.flatMap((s): Array<[string, string]> => [
      [`usage org=${s}`, `/api/analytics/usage?${q({ ...range, org: s })}`],
      [`usage from=${s}`, `/api/analytics/usage?${q({ ...range, from: s })}`],
      [`usage groupBy=${s}`, `/api/analytics/usage?${q({ ...range, groupBy: s })}`],
      [`usage interval=${s}`, `/api/analytics/usage?${q({ ...range, interval: s })}`],
      [`usage feature=${s}`, `/api/analytics/usage?${q({ ...range, feature: s })}`],
      [`statements month=${s}`, `/api/analytics/statements?${q({ org: '00000000-0000-4000-8000-000000000000', month: s })}`],
      [`month-to-date asOf=${s}`, `/api/analytics/month-to-date?${q({ asOf: s })}`],
      [`headroom series from=${s}`, `/api/headroom/series?${q({ from: s })}`],
      [`headroom latest limit=${s}`, `/api/headroom/latest?${q({ limit: s })}`],
      [`audit before=${s}`, `/api/admin/audit?${q({ before: s })}`],
    ]),
    ['usage tz SQL', `/api/analytics/usage?${q({ ...range, tz: SQL[1] })}`],
    ['usage huge model', `/api/analytics/usage?${q({ ...range, model: HUGE.slice(0, 5000) })}`],
    ['usage huge org list', `/api/analytics/usage?${q({ ...range, org: Array(200).fill('00000000-0000-4000-8000-000000000000').join(',') })}`],
    ['usage unknown parameter', `/api/analytics/usage?${q({ ...range, 'x; DROP': '1' })}`],
    ['usage year 99999', `/api/analytics/usage?${q({ from: '99999-01-01', to: '2025-01-01' })}`],
    ['usage from=2025-13-45', `/api/analytics/usage?${q({ from: '2025-13-45', to: '2025-02-01' })}`],
    ['statements format=xml', `/api/analytics/statements?${q({ org: '00000000-0000-4000-8000-000000000000', month: '2025-01', format: 'xml' })}`],
    ['export org=../../etc/passwd', `/api/analytics/exports/usage-events.csv?${q({ ...range, org: '../../etc/passwd' })}`],
    ['audit limit=-1', `/api/admin/audit?limit=-1`],
    ['audit limit=1e9', `/api/admin/audit?limit=1e9`],
  ];
  it.each(cases)('%s → 400', async (_name, path) => {
    const before = await databaseState();
    const response = await raw('GET', path);
    expect(response.status, response.body).toBe(400);
    expect(JSON.parse(response.body).error.type).toBe('invalid_request_error');
    expect(await databaseState()).toBe(before);
  });
});

describe('free-text filters', () => {
  // A model name is free text (fine-tunes look like ft:gpt-4o-mini:org:name:id), so SQL in it is a
  // literal that matches nothing: parameterised, it returns no rows and changes nothing.
  it.each(SQL)('model=%s matches nothing and changes nothing', async (sql) => {
    const before = await databaseState();
    const day = 86_400_000;
    const range = { from: new Date(Date.now() - day).toISOString().slice(0, 10), to: new Date(Date.now() + day).toISOString().slice(0, 10) };
    const all = await raw('GET', `/api/analytics/usage?${q({ ...range, groupBy: 'model' })}`);
    const hostile = await raw('GET', `/api/analytics/usage?${q({ ...range, groupBy: 'model', model: sql })}`);
    expect(all.status, all.body).toBe(200);
    expect([200, 400]).toContain(hostile.status);
    if (hostile.status === 200) {
      expect(all.body).toContain('gpt-4o-mini');
      expect(hostile.body).not.toContain('gpt-4o-mini');
    }
    expect(await databaseState()).toBe(before);
  });
});

describe('admin forms', () => {
  const bad: Array<[string, string, string, unknown]> = [
    ['user email SQL', 'POST', '/api/admin/users', { email: `a@b.co' OR 1=1--`, password: 'long enough password', role: 'finance' }],
    ['user role SQL', 'POST', '/api/admin/users', { email: 'a@b.co', password: 'long enough password', role: `admin' --` }],
    ['user name with CRLF', 'POST', '/api/admin/users', { email: 'a@b.co', password: 'long enough password', role: 'finance', name: 'x\r\nSet-Cookie: a=b' }],
    ['user huge email', 'POST', '/api/admin/users', { email: `${HUGE.slice(0, 5000)}@b.co`, password: 'long enough password', role: 'finance' }],
    ['user password as object', 'POST', '/api/admin/users', { email: 'a@b.co', password: { $gt: '' }, role: 'finance' }],
    ['user extra field', 'POST', '/api/admin/users', { email: 'a@b.co', password: 'long enough password', role: 'finance', disabled_at: null }],
    ['user prototype pollution', 'POST', '/api/admin/users', '{"email":"a@b.co","password":"long enough password","role":"finance","__proto__":{"role":"admin"}}'],
    ['malformed JSON', 'POST', '/api/admin/users', '{"email": "a@b.co", "password": '],
    ['JSON array', 'POST', '/api/admin/users', '[1,2,3]'],
    ['token expiry string', 'POST', '/api/admin/api-tokens', { name: 'x', role: 'finance', expiresInDays: '30; DROP TABLE api_tokens' }],
    ['token forever', 'POST', '/api/admin/api-tokens', { name: 'x', role: 'finance', expiresInDays: 1e9 }],
    ['org name SQL + huge', 'POST', '/api/admin/orgs', { name: HUGE.slice(0, 1000), openaiOrgId: 'org-x' }],
    ['org id SQL', 'POST', '/api/admin/orgs', { name: 'x', openaiOrgId: `org-x'; DROP TABLE orgs;--` }],
    ['org base URL javascript:', 'POST', '/api/admin/orgs', { name: 'x', openaiOrgId: 'org-x', baseUrl: 'javascript:alert(1)' }],
    ['org base URL file:', 'POST', '/api/admin/orgs', { name: 'x', openaiOrgId: 'org-x', baseUrl: 'file:///etc/passwd' }],
    ['upstream key with newline', 'POST', '/api/admin/orgs/ORG/keys', { apiKey: 'sk-abc\r\nX-Injected: 1' }],
    ['feature slug traversal', 'POST', '/api/admin/features', { slug: '../../etc', name: 'x', defaultOrgId: 'ORG' }],
    ['feature budget NaN', 'PATCH', '/api/admin/features/FEATURE', { monthlyBudgetUsd: 'NaN' }],
    ['feature budget negative', 'PATCH', '/api/admin/features/FEATURE', { monthlyBudgetUsd: -5 }],
    ['feature grants not uuids', 'PATCH', '/api/admin/features/FEATURE', { grantedOrgIds: [`' OR 1=1--`] }],
  ];
  it.each(bad)('%s → 400', async (_name, method, path, body) => {
    const before = await databaseState();
    const response = await json(method, path.replace('ORG', stack.orgs[0].id).replace('FEATURE', stack.features[0].id), body);
    expect(response.status, response.body).toBe(400);
    expect(await databaseState()).toBe(before);
  });

  const paths: Array<[string, string, string]> = [
    ['traversal in an id', 'GET', '/api/admin/orgs/..%2f..%2fetc%2fpasswd'],
    ['SQL in an id', 'DELETE', `/api/admin/gateway-keys/${encodeURIComponent(`1' OR '1'='1`)}`],
    ['SQL in a user id', 'PATCH', `/api/admin/users/${encodeURIComponent('1;DROP TABLE users')}`],
    ['huge id', 'GET', `/api/admin/users/${'a'.repeat(2000)}`],
  ];
  it.each(paths)('%s → 400', async (_name, method, path) => {
    const before = await databaseState();
    const response = await json(method, path, {});
    expect(response.status, response.body).toBe(400);
    expect(await databaseState()).toBe(before);
  });

  it('refuses bodies past the API limit with 413 and changes nothing', async () => {
    const before = await databaseState();
    const response = await json('POST', '/api/admin/users', { email: 'a@b.co', password: 'x'.repeat(200_000), role: 'finance' });
    expect(response.status).toBe(413);
    expect(await databaseState()).toBe(before);
  });

  it('does not let path tricks reach an admin route without the guard', async () => {
    for (const path of ['/api/analytics/../admin/users', '/api/./admin/users', '/api//admin/users', '/%61pi/admin/users', '/api/admin/users/']) {
      const response = await raw('GET', path, { authorization: '' });
      expect([401, 404], `${path}: ${response.body}`).toContain(response.status);
    }
  });

  it('ignores header injection attempts in the CSRF and cookie headers', async () => {
    const response = await raw('POST', '/api/admin/users', { authorization: '', cookie: `tallygate_session=${"' OR 1=1--"}; a=${HUGE.slice(0, 4000)}`, 'x-csrf-token': `' OR 1=1--`, 'content-type': 'application/json' }, '{}');
    expect(response.status).toBe(401);
  });
});
