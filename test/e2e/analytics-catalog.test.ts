// The filter catalog and slug filters: every org, feature and model is listed with its name (also
// with no traffic), engineers get it without money, and analytics URLs take a feature slug or an
// org's name / OpenAI org id wherever they take an id.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsersService } from '../../server/auth/users.service.js';
import type { Catalog } from '../../server/analytics/catalog.types.js';
import { moneyKeys } from '../support/money.js';
import { startStack, type Stack } from '../support/stack.js';
import { api, getJson, usageEvent, writeEvents } from './analytics-fixtures.js';

let stack: Stack;
let newOrg: { id: string; name: string };
let newFeature: { id: string; slug: string };
const RANGE = 'from=2025-05-01&to=2025-05-03&tz=UTC';

beforeAll(async () => {
  stack = await startStack();
  const [a, b] = stack.features;
  await writeEvents(stack, [
    usageEvent({ createdAt: new Date('2025-05-01T10:00:00Z'), orgId: stack.orgs[0].id, featureId: a.id, costNanos: '1000' }),
    usageEvent({ createdAt: new Date('2025-05-01T11:00:00Z'), orgId: stack.orgs[0].id, featureId: a.id, costNanos: '2000' }),
    usageEvent({ createdAt: new Date('2025-05-01T12:00:00Z'), orgId: stack.orgs[1].id, featureId: b.id, model: 'only-in-usage-model', costNanos: null }),
  ]);
  // A new org and feature with no traffic at all.
  const org = await stack.orgsService.createOrg({ name: 'Newco', openaiOrgId: 'org-newco', baseUrl: stack.sim.url });
  newOrg = { id: org.id, name: org.name };
  const feature = await stack.orgsService.createFeature({ slug: 'customer-service-chatbot', name: 'Customer service chatbot', defaultOrgId: org.id });
  newFeature = { id: feature.id, slug: feature.slug };
});
afterAll(() => stack?.close());

async function signedIn(role: 'engineer' | 'finance'): Promise<string> {
  const email = `${role}-catalog@example.com`;
  const password = `correct horse ${role} catalog`;
  await stack.app.get(UsersService).create({ email, password, role, name: role }).catch(() => undefined);
  const res = await fetch(`${stack.url}/api/auth/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
  expect(res.status).toBe(200);
  return res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
}

describe('GET /api/analytics/catalog', () => {
  it('lists every org, feature and model with names, including ones with no traffic', async () => {
    const catalog = await getJson<Catalog>(stack, '/api/analytics/catalog');
    const { rows: orgs } = await stack.db.query(`SELECT id, name FROM orgs ORDER BY id`);
    const { rows: features } = await stack.db.query(`SELECT id, slug, name FROM features ORDER BY id`);
    const { rows: models } = await stack.db.query(`SELECT model FROM prices UNION SELECT model FROM usage_events WHERE model IS NOT NULL`);
    expect(catalog.orgs.map((o) => ({ id: o.id, name: o.name })).sort((x, y) => x.id.localeCompare(y.id))).toEqual(orgs);
    expect(catalog.features.map((f) => ({ id: f.id, slug: f.slug, name: f.name })).sort((x, y) => x.id.localeCompare(y.id))).toEqual(features);
    expect(catalog.models.map((m) => m.id).sort()).toEqual(models.map((m) => m.model as string).sort());
    expect(catalog.orgs.find((o) => o.id === newOrg.id)?.name).toBe('Newco');
    expect(catalog.features.find((f) => f.id === newFeature.id)?.name).toBe('Customer service chatbot');
    expect(catalog.models.map((m) => m.id)).toContain('only-in-usage-model');
  });

  it('is open to engineers and finance, with no money in it for engineers', async () => {
    for (const role of ['engineer', 'finance'] as const) {
      const res = await fetch(`${stack.url}/api/analytics/catalog`, { headers: { cookie: await signedIn(role) } });
      expect(res.status, role).toBe(200);
      const body = (await res.json()) as Catalog;
      expect(body.orgs.length).toBe(stack.orgs.length + 1);
      expect(moneyKeys(body)).toEqual([]);
    }
  });
});

describe('slugs and names in analytics filters', () => {
  const usage = (q: string) => getJson<{ totals: { requests: number; spendNanos: string } }>(stack, `/api/analytics/usage?${RANGE}&${q}`);

  it('a feature slug filters exactly like its id', async () => {
    const [a] = stack.features;
    const byId = await usage(`feature=${a.id}`);
    expect(byId.totals.requests).toBe(2);
    expect(await usage(`feature=${a.slug}`)).toEqual(byId);
    expect((await usage(`feature=${a.slug},${stack.features[1].id}`)).totals.requests).toBe(3);
  });

  it("an org's name or OpenAI org id filters like its id", async () => {
    const byId = await usage(`org=${stack.orgs[0].id}`);
    expect(byId.totals.requests).toBe(2);
    expect(await usage(`org=${encodeURIComponent(stack.orgs[0].name)}`)).toEqual(byId);
    expect(await usage(`org=${stack.orgs[0].openaiOrgId}`)).toEqual(byId);
  });

  it('a feature with no traffic answers zero, and an unknown slug is a 400 that names it', async () => {
    expect((await usage(`feature=${newFeature.slug}`)).totals.requests).toBe(0);
    const res = await api(stack, `/api/analytics/usage?${RANGE}&feature=no-such-feature`);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { message: string; param: string; code: string } };
    expect(body.error).toMatchObject({ param: 'feature', code: 'unknown_feature' });
    expect(body.error.message).toContain('"no-such-feature"');
  });

  it('month-to-date and the events CSV take slugs too', async () => {
    const [a] = stack.features;
    const mtd = await api(stack, `/api/analytics/month-to-date?tz=UTC&feature=${a.slug}`);
    expect(mtd.status).toBe(200);
    const csv = await api(stack, `/api/analytics/exports/usage-events.csv?${RANGE}&feature=${a.slug}`);
    expect(csv.status).toBe(200);
    expect((await csv.text()).trim().split('\r\n').length).toBe(1 + 2);
  });
});
