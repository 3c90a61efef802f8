// Attribution end to end: the official SDK through the gateway with tag headers, body `user` /
// `safety_identifier` / `metadata` and feature defaults; required tags refused with a 400 and a
// row; the cardinality cap and its state across a restart; spend by tag and statements per
// customer adding up to the feature's total; CSV formula guard on tag values.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UsageReport } from '../../server/analytics/analytics.service.js';
import { AttributionRepository } from '../../server/attribution/attribution.repository.js';
import { AttributionService } from '../../server/attribution/attribution.service.js';
import { AuditService } from '../../server/auth/audit.service.js';
import { UsersService } from '../../server/auth/users.service.js';
import { APP_CONFIG, type AppConfig } from '../../server/config/config.js';
import type { TagStatement } from '../../server/contract/attribution.js';
import { startStack, type Stack } from '../support/stack.js';
import { api, getJson, parseCsv, usageEvent, writeEvents } from './analytics-fixtures.js';

let stack: Stack;
const chat = (client: OpenAI, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
  client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], ...extra }, { headers });

async function put(path: string, body: unknown, method = 'PUT'): Promise<Response> {
  return api(stack, path, { method, body: JSON.stringify(body) });
}

beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.close());

describe('where a call’s end user and tags come from', () => {
  it('reads x-tallygate-tag-* headers (not forwarded upstream) and the body’s user', async () => {
    await stack.resetUsage();
    await chat(stack.client(), { user: 'user-42' }, { 'x-tallygate-tag-customer': 'acme', 'x-tallygate-tag-env': 'prod', 'X-Tallygate-Tag-Region': 'eu', 'x-tallygate-tag-a+b': 'not a tag name' });
    const [event] = await stack.events();
    expect(event.end_user).toBe('user-42');
    expect(event.tags).toEqual({ customer: 'acme', env: 'prod', region: 'eu' });
    const forwarded = stack.sim.received().at(-1)!;
    expect(Object.keys(forwarded.headers).filter((h) => h.startsWith('x-tallygate'))).toEqual([]);
  });

  it('prefers safety_identifier, takes metadata keys that are declared tags, and applies feature defaults under what the call sent', async () => {
    await stack.resetUsage();
    expect((await put('/api/admin/tags', { name: 'team', maxValues: 50 }, 'POST')).status).toBe(201);
    const feature = stack.features[1];
    const set = await put(`/api/admin/features/${feature.slug}/attribution`, { defaultTags: { env: 'staging', customer: 'house' } });
    expect(set.status).toBe(200);
    const client = stack.client(feature);
    await chat(client, { user: 'old', safety_identifier: 'hashed-7', metadata: { team: 'search', conversation: 'c-1' }, store: true });
    await chat(client, {}, { 'x-tallygate-tag-customer': 'globex' });
    const [first, second] = await stack.events();
    expect(first.end_user).toBe('hashed-7');
    expect(first.tags).toEqual({ team: 'search', env: 'staging', customer: 'house' }); // `conversation` is not a declared tag
    expect(second.end_user).toBeNull();
    expect(second.tags).toEqual({ customer: 'globex', env: 'staging' });
    await put(`/api/admin/features/${feature.slug}/attribution`, { defaultTags: {}, requiredTags: [] });
  });

  it('a call with no tags, user or feature rules has no attribution', async () => {
    await stack.resetUsage();
    await chat(stack.client(stack.features[1]));
    const [event] = await stack.events();
    expect(event.end_user).toBeNull();
    expect(event.tags).toBeNull();
  });
});

describe('required tags', () => {
  it('refuses a call missing a required tag with a 400 in OpenAI’s shape, not sent upstream, with its row', async () => {
    await stack.resetUsage();
    const feature = stack.features[0];
    await put(`/api/admin/features/${feature.id}/attribution`, { requiredTags: ['customer'], defaultTags: { env: 'prod' } });
    const client = stack.client(feature);
    const before = stack.sim.received().length;
    const error = await chat(client).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    const bad = error as InstanceType<typeof OpenAI.BadRequestError>;
    expect(bad.code).toBe('missing_required_tag');
    expect(bad.param).toBe('x-tallygate-tag-customer');
    expect(bad.message).toMatch(/requires the tag "customer"/);
    expect(stack.sim.received().length).toBe(before);
    const ok = await chat(client, {}, { 'x-tallygate-tag-customer': 'acme' });
    expect(ok.choices.length).toBe(1);
    const [refused, sent] = await stack.events();
    expect(refused).toMatchObject({ status: 400, error_code: 'missing_required_tag', tags: { env: 'prod' } });
    expect(refused.cost_nanos === null || refused.cost_nanos === '0').toBe(true);
    expect(sent).toMatchObject({ status: 200, tags: { customer: 'acme', env: 'prod' } });
    await put(`/api/admin/features/${feature.id}/attribution`, { requiredTags: [], defaultTags: {} });
  });
});

describe('cardinality cap', () => {
  it('keeps a tag’s first max_values values per month, records the rest as other, and remembers them across a restart', async () => {
    await stack.resetUsage();
    await put('/api/admin/tags', { name: 'tenant', maxValues: 2 }, 'POST');
    const client = stack.client();
    for (const tenant of ['t1', 't2', 't3', 't1', 't4']) await chat(client, {}, { 'x-tallygate-tag-tenant': tenant });
    const events = await stack.events();
    expect(events.map((e) => (e.tags as Record<string, unknown>).tenant)).toEqual(['t1', 't2', null, 't1', null]);

    const hour = 3_600_000;
    const from = new Date(Math.floor(Date.now() / hour) * hour - hour).toISOString();
    const to = new Date(Math.floor(Date.now() / hour) * hour + hour).toISOString();
    const report = await getJson<UsageReport>(stack, `/api/analytics/spend?from=${from}&to=${to}&groupBy=tag&tag=tenant`);
    expect(report.series.map((s) => [s.groupLabel, s.tagKind, s.requests])).toEqual([
      ['t1', 'value', 2],
      ['t2', 'value', 1],
      ['(other)', 'other', 2],
    ]);

    // A fresh process (same database): the values admitted this month come back from the tag rollup.
    const restarted = new AttributionService(stack.app.get(AttributionRepository), stack.app.get(AuditService), stack.app.get<AppConfig>(APP_CONFIG));
    await restarted.reload();
    expect(restarted.admit('tenant', 't9', new Date())).toBeNull();
    expect(restarted.admit('tenant', 't2', new Date())).toBe('t2');
    // A new month starts afresh.
    const nextMonth = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() + 1, 2));
    expect(restarted.admit('tenant', 't9', nextMonth)).toBe('t9');
  });

  it('bounds what a misbehaving app sends: values cut to the tag’s max length, at most 10 tags', async () => {
    await stack.resetUsage();
    await put('/api/admin/tags', { name: 'short', maxLength: 4 }, 'POST');
    const headers: Record<string, string> = { 'x-tallygate-tag-short': 'abcdefgh' };
    for (let i = 0; i < 15; i++) headers[`x-tallygate-tag-k${i}`] = `v${i}`;
    await chat(stack.client(), { user: 'u'.repeat(1000) }, headers);
    const [event] = await stack.events();
    const tags = event.tags as Record<string, string>;
    expect(Object.keys(tags)).toHaveLength(10);
    expect(tags.short).toBe('abcd');
    expect((event.end_user as string).length).toBe(128);
    expect(event.clamped).toContain('tags');
  });
});

describe('spend by tag and statements per customer', () => {
  const MONTH = '2025-11';
  let feature: Stack['features'][number];
  beforeAll(async () => {
    await stack.resetUsage();
    feature = stack.features[0];
    const at = (day: number, hour: number) => new Date(Date.UTC(2025, 10, day, hour));
    const base = { orgId: stack.orgs[0].id, featureId: feature.id };
    await writeEvents(stack, [
      usageEvent({ ...base, createdAt: at(3, 10), costNanos: '1000', tags: { customer: 'acme', env: 'prod' }, endUser: 'u1' }),
      usageEvent({ ...base, createdAt: at(4, 11), costNanos: '2500', tags: { customer: 'acme' }, model: 'gpt-4o' }),
      usageEvent({ ...base, createdAt: at(5, 12), costNanos: '700', tags: { customer: 'globex' }, endUser: 'u2' }),
      usageEvent({ ...base, createdAt: at(6, 13), costNanos: '300', tags: { customer: '=HYPERLINK("http://x")' } }),
      usageEvent({ ...base, createdAt: at(7, 14), costNanos: '50', tags: { customer: null } }),
      usageEvent({ ...base, createdAt: at(8, 15), costNanos: '4000' }), // untagged
      usageEvent({ ...base, createdAt: at(9, 16), costNanos: null, tags: { customer: 'acme' }, model: 'mystery' }), // unpriced
      // Another month and another feature: in neither statement.
      usageEvent({ ...base, createdAt: new Date(Date.UTC(2025, 11, 2, 1)), costNanos: '99999', tags: { customer: 'acme' } }),
      usageEvent({ orgId: stack.orgs[1].id, featureId: stack.features[1].id, createdAt: at(3, 10), costNanos: '88888', tags: { customer: 'acme' } }),
    ]);
  });

  it('answers "what did acme cost us in November?", lines adding up to the feature’s month', async () => {
    const s = await getJson<TagStatement>(stack, `/api/analytics/tag-statements?feature=${feature.slug}&month=${MONTH}&tag=customer`);
    const subtotal = (kind: string, value: string | null) => s.subtotals.find((x) => x.kind === kind && x.value === value);
    expect(subtotal('value', 'acme')).toMatchObject({ costNanos: '3500', requests: 3, unpricedRequests: 1 });
    expect(subtotal('value', 'globex')?.costNanos).toBe('700');
    expect(subtotal('other', null)?.costNanos).toBe('50');
    expect(subtotal('untagged', null)).toMatchObject({ costNanos: '4000', requests: 1 });
    expect(s.total).toMatchObject({ costNanos: '8550', requests: 7, unpricedRequests: 1 });
    expect(s.lines.reduce((sum, l) => sum + BigInt(l.costNanos), 0n)).toBe(8550n);
    // The same total as the feature's month without tags.
    const month = await getJson<UsageReport>(stack, `/api/analytics/spend?from=2025-11-01&to=2025-12-01&feature=${feature.slug}`);
    expect(month.totals.spendNanos).toBe(s.total.costNanos);

    const only = await getJson<TagStatement>(stack, `/api/analytics/tag-statements?feature=${feature.id}&month=${MONTH}&tag=customer&value=acme`);
    expect(only.lines.map((l) => [l.model, l.costNanos])).toEqual([
      ['gpt-4o', '2500'],
      ['gpt-4o-mini', '1000'],
      ['mystery', '0'],
    ]);
  });

  it('statements per end user, and the CSV guards tag values against formulas', async () => {
    const s = await getJson<TagStatement>(stack, `/api/analytics/tag-statements?feature=${feature.slug}&month=${MONTH}&tag=endUser`);
    expect(s.subtotals.map((x) => [x.kind, x.value, x.costNanos])).toEqual([
      ['untagged', null, '6850'],
      ['value', 'u1', '1000'],
      ['value', 'u2', '700'],
    ]);
    const response = await api(stack, `/api/analytics/tag-statements?feature=${feature.slug}&month=${MONTH}&tag=customer&format=csv`);
    expect(response.headers.get('content-type')).toMatch(/text\/csv/);
    const rows = parseCsv(await response.text());
    expect(rows[0]).toContain('value');
    expect(rows.map((r) => r[4])).toContain(`'=HYPERLINK("http://x")`);
    expect(rows.at(-1)!.slice(4, 5)).toEqual(['TOTAL']);
    expect(rows.at(-1)!.at(-2)).toBe('8550');
  });

  it('groups and filters the spend view by tag (top N + other + untagged, totals unchanged) and by end user', async () => {
    const q = `from=2025-11-01&to=2025-12-01&feature=${feature.slug}`;
    const grouped = await getJson<UsageReport>(stack, `/api/analytics/spend?${q}&groupBy=tag&tag=customer&top=1`);
    expect(grouped.series.map((s) => [s.groupLabel, s.spendNanos])).toEqual([
      ['acme', '3500'],
      ['(other)', '1050'],
      ['(untagged)', '4000'],
    ]);
    expect(grouped.totals.spendNanos).toBe('8550');
    const filtered = await getJson<UsageReport>(stack, `/api/analytics/spend?${q}&tag=customer&tagValue=acme&groupBy=model`);
    expect(filtered.series.map((s) => [s.groupLabel, s.spendNanos, s.unpricedRequests])).toEqual([
      ['gpt-4o', '2500', 0],
      ['gpt-4o-mini', '1000', 0],
      ['mystery', '0', 1],
    ]);
    const byDay = await getJson<UsageReport>(stack, `/api/analytics/spend?${q}&tag=customer&tagValue=acme&interval=day&tz=America/New_York`);
    expect(byDay.series.map((s) => [s.label, s.spendNanos])).toEqual([
      ['2025-11-03', '1000'],
      ['2025-11-04', '2500'],
      ['2025-11-09', '0'],
    ]);
    const users = await getJson<UsageReport>(stack, `/api/analytics/spend?${q}&endUser=u2`);
    expect(users.totals.spendNanos).toBe('700');
    const both = await api(stack, `/api/analytics/spend?${q}&groupBy=tag&tag=customer&endUser=u1`);
    expect(both.status).toBe(400);
    const missing = await api(stack, `/api/analytics/spend?${q}&groupBy=tag`);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('missing_tag');
  });

  it('exports events with their end user and tags, filtered by a tag value', async () => {
    const response = await api(stack, `/api/analytics/exports/usage-events.csv?from=2025-11-01&to=2025-12-01&tag=customer&tagValue=acme&feature=${feature.slug}`);
    const rows = parseCsv(await response.text());
    const header = rows[0];
    expect(header.slice(-2)).toEqual(['end_user', 'tags']);
    expect(rows.length - 1).toBe(3);
    expect(JSON.parse(rows[1][header.indexOf('tags')])).toEqual({ env: 'prod', customer: 'acme' });
    expect(rows[1][header.indexOf('end_user')]).toBe('u1');
  });

  it('the tag rollups hold exactly what a full scan of the ledger gives, hourly and daily', async () => {
    const scan = (time: 'hour' | 'day') =>
      stack.db.query(
        `SELECT date_trunc('${time}', created_at, 'UTC') AS t, tag, value, count(*)::int AS requests, coalesce(sum(cost_nanos), 0)::text AS cost,
           count(*) FILTER (WHERE cost_nanos IS NULL)::int AS unpriced
         FROM usage_events e CROSS JOIN LATERAL (SELECT key, value FROM jsonb_each_text(e.tags) UNION ALL SELECT '', nullif(e.end_user, '') WHERE e.end_user IS NOT NULL) AS p(tag, value)
         GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 NULLS LAST`,
      );
    const rollup = (table: string, time: 'hour' | 'day') =>
      stack.db.query(
        `SELECT ${time} AS t, tag, value, sum(requests)::int AS requests, sum(cost_nanos)::text AS cost, sum(unpriced_requests)::int AS unpriced
         FROM ${table} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 NULLS LAST`,
      );
    for (const [table, time] of [['usage_tag_hourly', 'hour'], ['usage_tag_daily', 'day']] as const) {
      const [expected, actual] = await Promise.all([scan(time), rollup(table, time)]);
      expect(expected.rows.length).toBeGreaterThan(5);
      expect(actual.rows).toEqual(expected.rows);
    }
  });

  it('a price correction re-costs the tag rollups too: the statement per customer follows and still adds up', async () => {
    const correction = { model: 'gpt-4o', from: '2025-11-01T00:00:00Z', to: '2025-12-01T00:00:00Z', reason: 'test: re-cost November', prices: { inputPerMtok: '100', outputPerMtok: '100' } };
    const response = await api(stack, '/api/admin/prices/corrections', { method: 'POST', body: JSON.stringify(correction) });
    expect(response.status).toBe(200);
    const { rows } = await stack.db.query(`SELECT cost_nanos FROM usage_events WHERE model = 'gpt-4o' AND feature_id = $1 AND created_at < '2025-12-01'`, [feature.id]);
    const recosted = BigInt(rows[0].cost_nanos as string);
    expect(recosted).toBe(150n * 100_000n); // (100 + 50 tokens) x $100 per 1M tokens
    const s = await getJson<TagStatement>(stack, `/api/analytics/tag-statements?feature=${feature.slug}&month=2025-11&tag=customer`);
    expect(s.subtotals.find((x) => x.value === 'acme')?.costNanos).toBe(String(1000n + recosted));
    expect(s.total.costNanos).toBe(String(8550n - 2500n + recosted));
    expect(s.lines.reduce((sum, l) => sum + BigInt(l.costNanos), 0n)).toBe(BigInt(s.total.costNanos));
  });

  it('engineers see usage by tag, not money; the tag list offers names and values', async () => {
    await stack.app.get(UsersService).create({ email: 'eng@attribution.test', password: 'attribution engineer pw', role: 'engineer' });
    const signIn = await fetch(`${stack.url}/api/auth/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'eng@attribution.test', password: 'attribution engineer pw' }),
    });
    const cookie = signIn.headers.get('set-cookie')!.split(';')[0];
    const get = (path: string) => fetch(`${stack.url}${path}`, { headers: { cookie } });
    const usage = (await (await get(`/api/analytics/usage?from=2025-11-01&to=2025-12-01&groupBy=tag&tag=customer`)).json()) as UsageReport;
    expect(usage.series.find((s) => s.groupLabel === 'acme')?.requests).toBe(4); // both features
    expect(JSON.stringify(usage)).not.toMatch(/spend|cost/i);
    expect((await get(`/api/analytics/tag-statements?feature=${feature.slug}&month=${MONTH}&tag=customer`)).status).toBe(403);
    const tags = (await (await get(`/api/analytics/tags?from=2025-11-01&to=2025-12-01`)).json()) as { tags: Array<{ name: string; values: string[] }>; endUsers: boolean };
    expect(tags.tags.find((t) => t.name === 'customer')?.values[0]).toBe('acme');
    expect(tags.endUsers).toBe(true);
  });
});
