import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENTS_CSV_HEADER } from '../../server/analytics/events-export.service.js';
import { StatementService } from '../../server/analytics/statement.service.js';
import type { Statement } from '../../server/analytics/statement.types.js';
import { hasOrgSql } from '../../server/ledger/no-org.js';
import { ROLLUPS } from '../../server/ledger/rollups.js';
import type { MonthToDateReport, UsageReport } from '../../server/analytics/analytics.service.js';
import type { UsageEvent } from '../../server/ledger/usage-event.js';
import { PricingService } from '../../server/pricing/pricing.service.js';
import { startStack, type Stack } from '../support/stack.js';
import { api, getJson, parseCsv, usageEvent, writeEvents } from './analytics-fixtures.js';

let stack: Stack;
const NY = 'America/New_York';
const MODELS = ['gpt-4o-mini', 'gpt-4o', 'whisper-1', 'mystery-model'] as const;

/** A deterministic mixed dataset: 2 orgs x 2 features x 4 models, estimated and unpriced events, 2025-01-20 … 2025-04-10. */
function dataset(pricing: PricingService): UsageEvent[] {
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const start = Date.parse('2025-01-20T00:00:00Z');
  const span = Date.parse('2025-04-10T00:00:00Z') - start;
  const times = Array.from({ length: 700 }, () => new Date(start + Math.floor(rand() * span)));
  // Month boundaries: UTC and New York disagree about these.
  times.push(new Date('2025-03-01T03:00:00Z'), new Date('2025-03-01T05:30:00Z'), new Date('2025-03-31T23:30:00Z'), new Date('2025-04-01T02:00:00Z'));
  return times.map((createdAt, i) => {
    const f = i % 2;
    const feature = stack.features[f];
    const orgId = f === 0 && rand() < 0.3 ? stack.orgs[1].id : stack.orgs[f].id;
    const model = MODELS[Math.floor(rand() * MODELS.length)];
    const estimated = rand() < 0.1;
    const failed = rand() < 0.05;
    const usage = {
      inputTokens: failed ? 0 : 50 + Math.floor(rand() * 2000),
      cachedTokens: 0,
      audioInputTokens: 0,
      outputTokens: failed || model === 'whisper-1' ? 0 : Math.floor(rand() * 800),
      reasoningTokens: 0,
      audioSeconds: model === 'whisper-1' && !failed ? Math.round(rand() * 90_000) / 1000 : undefined,
    };
    if (model === 'whisper-1') usage.inputTokens = 0;
    usage.cachedTokens = Math.floor(usage.inputTokens * rand() * 0.5);
    const priced = failed ? { costNanos: 0n, priceId: null } : pricing.price(model, undefined, createdAt, usage);
    return usageEvent({
      createdAt,
      orgId,
      featureId: feature.id,
      model,
      endpoint: model === 'whisper-1' ? 'audio.transcriptions' : 'chat.completions',
      status: failed ? 500 : 200,
      outcome: failed ? 'error' : 'ok',
      ...usage,
      audioSeconds: usage.audioSeconds ?? null,
      usageSource: failed ? 'none' : estimated ? 'estimated' : 'reported',
      costNanos: priced.costNanos === null ? null : priced.costNanos.toString(),
      priceId: priced.priceId,
      latencyMs: Math.round(80 * Math.exp(rand() * 4)),
      ttfbMs: rand() < 0.2 ? null : Math.round(20 * Math.exp(rand() * 3)),
      // Attribution (no rand() call, so the rest of the dataset stays as it was): tags, a value past
      // its cap (null) and end users, one past its cap (''), for the tag rollups' scans.
      tags: i % 3 === 0 ? { customer: i % 33 === 0 ? null : ['acme', 'globex'][i % 2], ...(i % 6 === 0 ? { env: 'prod' } : {}) } : null,
      endUser: i % 4 === 0 ? (i % 40 === 0 ? '' : `user-${i % 7}`) : null,
    });
  });
}

beforeAll(async () => {
  stack = await startStack();
  await writeEvents(stack, dataset(stack.app.get(PricingService)));
});
afterAll(() => stack?.close());

const EVENT_SUMS = `sum(cost_nanos)::text AS spend, count(*)::int AS requests, count(*) FILTER (WHERE outcome <> 'ok')::int AS errors,
  sum(input_tokens)::int AS input, sum(cached_tokens)::int AS cached, sum(output_tokens)::int AS output,
  coalesce(sum(audio_seconds), 0)::numeric(16,3)::text AS audio, coalesce(sum(cost_nanos) FILTER (WHERE usage_source = 'estimated'), 0)::text AS estimated,
  count(*) FILTER (WHERE cost_nanos IS NULL)::int AS unpriced`;

function expectMatches(point: UsageReport['series'][number] | UsageReport['totals'], row: Record<string, unknown>) {
  expect({
    spend: point.spendNanos,
    requests: point.requests,
    errors: point.errors,
    input: point.inputTokens,
    cached: point.cachedTokens,
    output: point.outputTokens,
    audio: point.audioSeconds,
    estimated: point.estimatedCostNanos,
    unpriced: point.unpricedRequests,
  }).toEqual({ ...row, spend: row.spend ?? '0' });
}

describe('usage totals', () => {
  it('equal the sums of the underlying events exactly, per feature and model, estimated and unpriced included', async () => {
    const report = await getJson<UsageReport>(stack, '/api/analytics/usage?from=2025-01-01&to=2025-05-01&groupBy=feature,model');
    const { rows } = await stack.db.query(
      `SELECT feature_id, model, ${EVENT_SUMS} FROM usage_events WHERE created_at >= '2025-01-01Z' AND created_at < '2025-05-01Z' GROUP BY 1, 2 ORDER BY 1, 2`,
    );
    expect(report.series).toHaveLength(rows.length);
    for (const { feature_id, model, ...sums } of rows) {
      const point = report.series.find((p) => p.group.feature === feature_id && p.group.model === model);
      expect(point, `${feature_id} ${model}`).toBeDefined();
      expectMatches(point!, sums);
    }
    const [all] = (await stack.db.query(`SELECT ${EVENT_SUMS} FROM usage_events`)).rows;
    expectMatches(report.totals, all);
    expect(report.totals.unpricedRequests).toBeGreaterThan(0);
    expect(BigInt(report.totals.estimatedCostNanos ?? 0)).toBeGreaterThan(0n);
    expect(report.totals.estimatedCostShare).toBeCloseTo(Number(all.estimated) / Number(all.spend), 5);
    expect(report.totals.spendUsd).toBe(`${BigInt(all.spend) / 1_000_000_000n}.${(BigInt(all.spend) % 1_000_000_000n).toString().padStart(9, '0')}`);
    expect(report.series.find((p) => p.group.feature === stack.features[0].id)?.groupLabel).toMatch(/^feature-alpha \/ /);
  });

  it('filters by org, feature, model and endpoint', async () => {
    const org = stack.orgs[1].id;
    const report = await getJson<UsageReport>(
      stack,
      `/api/analytics/spend?from=2025-02-01&to=2025-04-01&org=${org}&feature=${stack.features[0].id}&model=gpt-4o,gpt-4o-mini&endpoint=chat.completions`,
    );
    const [row] = (
      await stack.db.query(
        `SELECT ${EVENT_SUMS} FROM usage_events WHERE created_at >= '2025-02-01Z' AND created_at < '2025-04-01Z'
         AND org_id = $1 AND feature_id = $2 AND model IN ('gpt-4o', 'gpt-4o-mini') AND endpoint = 'chat.completions'`,
        [org, stack.features[0].id],
      )
    ).rows;
    expect(row.requests).toBeGreaterThan(0);
    expect(report.series).toHaveLength(1);
    expectMatches(report.series[0], row);
    expect(report.totals.latencyMs).toBeUndefined();
  });

  it('cuts month and day buckets in the requested time zone, across DST', async () => {
    const months = await getJson<UsageReport>(stack, `/api/analytics/usage?from=2025-01-01&to=2025-05-01&tz=${NY}&interval=month`);
    const { rows } = await stack.db.query(
      `SELECT to_char(created_at AT TIME ZONE $1, 'YYYY-MM') AS label, ${EVENT_SUMS} FROM usage_events
       WHERE created_at >= '2025-01-01'::timestamp AT TIME ZONE $1 AND created_at < '2025-05-01'::timestamp AT TIME ZONE $1 GROUP BY 1 ORDER BY 1`,
      [NY],
    );
    expect(months.series.map((p) => p.label)).toEqual(rows.map((r) => r.label));
    for (const { label, ...sums } of rows) expectMatches(months.series.find((p) => p.label === label)!, sums);
    expect(months.series.find((p) => p.label === '2025-03')!.bucket).toBe('2025-03-01T05:00:00.000Z');
    expect(months.meta.from).toBe('2025-01-01T05:00:00.000Z');
    // 2025-03-01T03:00Z is still February 28 in New York.
    const lastDay = await getJson<UsageReport>(stack, `/api/analytics/usage?from=2025-02-28&to=2025-03-01&tz=${NY}`);
    const [{ n }] = (await stack.db.query(`SELECT count(*)::int AS n FROM usage_events WHERE created_at >= '2025-02-28T05:00Z' AND created_at < '2025-03-01T05:00Z'`)).rows;
    expect(lastDay.totals.requests).toBe(n);
    expect(lastDay.meta.to).toBe('2025-03-01T05:00:00.000Z');

    const days = await getJson<UsageReport>(stack, `/api/analytics/spend?from=2025-03-01&to=2025-04-01&tz=${NY}&interval=day`);
    const dayRows = (
      await stack.db.query(
        `SELECT to_char(created_at AT TIME ZONE $1, 'YYYY-MM-DD') AS label, ${EVENT_SUMS} FROM usage_events
         WHERE created_at >= '2025-03-01'::timestamp AT TIME ZONE $1 AND created_at < '2025-04-01'::timestamp AT TIME ZONE $1 GROUP BY 1 ORDER BY 1`,
        [NY],
      )
    ).rows;
    expect(days.series.map((p) => p.label)).toEqual(dayRows.map((r) => r.label));
    for (const { label, ...sums } of dayRows) expectMatches(days.series.find((p) => p.label === label)!, sums);
    // 2025-03-09 has 23 hours in New York.
    expect(days.series.find((p) => p.label === '2025-03-10')!.bucket).toBe('2025-03-10T04:00:00.000Z');
  });

  it('gives latency and TTFB percentiles within one histogram bucket of the exact values', async () => {
    const report = await getJson<UsageReport>(stack, `/api/analytics/usage?from=2025-01-01&to=2025-05-01&groupBy=feature`);
    const { rows } = await stack.db.query(
      `SELECT feature_id, percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY latency_ms) AS latency,
         percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY ttfb_ms) AS ttfb FROM usage_events GROUP BY 1`,
    );
    for (const row of rows) {
      const point = report.series.find((p) => p.group.feature === row.feature_id)!;
      const got = [point.latencyMs!.p50, point.latencyMs!.p95, point.latencyMs!.p99, point.ttfbMs!.p50, point.ttfbMs!.p95, point.ttfbMs!.p99];
      [...row.latency, ...row.ttfb].forEach((exact: number, i: number) => expect(Math.abs(got[i]! - exact) / exact).toBeLessThan(0.1));
    }
  });

  it('counts live gateway traffic as soon as the ledger has written it', async () => {
    const hour = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000);
    for (let i = 0; i < 2; i++) await stack.client().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    await stack.ledger.flush();
    const to = new Date(hour.getTime() + 2 * 3_600_000);
    const report = await getJson<UsageReport>(stack, `/api/analytics/usage?from=${hour.toISOString()}&to=${to.toISOString()}&groupBy=model`);
    const [row] = (await stack.db.query(`SELECT ${EVENT_SUMS} FROM usage_events WHERE created_at >= $1`, [hour])).rows;
    expect(row.requests).toBeGreaterThanOrEqual(2);
    expectMatches(report.totals, row);
  });
});

describe('rollups', () => {
  // Each rollup of the registry, recomputed from a full scan of the ledger, and read back from its
  // table (summed by key: a key with a NULL part can be more than one row), as the same columns.
  // The ledger and the usage rollups store "no org" as the sentinel; the headroom and throttling rollups hold only real orgs.
  const LEDGER_HAS_ORG = hasOrgSql('org_id');
  const usage = (unit: string) => ({
    scan: `SELECT date_trunc('${unit}', created_at, 'UTC') AS t, org_id, feature_id, model, endpoint, price_id, count(*) AS requests,
        count(*) FILTER (WHERE outcome <> 'ok') AS errors, sum(input_tokens) AS i, sum(cached_tokens) AS c, sum(output_tokens) AS o,
        sum(audio_input_tokens) AS a, coalesce(sum(audio_seconds), 0) AS s, coalesce(sum(cost_nanos), 0) AS cost,
        coalesce(sum(cost_nanos) FILTER (WHERE usage_source = 'estimated'), 0) AS est, count(*) FILTER (WHERE cost_nanos IS NULL AND usage_source <> 'not_metered') AS unpriced
      FROM usage_events GROUP BY 1, 2, 3, 4, 5, 6`,
    stored: `SELECT ${unit}, org_id, feature_id, model, endpoint, price_id, sum(requests), sum(errors), sum(input_tokens), sum(cached_tokens), sum(output_tokens),
        sum(audio_input_tokens), sum(audio_seconds), sum(cost_nanos), sum(estimated_cost_nanos), sum(unpriced_requests) FROM usage_${unit === 'hour' ? 'hourly' : 'daily'} GROUP BY 1, 2, 3, 4, 5, 6`,
  });
  // The events once per tag they carry and once as their end user (tag ''; '' as a value is "other", NULL).
  const tagged = (unit: string) => ({
    scan: `SELECT date_trunc('${unit}', created_at, 'UTC') AS t, org_id, feature_id, model, endpoint, price_id, t.tag, t.value, count(*) AS requests,
        count(*) FILTER (WHERE outcome <> 'ok') AS errors, sum(input_tokens) AS i, sum(cached_tokens) AS c, sum(output_tokens) AS o,
        coalesce(sum(audio_seconds), 0) AS s, coalesce(sum(cost_nanos), 0) AS cost, count(*) FILTER (WHERE cost_nanos IS NULL AND usage_source <> 'not_metered') AS unpriced
      FROM usage_events e CROSS JOIN LATERAL (
        SELECT key, value FROM jsonb_each_text(e.tags) UNION ALL SELECT '', nullif(e.end_user, '') WHERE e.end_user IS NOT NULL) AS t(tag, value)
      GROUP BY 1, 2, 3, 4, 5, 6, 7, 8`,
    stored: `SELECT ${unit}, org_id, feature_id, model, endpoint, price_id, tag, value, sum(requests), sum(errors), sum(input_tokens), sum(cached_tokens), sum(output_tokens),
        sum(audio_seconds), sum(cost_nanos), sum(unpriced_requests) FROM usage_tag_${unit === 'hour' ? 'hourly' : 'daily'} GROUP BY 1, 2, 3, 4, 5, 6, 7, 8`,
  });
  const latency = (unit: string) => ({
    scan: `SELECT date_trunc('${unit}', created_at, 'UTC'), org_id, feature_id, model, endpoint, b.bucket, sum(b.l), sum(b.t)
      FROM usage_events CROSS JOIN LATERAL (VALUES (latency_bucket(latency_ms), 1, 0), (latency_bucket(ttfb_ms), 0, 1)) AS b(bucket, l, t)
      WHERE b.bucket IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6`,
    stored: `SELECT ${unit}, org_id, feature_id, model, endpoint, bucket, sum(latency_count), sum(ttfb_count) FROM usage_latency_${unit === 'hour' ? 'hourly' : 'daily'} GROUP BY 1, 2, 3, 4, 5, 6`,
  });
  const observedAt = `created_at + make_interval(secs => coalesce(ttfb_ms, latency_ms) / 1000.0)`;
  const SCANS: Record<string, { scan: string; stored: string }> = {
    usage_hourly: usage('hour'),
    usage_daily: usage('day'),
    usage_tag_hourly: tagged('hour'),
    usage_tag_daily: tagged('day'),
    usage_latency_hourly: latency('hour'),
    usage_latency_daily: latency('day'),
    ratelimit_minutes: {
      scan: `SELECT date_trunc('minute', ${observedAt}, 'UTC'), org_id, model_family(model), max(${observedAt}), min(rl_remaining_requests), min(rl_remaining_tokens), count(*)
        FROM usage_events WHERE ${LEDGER_HAS_ORG} AND model IS NOT NULL AND (rl_limit_requests IS NOT NULL OR rl_limit_tokens IS NOT NULL) GROUP BY 1, 2, 3`,
      stored: `SELECT minute, org_id, model, max(observed_at), min(min_remaining_requests), min(min_remaining_tokens), sum(observations) FROM ratelimit_minutes GROUP BY 1, 2, 3`,
    },
    throttle_minutes: {
      scan: `SELECT date_trunc('minute', created_at, 'UTC'), org_id, feature_id, model_family(model), count(*), count(*) FILTER (WHERE error_kind = 'rate_limit_requests'),
          count(*) FILTER (WHERE error_kind = 'rate_limit_tokens'), count(*) FILTER (WHERE error_kind = 'quota'), count(*) FILTER (WHERE retry_count > 0)
        FROM usage_events WHERE ${LEDGER_HAS_ORG} GROUP BY 1, 2, 3, 4`,
      stored: `SELECT minute, org_id, feature_id, model, sum(requests), sum(rate_limit_requests), sum(rate_limit_tokens), sum(quota), sum(retries) FROM throttle_minutes GROUP BY 1, 2, 3, 4`,
    },
  };

  it('has a full-scan check for every rollup of the registry', () => {
    expect(Object.keys(SCANS).sort()).toEqual(ROLLUPS.map((r) => r.table).sort());
  });

  it.each(ROLLUPS.map((r) => r.table))('%s agrees with a full scan of the ledger', async (table) => {
    const { scan, stored } = SCANS[table];
    expect((await stack.db.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n, `${table} has rows to compare`).toBeGreaterThan(0);
    const diff = await stack.db.query(`(${scan} EXCEPT ${stored}) UNION ALL (${stored} EXCEPT ${scan})`);
    expect(diff.rows, table).toEqual([]);
  });
});

describe('month to date', () => {
  it('gives spend so far, the same elapsed time last month and a forecast at the last 7 days’ rate', async () => {
    const report = await getJson<MonthToDateReport>(stack, '/api/analytics/month-to-date?asOf=2025-03-15T12:30:00Z&groupBy=feature');
    const sum = async (from: string, to: string, feature: string) =>
      BigInt((await stack.db.query(`SELECT coalesce(sum(cost_nanos), 0)::text AS s FROM usage_events WHERE created_at >= $1 AND created_at < $2 AND feature_id = $3`, [from, to, feature])).rows[0].s);
    expect(report.meta.through).toBe('2025-03-15T13:00:00.000Z');
    expect(report.meta.previousTo).toBe('2025-02-15T13:00:00.000Z');
    for (const feature of stack.features.slice(0, 2)) {
      const line = report.lines.find((l) => l.group === feature.id)!;
      const mtd = await sum('2025-03-01Z', '2025-03-15T13:00Z', feature.id);
      const prev = await sum('2025-02-01Z', '2025-02-15T13:00Z', feature.id);
      const last7 = await sum('2025-03-08T13:00Z', '2025-03-15T13:00Z', feature.id);
      const remaining = BigInt(Date.parse('2025-04-01Z') - Date.parse('2025-03-15T13:00Z'));
      const week = BigInt(7 * 24 * 3_600_000);
      expect(line.spendNanos).toBe(mtd.toString());
      expect(line.previousNanos).toBe(prev.toString());
      expect(line.forecastNanos).toBe((mtd + (last7 * remaining + week / 2n) / week).toString());
      expect(line.changeNanos).toBe((mtd - prev).toString());
    }
  });
});

describe('monthly statement', () => {
  it('has one line per feature, model and price that add up exactly to the org’s events of the month in its time zone', async () => {
    const org = stack.orgs[0];
    const statement = await getJson<Statement>(stack, `/api/analytics/statements?org=${org.id}&month=2025-03&tz=${NY}`);
    const [events] = (
      await stack.db.query(
        `SELECT coalesce(sum(cost_nanos), 0)::text AS cost, count(*)::int AS requests, sum(input_tokens)::int AS input FROM usage_events
         WHERE org_id = $1 AND created_at >= '2025-03-01'::timestamp AT TIME ZONE $2 AND created_at < '2025-04-01'::timestamp AT TIME ZONE $2`,
        [org.id, NY],
      )
    ).rows;
    expect(statement.total.costNanos).toBe(events.cost);
    expect(statement.total.requests).toBe(events.requests);
    expect(statement.total.inputTokens).toBe(events.input);
    expect(statement.lines.reduce((s, l) => s + BigInt(l.costNanos), 0n).toString()).toBe(statement.total.costNanos);
    const keys = statement.lines.map((l) => `${l.featureId}|${l.model}|${l.unitPrices?.priceId}`);
    expect(new Set(keys).size).toBe(keys.length);
    const mini = statement.lines.find((l) => l.model === 'gpt-4o-mini' && l.unitPrices)!;
    expect(mini.unitPrices).toMatchObject({ inputPerMtok: '0.150000', outputPerMtok: '0.600000' });
    const whisper = statement.lines.find((l) => l.model === 'whisper-1' && l.unitPrices)!;
    expect(Number(whisper.audioMinutes)).toBeCloseTo(Number(whisper.audioSeconds) / 60, 3);
    expect(statement.lines.some((l) => l.model === 'mystery-model' && l.unpricedRequests > 0 && l.unitPrices === null)).toBe(true);

    const response = await api(stack, `/api/analytics/statements?org=${org.id}&month=2025-03&tz=${NY}&format=csv`);
    expect(response.headers.get('content-type')).toMatch(/^text\/csv/);
    const all = parseCsv(await response.text());
    // The lines and TOTAL, then a blank row and the reconciliation block (off here: no admin key).
    const blank = all.findIndex((r) => r.length === 1 && r[0] === '');
    const csv = all.slice(0, blank);
    expect(all[blank + 1]).toEqual(StatementService.RECONCILIATION_HEADER);
    expect(all[blank + 2][all[blank + 1].indexOf('reconciliation')]).toBe('off');
    expect(csv[0]).toEqual(StatementService.CSV_HEADER);
    expect(csv).toHaveLength(statement.lines.length + 2);
    const cost = csv[0].indexOf('cost_nanos');
    expect(csv.at(-1)![csv[0].indexOf('feature')]).toBe('TOTAL');
    expect(csv.at(-1)![cost]).toBe(statement.total.costNanos);
    expect(csv.slice(1, -1).reduce((s, r) => s + BigInt(r[cost]), 0n).toString()).toBe(statement.total.costNanos);
  });

  it('answers 404 for an unknown org', async () => {
    const response = await api(stack, `/api/analytics/statements?org=00000000-0000-4000-8000-000000000000&month=2025-03`);
    expect(response.status).toBe(404);
  });
});

describe('CSV export of usage events', () => {
  it('streams every matching event with the right header, escaping and row count', async () => {
    const org = stack.orgs[0];
    await writeEvents(stack, [
      usageEvent({ createdAt: new Date('2025-02-10T10:00:00Z'), orgId: org.id, model: 'odd,"model"\nname' }),
      usageEvent({ createdAt: new Date('2025-02-10T11:00:00Z'), orgId: org.id, model: '=HYPERLINK("http://x")', costNanos: null }),
    ]);
    const response = await api(stack, `/api/analytics/exports/usage-events.csv?from=2025-02-01&to=2025-04-01&tz=${NY}&org=${org.id}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-disposition')).toMatch(/attachment; filename="usage-events-.*\.csv"/);
    const rows = parseCsv(await response.text());
    const [{ n }] = (
      await stack.db.query(
        `SELECT count(*)::int AS n FROM usage_events WHERE org_id = $1 AND created_at >= '2025-02-01'::timestamp AT TIME ZONE $2 AND created_at < '2025-04-01'::timestamp AT TIME ZONE $2`,
        [org.id, NY],
      )
    ).rows;
    expect(rows[0]).toEqual(EVENTS_CSV_HEADER);
    expect(rows).toHaveLength(n + 1);
    expect(rows.every((r) => r.length === EVENTS_CSV_HEADER.length)).toBe(true);
    const model = rows[0].indexOf('model');
    expect(rows.some((r) => r[model] === 'odd,"model"\nname')).toBe(true);
    expect(rows.some((r) => r[model] === `'=HYPERLINK("http://x")`)).toBe(true);
    const created = rows[0].indexOf('created_at');
    const times = rows.slice(1).map((r) => r[created]);
    expect([...times].sort()).toEqual(times);
    expect(times[0] >= '2025-02-01T05:00:00.000Z').toBe(true);
  });

  it('sends just the header for an empty range', async () => {
    const response = await api(stack, '/api/analytics/exports/usage-events.csv?from=2020-01-01&to=2020-01-02');
    expect(parseCsv(await response.text())).toEqual([EVENTS_CSV_HEADER]);
  });
});

describe('validation and access', () => {
  it.each([
    ['/api/analytics/usage?from=2025-01-01&to=2025-02-01&colour=red', /Unknown parameter\(s\): colour/],
    ['/api/analytics/usage?from=2025-02-01&to=2025-01-01', /from .* must be before to/],
    ['/api/analytics/usage?from=2025-01-01&to=2025-02-01&tz=Mars/Olympus', /Unknown time zone "Mars\/Olympus"/],
    ['/api/analytics/usage?from=2025-01-01T10:15:00Z&to=2025-02-01', /from must fall on a whole hour/],
    ['/api/analytics/usage?from=yesterday&to=2025-02-01', /from: expected a date/],
    ['/api/analytics/usage?from=2025-01-01&to=2025-12-01&interval=hour', /buckets/],
    ['/api/analytics/usage?from=2025-01-01&to=2025-02-01&groupBy=colour', /groupBy/],
    ['/api/analytics/usage?from=2025-01-01&to=2025-02-01&org=not-a-uuid', /org/],
    ['/api/analytics/statements?org=00000000-0000-4000-8000-000000000000&month=2025-13', /month: expected a month/],
    ['/api/analytics/exports/usage-events.csv?from=2025-01-01&to=2025-02-01&format=xlsx', /Unknown parameter\(s\): format/],
  ])('%s → 400 that says what is wrong', async (path, message) => {
    const response = await api(stack, path);
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { message: string; type: string } };
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.message).toMatch(message);
  });

  it('refuses callers without credentials', async () => {
    const response = await fetch(`${stack.url}/api/analytics/usage?from=2025-01-01&to=2025-02-01`);
    expect(response.status).toBe(401);
  });
});
