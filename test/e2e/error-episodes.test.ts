// Errors by kind for engineers (GET /api/throttling/errors): real failures through the gateway —
// an org out of credit, an org whose upstream key OpenAI refuses (401), an upstream 500 — each
// counted per org and feature with the minute its episode started, compared with the ledger; and
// the headroom table's org state, so an org failing for billing is not "healthy".
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorsResponse } from '../../server/contract/errors.js';
import type { LatestHeadroom } from '../../server/ratelimits/headroom.types.js';
import { episodes } from '../../server/ratelimits/errors.service.js';
import { ADMIN_TOKEN, startStack, type Stack } from '../support/stack.js';

let stack: Stack;
let revoked: { orgId: string; key: string };

beforeAll(async () => {
  stack = await startStack();
  // An org whose upstream key OpenAI does not know: every call comes back 401 invalid_api_key.
  const org = await stack.orgsService.createOrg({ name: 'revoked', openaiOrgId: 'org-revoked', baseUrl: stack.sim.url, apiKey: 'sk-revoked-0123456789' });
  const feature = await stack.orgsService.createFeature({ slug: 'feature-revoked', name: 'Feature revoked', defaultOrgId: org.id });
  revoked = { orgId: org.id, key: (await stack.orgsService.issueGatewayKey(feature.id, 'test')).key };
});
afterAll(() => stack?.close());

const api = async <T>(path: string): Promise<T> => {
  const res = await fetch(`${stack.url}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(res.status, path).toBe(200);
  return (await res.json()) as T;
};
const ask = (client: OpenAI, headers?: Record<string, string>) =>
  client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] }, headers ? { headers } : undefined).then(
    () => 'ok',
    (e: InstanceType<typeof OpenAI.APIError>) => e.status,
  );

describe('errors by kind', () => {
  it('names billing, a refused upstream key and a 5xx per org and feature, with the minute each episode started', async () => {
    const [alpha, , broke] = stack.features;
    for (let i = 0; i < 2; i++) expect(await ask(stack.client(alpha))).toBe('ok');
    expect(await ask(stack.client(alpha), { 'x-sim-fault': '500' })).toBe(500);
    for (let i = 0; i < 3; i++) expect(await ask(stack.client(broke))).toBe(429);
    const refused = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: revoked.key, maxRetries: 0 });
    for (let i = 0; i < 2; i++) expect(await ask(refused)).toBe(401);
    await stack.events();

    const from = new Date(Date.now() - 3_600_000).toISOString();
    const body = await api<ErrorsResponse>(`/api/throttling/errors?from=${from}`);
    const find = (slug: string, kind: string) => body.data.find((g) => g.feature.slug === slug && g.kind === kind);

    // The ledger's own answer: first failing minute per feature.
    const { rows } = await stack.db.query<{ slug: string; first: Date; failures: number }>(
      `SELECT f.slug, date_trunc('minute', min(e.created_at), 'UTC') AS first, count(*)::int AS failures
       FROM usage_events e JOIN features f ON f.id = e.feature_id WHERE e.outcome <> 'ok' GROUP BY f.slug`,
    );
    const ledger = new Map(rows.map((r) => [r.slug, r]));

    const billing = find('feature-broke', 'billing');
    expect(billing).toMatchObject({ failures: 3, requests: 3, status: 429, errorCode: 'insufficient_quota', org: { name: 'broke' }, feature: { name: 'Feature broke' } });
    expect(billing!.episodes).toHaveLength(1);
    expect(billing!.episodes[0]).toMatchObject({ start: ledger.get('feature-broke')!.first.toISOString(), failures: 3, ongoing: true });
    expect(billing!.explanation).toMatch(/credit/);

    const auth = find('feature-revoked', 'upstream_auth');
    expect(auth).toMatchObject({ failures: 2, requests: 2, status: 401, org: { name: 'revoked' } });
    expect(auth!.episodes[0].start).toBe(ledger.get('feature-revoked')!.first.toISOString());
    expect(auth!.explanation).toMatch(/refused this org's upstream key .*401.*rotate/i);

    const server = find('feature-alpha', 'upstream_5xx');
    expect(server).toMatchObject({ failures: 1, requests: 3, status: 500 });
    expect(body.data.filter((g) => g.feature.slug === 'feature-alpha')).toHaveLength(1);

    // Filters: by feature slug and by OpenAI org id.
    const onlyBroke = await api<ErrorsResponse>(`/api/throttling/errors?from=${from}&feature=feature-broke`);
    expect(onlyBroke.data.map((g) => g.kind)).toEqual(['billing']);
    const onlyRevoked = await api<ErrorsResponse>(`/api/throttling/errors?from=${from}&org=org-revoked`);
    expect(onlyRevoked.data.map((g) => g.feature.slug)).toEqual(['feature-revoked']);
  });

  it('shows an org whose calls now fail for billing as failing in the headroom table, with since when', async () => {
    const alphaOrg = stack.orgs[0];
    stack.sim.setOrg({ id: alphaOrg.openaiOrgId, keys: [alphaOrg.upstreamKey], outOfCredit: true });
    try {
      for (let i = 0; i < 4; i++) expect(await ask(stack.client(stack.features[0]))).toBe(429);
    } finally {
      stack.sim.setOrg({ id: alphaOrg.openaiOrgId, keys: [alphaOrg.upstreamKey] });
    }
    await stack.events();
    const { data } = await api<{ data: LatestHeadroom[] }>('/api/headroom/latest');
    const alpha = data.find((r) => r.org.id === alphaOrg.id);
    // Its limits have room (the 429s are billing, not throttling), yet it is failing.
    expect(alpha!.utilisationNow).toBeLessThan(0.5);
    const { rows } = await stack.db.query<{ first: Date }>(`SELECT date_trunc('minute', min(created_at), 'UTC') AS first FROM usage_events WHERE org_id = $1 AND error_kind = 'quota'`, [alphaOrg.id]);
    expect(alpha!.orgState).toMatchObject({ state: 'billing', failures: 4, since: rows[0].first.toISOString() });
    expect(data.find((r) => r.org.name === 'beta')?.orgState?.state ?? 'idle').not.toBe('billing');
    // Projected to now, what is left never exceeds the limit and agrees with the percentage used.
    for (const row of data) {
      for (const h of [row.requests, row.tokens]) {
        if (!h) continue;
        expect(h.remainingNow).toBeLessThanOrEqual(h.limit);
        expect(h.remainingNow).toBe(Math.floor(h.limit * (1 - h.utilisationNow) + 1e-9));
      }
    }
  });

  it('cuts episodes at quiet spells of more than five minutes', () => {
    const at = (m: number) => ({ minute: new Date(Date.UTC(2026, 0, 1, 10, m)), failures: 1 });
    const cut = episodes([at(0), at(3), at(10), at(15), at(30)], new Date(Date.UTC(2026, 0, 1, 10, 33)));
    expect(cut.map((e) => [e.start.slice(11, 16), e.end.slice(11, 16), e.failures, e.ongoing])).toEqual([
      ['10:00', '10:04', 2, false],
      ['10:10', '10:16', 2, false],
      ['10:30', '10:31', 1, true],
    ]);
  });
});
