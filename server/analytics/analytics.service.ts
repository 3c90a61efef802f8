// Spend, usage and latency for the dashboard and finance, read from the rollups (never the ledger).
import { Injectable } from '@nestjs/common';
import { badRequest } from '../http/openai-error.js';
import { nanosToUsd } from '../pricing/cost.js';
import type { Dimension, Interval, MonthToDateQueryInput, UsageQueryInput } from './analytics.dto.js';
import { AnalyticsRepository, type MonthBounds } from './analytics.repository.js';
import type { Catalog } from './catalog.types.js';
import { mergeInto, percentiles, type Histogram, type Percentiles } from './percentiles.js';
import { addUsage, RollupsRepository, type ComponentSums, type RollupFilters, type RollupRange, type UsageRow } from './rollups.repository.js';
import type { MonthToDateLine, MonthToDateReport, TagKind, UsagePoint, UsageReport, UsageTotals } from '../contract/analytics.js';

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

export type { TagKind } from '../contract/analytics.js';
type KindedRow = UsageRow & { kind?: TagKind };

/** Which tag rollup a query reads: one attribution key per query ('' is the end user). */
export interface TaggedQuery {
  tag: string;
  values?: string[];
  /** Grouped by it: the top values, found first; the others are read as "other". */
  keep?: string[];
  /** Set when the query groups by it. */
  dimension?: 'tag' | 'endUser';
}

export function taggedQuery(input: Pick<UsageQueryInput, 'tag' | 'tagValue' | 'endUser'>, groupBy: readonly Dimension[]): TaggedQuery | undefined {
  const byTag = groupBy.includes('tag');
  const byUser = groupBy.includes('endUser');
  if (byTag && !input.tag) throw badRequest('groupBy=tag needs the tag to group by: add tag=<name> (e.g. tag=customer).', 'tag', 'missing_tag');
  if (input.tagValue?.length && !input.tag) throw badRequest('tagValue needs the tag it is a value of: add tag=<name>.', 'tag', 'missing_tag');
  const tagUsed = byTag || !!input.tagValue?.length;
  const userUsed = byUser || !!input.endUser?.length;
  if (tagUsed && userUsed) {
    throw badRequest('A query may group or filter by one tag or by end user, not both: drop one of tag/tagValue and endUser.', 'endUser', 'too_many_tags');
  }
  if (tagUsed) return { tag: input.tag!, values: input.tagValue?.length ? input.tagValue : undefined, dimension: byTag ? 'tag' : undefined };
  if (userUsed) return { tag: '', values: input.endUser?.length ? input.endUser : undefined, dimension: byUser ? 'endUser' : undefined };
  return undefined;
}

const rowKey = (bucket: Date | null, groups: Partial<Record<string, string | null>>, dims: readonly string[], kind = '') =>
  `${bucket?.getTime() ?? ''}|${dims.map((d) => groups[d] ?? '').join('|')}|${kind}`;

/**
 * Rows grouped by a tag's values, made into what finance reads: the `top` values (by spend, or
 * requests without money), the rest and the values recorded past the cap as "other", and, when no
 * value filter was given, the calls without the tag as "untagged" (the untagged query's rows minus
 * the tagged ones: exact, both rollups come from the same inserts), so the groups add up to the
 * same totals as the query without the tag.
 */
export function topTagValues(tagged: KindedRow[], untagged: UsageRow[] | undefined, dimension: 'tag' | 'endUser', groupBy: readonly Dimension[], top: number, money: boolean): KindedRow[] {
  const weight = new Map<string, bigint>();
  for (const row of tagged) {
    const value = row.groups[dimension];
    if (value !== null && value !== undefined) weight.set(value, (weight.get(value) ?? 0n) + (money ? row.costNanos : row.requests));
  }
  const kept = new Set(
    [...weight.entries()]
      .sort((a, b) => (a[1] === b[1] ? (a[0] < b[0] ? -1 : 1) : a[1] > b[1] ? -1 : 1))
      .slice(0, top)
      .map(([value]) => value),
  );
  const merged = new Map<string, KindedRow>();
  const add = (row: UsageRow, kind: TagKind, sign: 1 | -1 = 1) => {
    const groups = { ...row.groups, [dimension]: kind === 'value' ? row.groups[dimension] : null };
    const key = rowKey(row.bucket, groups, groupBy, kind);
    let target = merged.get(key);
    if (!target) {
      merged.set(key, (target = { ...row, groups, kind, audioSeconds: '0.000', ...ZERO_COUNTS }));
    }
    addUsage(target, row, sign);
  };
  for (const row of tagged) {
    const value = row.groups[dimension];
    add(row, value !== null && value !== undefined && kept.has(value) ? 'value' : 'other');
  }
  if (untagged) {
    for (const row of untagged) add({ ...row, groups: { ...row.groups, [dimension]: null } }, 'untagged');
    for (const row of tagged) add({ ...row, groups: { ...row.groups, [dimension]: null } }, 'untagged', -1);
  }
  const order: Record<TagKind, number> = { value: 0, other: 1, untagged: 2 };
  return [...merged.values()]
    .filter((r) => r.requests !== 0n || r.costNanos !== 0n)
    .sort(
      (a, b) =>
        (a.bucket?.getTime() ?? 0) - (b.bucket?.getTime() ?? 0) ||
        order[a.kind!] - order[b.kind!] ||
        rowKey(null, a.groups, groupBy).localeCompare(rowKey(null, b.groups, groupBy)),
    );
}

const ZERO_COUNTS = {
  requests: 0n, errors: 0n, inputTokens: 0n, cachedTokens: 0n, outputTokens: 0n, reasoningTokens: 0n, audioInputTokens: 0n,
  audioOutputTokens: 0n, imageInputTokens: 0n, imageOutputTokens: 0n, characters: 0n, images: 0n, webSearchCalls: 0n,
  webSearchPreviewCalls: 0n, fileSearchCalls: 0n, costNanos: 0n, estimatedCostNanos: 0n, estimatedRequests: 0n, unpricedRequests: 0n,
  notMeteredRequests: 0n,
} satisfies Partial<UsageRow>;

const TAG_LABEL: Record<TagKind, string | null> = { value: null, other: '(other)', untagged: '(untagged)' };


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
    const tagged = taggedQuery(input, groupBy);
    const filters = await this.resolveFilters(input);
    const top = input.top ?? 10;
    if (tagged?.dimension) {
      const ranked = { from: range.from, to: range.to, tz: input.tz, groupBy, filters, tagged };
      tagged.keep = await this.rollups.topValues(ranked, top, options.money);
    }
    const query: RollupRange = { from: range.from, to: range.to, tz: input.tz, interval, groupBy, filters, tagged };
    // Latency histograms are not kept per tag: a tagged query has no percentiles.
    const withLatency = options.latency && !tagged;
    const dimension = tagged?.dimension;
    const [found, untagged, histograms, buckets] = await Promise.all([
      this.rollups.usage(query),
      dimension && !tagged.values ? this.rollups.usage({ ...query, tagged: undefined, groupBy: groupBy.filter((d) => d !== dimension) }) : undefined,
      withLatency ? this.rollups.histograms(query) : Promise.resolve([]),
      this.rollups.buckets(query),
    ]);
    const rows: KindedRow[] = dimension ? topTagValues(found, untagged, dimension, groupBy, top, options.money) : found;
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
      const label = (d: Dimension) => (d === dimension && row.kind !== 'value' ? TAG_LABEL[row.kind!]! : labelOf(labels, d, row.groups[d] ?? null));
      return {
        bucket: row.bucket?.toISOString() ?? null,
        label: row.label,
        group: row.groups as Partial<Record<Dimension, string | null>>,
        groupLabel: groupBy.length ? groupBy.map(label).join(' / ') : null,
        ...(row.kind ? { tagKind: row.kind } : {}),
        ...totalsOf(row, options.money, withLatency ? (h?.latency ?? empty) : undefined, withLatency ? (h?.ttfb ?? empty) : undefined),
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
        ...(tagged ? { tag: tagged.tag === '' ? null : tagged.tag, tagValues: tagged.tag === '' ? null : (tagged.values ?? null), endUsers: tagged.tag === '' ? (tagged.values ?? null) : null } : {}),
        approximate: range.approximate,
        buckets: buckets.map((b) => ({ bucket: b.bucket.toISOString(), label: b.label })),
      },
      series,
      totals: totalsOf(total.row, options.money, withLatency ? total.latency : undefined, withLatency ? total.ttfb : undefined),
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
