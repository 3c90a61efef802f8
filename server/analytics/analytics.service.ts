// Spend, usage and latency for the dashboard and finance, read from the rollups (never the ledger).
import { Injectable } from '@nestjs/common';
import { badRequest } from '../http/openai-error.js';
import { nanosToUsd } from '../pricing/cost.js';
import type { Dimension, Interval, MonthToDateQueryInput, UsageQueryInput } from './analytics.dto.js';
import { AnalyticsRepository, type MonthBounds } from './analytics.repository.js';
import type { Catalog } from './catalog.types.js';
import { mergeInto, percentiles, type Histogram, type Percentiles } from './percentiles.js';
import { RollupsRepository, type ComponentSums, type RollupFilters, type RollupRange, type UsageRow } from './rollups.repository.js';
import type { MonthToDateLine, MonthToDateReport, UsagePoint, UsageReport, UsageTotals } from '../contract/analytics.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const MAX_RANGE_MS = 5 * 366 * DAY_MS;
const MAX_BUCKETS = 2_000;
const FORECAST_WINDOW_MS = 7 * DAY_MS;
const ABSOLUTE = /(Z|[+-]\d{2}:?\d{2})$/;

export interface ResolvedRange {
  from: Date;
  to: Date;
  /** True when a boundary in the time zone is not a whole UTC hour (half-hour zones): it took effect at the next hour. */
  approximate: boolean;
}

// What the routes answer is the API contract's (server/contract/analytics.ts): the same types here.
export type { MonthToDateLine, MonthToDateReport, UsageReport } from '../contract/analytics.js';
export type Totals = UsageTotals;
export type SeriesPoint = UsagePoint;

interface Accumulator {
  row: Omit<UsageRow, 'bucket' | 'label' | 'groups' | ComponentSums>;
  latency: Histogram;
  ttfb: Histogram;
}

const zeroRow = (): Accumulator['row'] => ({
  requests: 0n,
  errors: 0n,
  inputTokens: 0n,
  cachedTokens: 0n,
  outputTokens: 0n,
  reasoningTokens: 0n,
  audioInputTokens: 0n,
  audioSeconds: '0.000',
  costNanos: 0n,
  estimatedCostNanos: 0n,
  estimatedRequests: 0n,
  unpricedRequests: 0n,
  notMeteredRequests: 0n,
});

/** Exact sum of two 3-decimal strings (milliseconds as BigInt). */
const addSeconds = (a: string, b: string) => {
  const millis = (s: string) => BigInt(s.replace('.', ''));
  const sum = millis(a) + millis(b);
  return `${sum / 1000n}.${(sum % 1000n).toString().padStart(3, '0')}`;
};

function addRow(target: Accumulator['row'], source: Accumulator['row']): void {
  target.requests += source.requests;
  target.errors += source.errors;
  target.inputTokens += source.inputTokens;
  target.cachedTokens += source.cachedTokens;
  target.outputTokens += source.outputTokens;
  target.reasoningTokens += source.reasoningTokens;
  target.audioInputTokens += source.audioInputTokens;
  target.audioSeconds = addSeconds(target.audioSeconds, source.audioSeconds);
  target.costNanos += source.costNanos;
  target.estimatedCostNanos += source.estimatedCostNanos;
  target.estimatedRequests += source.estimatedRequests;
  target.unpricedRequests += source.unpricedRequests;
  target.notMeteredRequests += source.notMeteredRequests;
}

const share = (part: bigint, whole: bigint) => (whole === 0n ? 0 : Number((part * 1_000_000n) / whole) / 1_000_000);

export interface UsageOptions {
  latency: boolean;
  /** Include spend (spendNanos, spendUsd, estimated cost): false for engineers. */
  money: boolean;
}

function totalsOf(row: Accumulator['row'], money: boolean, latency?: Histogram, ttfb?: Histogram): Totals {
  return {
    ...(money
      ? {
          spendNanos: row.costNanos.toString(),
          spendUsd: nanosToUsd(row.costNanos),
          estimatedCostNanos: row.estimatedCostNanos.toString(),
          estimatedCostShare: share(row.estimatedCostNanos, row.costNanos),
        }
      : {}),
    requests: Number(row.requests),
    errors: Number(row.errors),
    inputTokens: Number(row.inputTokens),
    cachedTokens: Number(row.cachedTokens),
    outputTokens: Number(row.outputTokens),
    reasoningTokens: Number(row.reasoningTokens),
    audioInputTokens: Number(row.audioInputTokens),
    audioSeconds: row.audioSeconds,
    estimatedRequests: Number(row.estimatedRequests),
    unpricedRequests: Number(row.unpricedRequests),
    unpricedRequestShare: share(row.unpricedRequests, row.requests),
    notMeteredRequests: Number(row.notMeteredRequests),
    ...(latency && ttfb ? { latencyMs: percentiles(latency), ttfbMs: percentiles(ttfb) } : {}),
  };
}

const filtersOf = (input: Partial<Record<keyof RollupFilters, string[] | undefined>>): RollupFilters =>
  Object.fromEntries(Object.entries(input).filter(([k, v]) => ['org', 'feature', 'model', 'endpoint', 'family'].includes(k) && v?.length)) as RollupFilters;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

@Injectable()
export class AnalyticsService {
  constructor(
    private readonly store: AnalyticsRepository,
    private readonly rollups: RollupsRepository,
  ) {}

  /**
   * Turns from/to as given (local to `tz` unless they carry Z or an offset) into instants.
   * Rollups are hourly: an instant that is not on a whole hour is a 400; a local boundary that
   * falls between hours (half-hour zones) takes effect at the next hour and is flagged approximate.
   */
  async resolveRange(fromText: string, toText: string, tz: string, options: { wholeHours: boolean }): Promise<ResolvedRange> {
    let row: { from: Date; to: Date };
    try {
      row = await this.store.instants(fromText, ABSOLUTE.test(fromText), toText, ABSOLUTE.test(toText), tz);
    } catch (error) {
      throw this.translate(error, tz);
    }
    const { from, to } = row;
    if (from.getTime() >= to.getTime()) throw badRequest(`from (${from.toISOString()}) must be before to (${to.toISOString()}).`, 'from', 'invalid_range');
    if (to.getTime() - from.getTime() > MAX_RANGE_MS) throw badRequest('The range may span at most 5 years.', 'to', 'range_too_long');
    let approximate = false;
    const boundaries = [
      ['from', fromText, from],
      ['to', toText, to],
    ] as const;
    for (const [name, text, at] of boundaries) {
      if (!options.wholeHours || at.getTime() % HOUR_MS === 0) continue;
      if (ABSOLUTE.test(text)) {
        throw badRequest(`${name} must fall on a whole hour (usage is rolled up by the hour); the CSV export takes any instant.`, name, 'invalid_range');
      }
      approximate = true;
    }
    return { from, to, approximate };
  }

  private translate(error: unknown, tz: string): unknown {
    const code = (error as { code?: string }).code;
    if (code === '22023' || code === '22007' || code === '22008') {
      const message = (error as Error).message;
      if (/time zone/i.test(message)) return badRequest(`Unknown time zone "${tz}": use an IANA name such as Europe/Paris.`, 'tz', 'invalid_time_zone');
      return badRequest(`Invalid date: ${message}.`, null, 'invalid_date');
    }
    return error;
  }

  /** The HTTP routes always say whether the caller sees money; in-process callers (bench) get all. */
  async usage(input: UsageQueryInput, { latency = true, money = true }: Partial<UsageOptions> = {}): Promise<UsageReport> {
    const options: UsageOptions = { latency, money };
    const range = await this.resolveRange(input.from, input.to, input.tz, { wholeHours: true });
    const interval = input.interval;
    if (interval) {
      const span = range.to.getTime() - range.from.getTime();
      const buckets = Math.ceil(span / (interval === 'hour' ? HOUR_MS : interval === 'day' ? DAY_MS : 28 * DAY_MS));
      if (buckets > MAX_BUCKETS) {
        throw badRequest(`That is about ${buckets} ${interval} buckets (at most ${MAX_BUCKETS}): use a coarser interval or a shorter range.`, 'interval', 'too_many_buckets');
      }
    }
    const groupBy = [...new Set(input.groupBy ?? [])];
    const filters = await this.resolveFilters(input);
    const query: RollupRange = { from: range.from, to: range.to, tz: input.tz, interval, groupBy, filters };
    const [rows, histograms, buckets] = await Promise.all([
      this.rollups.usage(query),
      options.latency ? this.rollups.histograms(query) : Promise.resolve([]),
      this.rollups.buckets(query),
    ]);
    const labels = groupBy.length ? await this.labels() : new Map<string, string>();

    const keyOf = (bucket: Date | null, groups: Partial<Record<string, string | null>>) =>
      `${bucket?.getTime() ?? ''}|${groupBy.map((d) => groups[d] ?? '').join('|')}`;
    const histogramByKey = new Map(histograms.map((h) => [keyOf(h.bucket, h.groups), h]));
    const total: Accumulator = { row: zeroRow(), latency: new Map(), ttfb: new Map() };
    for (const h of histograms) {
      mergeInto(total.latency, h.latency);
      mergeInto(total.ttfb, h.ttfb);
    }
    const series: SeriesPoint[] = rows.map((row) => {
      addRow(total.row, row);
      const h = histogramByKey.get(keyOf(row.bucket, row.groups));
      const empty: Histogram = new Map();
      return {
        bucket: row.bucket?.toISOString() ?? null,
        label: row.label,
        group: row.groups as Partial<Record<Dimension, string | null>>,
        groupLabel: groupBy.length ? groupBy.map((d) => labelOf(labels, d, row.groups[d] ?? null)).join(' / ') : null,
        ...totalsOf(row, options.money, options.latency ? (h?.latency ?? empty) : undefined, options.latency ? (h?.ttfb ?? empty) : undefined),
      };
    });
    return {
      meta: {
        from: range.from.toISOString(),
        to: range.to.toISOString(),
        tz: input.tz,
        interval: interval ?? null,
        groupBy,
        filters,
        approximate: range.approximate,
        buckets: buckets.map((b) => ({ bucket: b.bucket.toISOString(), label: b.label })),
      },
      series,
      totals: totalsOf(total.row, options.money, options.latency ? total.latency : undefined, options.latency ? total.ttfb : undefined),
    };
  }

  /**
   * Spend so far this month (in tz) per org or feature, a forecast to month end at the last
   * 7 days' rate, and the change against the same elapsed time of the previous month.
   */
  async monthToDate(input: MonthToDateQueryInput): Promise<MonthToDateReport> {
    const asOf = input.asOf ? new Date(input.asOf) : new Date();
    let bounds: MonthBounds;
    try {
      bounds = await this.store.monthBounds(asOf, input.tz);
    } catch (error) {
      throw this.translate(error, input.tz);
    }
    const monthStart = bounds.month_start;
    const monthEnd = bounds.month_end;
    // The current hour's rollup row already holds what happened so far in it.
    const through = new Date(Math.min(bounds.through.getTime(), monthEnd.getTime()));
    const previousFrom = bounds.prev_start;
    const previousTo = new Date(Math.min(previousFrom.getTime() + (through.getTime() - monthStart.getTime()), monthStart.getTime()));
    const windowFrom = new Date(through.getTime() - FORECAST_WINDOW_MS);
    const groupBy = [input.groupBy];
    const filters = await this.resolveFilters(input);
    const read = (from: Date, to: Date) => this.rollups.usage({ from, to, tz: input.tz, groupBy, filters });
    const [current, previous, recent, labels] = await Promise.all([
      read(monthStart, through),
      read(previousFrom, previousTo),
      read(windowFrom, through),
      this.labels(),
    ]);
    const remainingMs = BigInt(Math.max(0, monthEnd.getTime() - through.getTime()));
    const byGroup = (rows: UsageRow[]) => new Map(rows.map((r) => [r.groups[input.groupBy] ?? null, r]));
    const [cur, prev, rec] = [byGroup(current), byGroup(previous), byGroup(recent)];
    const groups = [...new Set([...cur.keys(), ...prev.keys()])];
    const line = (spend: bigint, requests: bigint, last7: bigint, previousSpend: bigint) => {
      const forecast = spend + (last7 * remainingMs + BigInt(FORECAST_WINDOW_MS) / 2n) / BigInt(FORECAST_WINDOW_MS);
      return {
        spendNanos: spend.toString(),
        spendUsd: nanosToUsd(spend),
        requests: Number(requests),
        forecastNanos: forecast.toString(),
        forecastUsd: nanosToUsd(forecast),
        previousNanos: previousSpend.toString(),
        previousUsd: nanosToUsd(previousSpend),
        changeNanos: (spend - previousSpend).toString(),
        changePct: previousSpend === 0n ? null : Number(((spend - previousSpend) * 10_000n) / previousSpend) / 100,
      };
    };
    const lines: MonthToDateLine[] = groups.map((g) => ({
      group: g,
      groupLabel: labelOf(labels, input.groupBy, g),
      ...line(cur.get(g)?.costNanos ?? 0n, cur.get(g)?.requests ?? 0n, rec.get(g)?.costNanos ?? 0n, prev.get(g)?.costNanos ?? 0n),
    }));
    lines.sort((a, b) => (BigInt(b.spendNanos) > BigInt(a.spendNanos) ? 1 : BigInt(b.spendNanos) < BigInt(a.spendNanos) ? -1 : 0));
    const sum = (rows: UsageRow[], pick: (r: UsageRow) => bigint) => rows.reduce((s, r) => s + pick(r), 0n);
    const approximate = [monthStart, monthEnd, previousFrom].some((d) => d.getTime() % HOUR_MS !== 0);
    return {
      meta: {
        tz: input.tz,
        asOf: asOf.toISOString(),
        monthStart: monthStart.toISOString(),
        monthEnd: monthEnd.toISOString(),
        through: through.toISOString(),
        previousFrom: previousFrom.toISOString(),
        previousTo: previousTo.toISOString(),
        groupBy: input.groupBy,
        forecast: 'month-to-date spend plus the last 7 days’ average rate over the rest of the month',
        approximate,
      },
      lines,
      totals: line(
        sum(current, (r) => r.costNanos),
        sum(current, (r) => r.requests),
        sum(recent, (r) => r.costNanos),
        sum(previous, (r) => r.costNanos),
      ),
    };
  }

  /**
   * Filters with org and feature references turned into ids: a uuid is kept as is; anything else
   * is a feature slug, or an org's name or OpenAI org id. Only non-uuid values cost a query.
   */
  async resolveFilters(input: Partial<Record<keyof RollupFilters, string[] | undefined>>): Promise<RollupFilters> {
    const filters = filtersOf(input);
    for (const dim of ['org', 'feature'] as const) {
      const values = filters[dim];
      const names = values?.filter((v) => !UUID.test(v)) ?? [];
      if (!values || !names.length) continue;
      const rows = await this.store.idsByRef(dim, names);
      const byRef = new Map(rows.map((r) => [r.ref, r.id]));
      const unknown = names.filter((n) => !byRef.has(n));
      if (unknown.length) {
        const what = dim === 'org' ? 'an org id, name or OpenAI org id (org-…)' : 'a feature id or slug';
        throw badRequest(`Unknown ${dim} "${unknown[0]}": use ${what}; GET /api/analytics/catalog lists them.`, dim, `unknown_${dim}`);
      }
      filters[dim] = [...new Set(values.map((v) => (UUID.test(v) ? v : byRef.get(v)!)))];
    }
    return filters;
  }

  /** Every org, feature and model for the filter lists, including those with no traffic yet. */
  async catalog(): Promise<Catalog> {
    return this.store.catalog();
  }

  /** Display names: org name, feature slug (few rows; read per request so renames show at once). */
  async labels(): Promise<Map<string, string>> {
    const { orgs, features } = await this.store.names();
    return new Map([...orgs.map((o) => [`org:${o.id}`, o.name] as const), ...features.map((f) => [`feature:${f.id}`, f.name] as const)]);
  }
}

export function labelOf(labels: Map<string, string>, dimension: string, value: string | null): string {
  if (value === null) return dimension === 'org' || dimension === 'feature' ? `(no ${dimension})` : '(none)';
  return labels.get(`${dimension}:${value}`) ?? value;
}
