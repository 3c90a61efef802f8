// The dashboard's view of the analytics API (/api/analytics, docs/api-analytics.md) and the
// rate-limit API (/api/headroom, /api/throttling, docs/api-ratelimits.md). Pages ask for what they
// draw; this module knows the endpoints and their shapes, so API changes are wired here only.
import { api, type Query } from './api.js';
import { idOf, remember } from './catalog.js';
import { resolveRange, type Bucket, type Filters } from './filters.js';
import { formatBucket } from './format.js';
// The API contract's types (type-only: nothing of the server is bundled): what the server validates and answers.
import type {
  AnonymousMinute,
  Dimension,
  ErrorClass,
  ErrorGroup,
  ErrorsResponse,
  LatestHeadroom,
  MonthToDateReport,
  OrgRef,
  Percentiles,
  QueryOf,
  ResponseOf,
  Statement,
  StatementLine,
  ThrottleCounts,
  ThrottlingSummaryRow,
  UsagePoint,
  UsageReport,
  UsageTotals,
  analyticsRoutes,
  attributionAnalyticsRoutes,
  rateLimitRoutes,
  statementRoutes,
} from '../../server/contract/index.js';
import type { TagCatalog, TagStatement } from '../../server/contract/attribution.js';

export type { TagCatalog, TagStatement };

export type { AnonymousMinute, ErrorClass, ErrorGroup, ErrorsResponse, LatestHeadroom, Percentiles, Statement, StatementLine, ThrottleCounts, ThrottlingSummaryRow, UsagePoint, UsageReport, UsageTotals };
export type MonthToDate = MonthToDateReport;

/** `family`: chat, responses, embeddings, images, speech, transcription, batch, realtime, other (server/analytics/endpoint-family.ts); `tag`, `endUser`: attribution. */
export type GroupBy = Dimension;
type Dim = 'org' | 'feature' | 'model';
type RateLimitAnswer<K extends keyof typeof rateLimitRoutes> = ResponseOf<(typeof rateLimitRoutes)[K]>;

// ---------------------------------------------------------------- queries

const DAY = 86_400_000;
/** The rate-limit API keeps per-minute history and answers at most 31 days at a time. */
const RATE_LIMIT_MAX_MS = 31 * DAY;

function range(f: Filters, maxMs = Infinity): { from: string; to: string } {
  const { from, to } = resolveRange(f);
  const start = Math.max(from.getTime(), to.getTime() - maxMs);
  return { from: new Date(start).toISOString(), to: to.toISOString() };
}

/** URLs may name an org or feature by slug or name; every API gets the id (the rate-limit API takes ids only). */
const filterQuery = (f: Filters): Query => ({ org: idOf('org', f.org), feature: idOf('feature', f.feature), model: f.model });

const HOUR = 3_600_000;

/**
 * Usage is rolled up by the hour: instants are widened to whole hours. Edges that are local
 * midnights go as calendar days, read by the server in `tz` (Postgres's tz database, the same one
 * its buckets and statements use), not as instants the browser computed.
 */
export function usageQuery(f: Filters, extra: Query = {}): Query {
  const { from, to, fromDay, toDay } = resolveRange(f);
  const start = Math.floor(from.getTime() / HOUR) * HOUR;
  const end = Math.max(Math.ceil(to.getTime() / HOUR) * HOUR, start + HOUR);
  return { from: fromDay ?? new Date(start).toISOString(), to: toDay ?? new Date(end).toISOString(), tz: f.tz, ...filterQuery(f), ...extra };
}

/** The period of the same length just before the range, as whole-hour instants. */
function previousQuery(f: Filters, extra: Query): Query {
  const { from, to } = resolveRange(f);
  const start = Math.floor(from.getTime() / HOUR) * HOUR;
  const end = Math.max(Math.ceil(to.getTime() / HOUR) * HOUR, start + HOUR);
  return { ...usageQuery(f, extra), from: new Date(start - (end - start)).toISOString(), to: new Date(start).toISOString() };
}

function rememberPoints(points: UsagePoint[], groupBy: GroupBy[]): void {
  if (groupBy.length !== 1 || !['org', 'feature', 'model'].includes(groupBy[0])) return; // not filter choices in the catalog
  for (const p of points) remember(groupBy[0] as Dim, p.group[groupBy[0]], p.groupLabel);
}

/** Attribution parameters of a usage query (docs/attribution.md): the tag to group by, its top N. */
export interface TagOptions {
  tag?: string;
  top?: number;
}

export async function usage(f: Filters, options: { interval?: Bucket; groupBy?: GroupBy; latency?: boolean; previous?: boolean } & TagOptions, signal?: AbortSignal): Promise<UsageReport> {
  const extra = { interval: options.interval, groupBy: options.groupBy, tag: options.tag, top: options.top };
  const q = options.previous ? previousQuery(f, extra) : usageQuery(f, extra);
  const report = await api.get<ResponseOf<typeof analyticsRoutes.usage>>(options.latency ? '/api/analytics/usage' : '/api/analytics/spend', q, signal);
  rememberPoints(report.series, options.groupBy ? [options.groupBy] : []);
  return report;
}

export interface Group {
  key: string;
  name: string;
  /** Nano-dollars per bucket (decimal strings). */
  values: string[];
  totals: { requests: number; inputTokens: number; outputTokens: number; costNanos: string; estimatedCostNanos: string; unpricedRequests: number; estimatedRequests: number; notMeteredRequests: number };
}

/** part / total as a fraction (exact BigInt division to a millionth), null when there is no total. */
export function shareOf(part: bigint | number, total: bigint | number): number | null {
  const [p, t] = [BigInt(part), BigInt(total)];
  return t === 0n ? null : Number((p * 1_000_000n) / t) / 1_000_000;
}

/** The period a view covers, as the API was asked for it: local days where the edges are midnights, else instants. */
export function periodOf(f: Filters): { from: string; to: string; tz: string; fileTag: string } {
  const q = usageQuery(f);
  const from = String(q.from);
  const to = String(q.to);
  const tag = (v: string) => v.replace(/:\d{2}\.\d{3}Z$|:\d{2}Z$/, 'Z').replace(/:/g, '');
  return { from, to, tz: f.tz, fileTag: `${tag(from)}_${tag(to)}_${f.tz.replace(/[^A-Za-z0-9_-]+/g, '-')}` };
}

/** The statement month a range points at: the month its last instant falls in, in the range's zone. */
export function monthOfRange(f: Filters): string {
  const { to } = resolveRange(f);
  return new Intl.DateTimeFormat('en-CA', { timeZone: f.tz, year: 'numeric', month: '2-digit' }).format(new Date(to.getTime() - 1)).slice(0, 7);
}
export interface GroupedSeries {
  buckets: string[];
  labels: string[];
  groups: Group[];
}

/** Spend per bucket for each value of one dimension, from /api/analytics/spend. */
export async function spendBy(f: Filters, groupBy: GroupBy, signal?: AbortSignal, tags: TagOptions = {}): Promise<GroupedSeries> {
  const report = await usage(f, { interval: f.bucket, groupBy, ...tags }, signal);
  // Every bucket of the range from the server (empty ones drawn as zero, not closed up).
  const buckets = report.meta.buckets?.length ? report.meta.buckets.map((b) => b.bucket) : [...new Set(report.series.map((p) => p.bucket ?? ''))].sort();
  // A range that ends now ends in a bucket still filling: its label says so.
  const partial = resolveRange(f).toDay === null && (f.range !== 'custom' || !f.to);
  const labels = buckets.map((b, i) => `${formatBucket(b, f.bucket, f.tz)}${partial && i === buckets.length - 1 ? ' (so far)' : ''}`);
  const index = new Map(buckets.map((b, i) => [b, i]));
  const groups = new Map<string, Group>();
  for (const p of report.series) {
    const key = p.tagKind && p.tagKind !== 'value' ? `(${p.tagKind})` : (p.group[groupBy] ?? '');
    let g = groups.get(key);
    if (!g) {
      g = { key, name: p.groupLabel ?? (key || '(none)'), values: buckets.map(() => '0'), totals: { requests: 0, inputTokens: 0, outputTokens: 0, costNanos: '0', estimatedCostNanos: '0', unpricedRequests: 0, estimatedRequests: 0, notMeteredRequests: 0 } };
      groups.set(key, g);
    }
    const i = index.get(p.bucket ?? '')!;
    const spend = BigInt(p.spendNanos ?? '0');
    g.values[i] = (BigInt(g.values[i]) + spend).toString();
    g.totals.requests += p.requests;
    g.totals.inputTokens += p.inputTokens;
    g.totals.outputTokens += p.outputTokens;
    g.totals.costNanos = (BigInt(g.totals.costNanos) + spend).toString();
    g.totals.estimatedCostNanos = (BigInt(g.totals.estimatedCostNanos) + BigInt(p.estimatedCostNanos ?? '0')).toString();
    g.totals.unpricedRequests += p.unpricedRequests;
    g.totals.estimatedRequests += p.estimatedRequests;
    g.totals.notMeteredRequests += p.notMeteredRequests ?? 0;
  }
  const sorted = [...groups.values()].sort((a, b) => (BigInt(b.totals.costNanos) > BigInt(a.totals.costNanos) ? 1 : -1));
  return { buckets, labels, groups: sorted };
}

export async function monthToDate(f: Filters, signal?: AbortSignal): Promise<MonthToDate> {
  const query = { tz: f.tz, org: idOf('org', f.org), feature: idOf('feature', f.feature), groupBy: 'feature' } satisfies QueryOf<typeof analyticsRoutes.monthToDate>;
  return api.get<ResponseOf<typeof analyticsRoutes.monthToDate>>('/api/analytics/month-to-date', query, signal);
}

export async function statement(orgId: string, month: string, tz: string, signal?: AbortSignal): Promise<Statement> {
  return api.get<ResponseOf<typeof statementRoutes.statement>>('/api/analytics/statements', { org: orgId, month, tz } satisfies QueryOf<typeof statementRoutes.statement>, signal);
}
export const statementCsv = (orgId: string, month: string, tz: string) => ({ path: '/api/analytics/statements', query: { org: orgId, month, tz, format: 'csv' } });
type AttributionAnswer<K extends keyof typeof attributionAnalyticsRoutes> = ResponseOf<(typeof attributionAnalyticsRoutes)[K]>;

export async function tagCatalog(f: Filters, signal?: AbortSignal): Promise<AttributionAnswer<'tagCatalog'>> {
  const { from, to, tz } = usageQuery(f);
  return api.get<AttributionAnswer<'tagCatalog'>>('/api/analytics/tags', { from, to, tz }, signal);
}

export const tagStatementQuery = (feature: string, month: string, tag: string, tz: string) => ({ feature, month, tag, tz });
export async function tagStatement(feature: string, month: string, tag: string, tz: string, signal?: AbortSignal): Promise<AttributionAnswer<'tagStatement'>> {
  return api.get<AttributionAnswer<'tagStatement'>>('/api/analytics/tag-statements', tagStatementQuery(feature, month, tag, tz), signal);
}

export const eventsCsv = (f: Filters) => ({ path: '/api/analytics/exports/usage-events.csv', query: usageQuery(f) });

export interface LatencyByFeature {
  key: string;
  name: string;
  requests: number;
  latency: Percentiles;
  ttfb: Percentiles;
}
export async function latencyByFeature(f: Filters, signal?: AbortSignal): Promise<LatencyByFeature[]> {
  const report = await usage(f, { groupBy: 'feature', latency: true }, signal);
  const none = { p50: null, p95: null, p99: null };
  return report.series.map((p) => ({ key: p.group.feature ?? '', name: p.groupLabel ?? '(none)', requests: p.requests, latency: p.latencyMs ?? none, ttfb: p.ttfbMs ?? none }));
}

// ---------------------------------------------------------------- rate limits

const rateLimitQuery = (f: Filters): Query => ({ ...range(f, RATE_LIMIT_MAX_MS), ...filterQuery(f) });

export async function anonymousRequests(f: Filters, signal?: AbortSignal): Promise<AnonymousMinute[]> {
  const { from, to } = range(f, RATE_LIMIT_MAX_MS);
  const body = await api.get<RateLimitAnswer<'anonymous'>>('/api/throttling/anonymous', { from, to }, signal);
  return body.data;
}

export async function closestToLimit(f: Filters, signal?: AbortSignal): Promise<LatestHeadroom[]> {
  const body = await api.get<RateLimitAnswer<'closest'>>('/api/headroom/closest', { ...filterQuery(f), limit: 5 }, signal);
  body.data.forEach((h) => remember('org', h.org.id, h.org.name));
  return body.data;
}

export async function latestHeadroom(f: Filters, signal?: AbortSignal): Promise<LatestHeadroom[]> {
  const body = await api.get<RateLimitAnswer<'latest'>>('/api/headroom/latest', filterQuery(f), signal);
  body.data.forEach((h) => remember('org', h.org.id, h.org.name));
  return body.data;
}

const bucketFormats = new Map<string, Intl.DateTimeFormat>();

/** Buckets a timestamp in the chosen time zone; keys sort in time order. */
export function bucketOf(iso: string | number, bucket: Bucket, tz: string): string {
  let format = bucketFormats.get(tz);
  if (!format) bucketFormats.set(tz, (format = new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', hourCycle: 'h23' })));
  const parts = Object.fromEntries(format.formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
  const day = `${parts.year}-${parts.month}-${parts.day}`;
  return bucket === 'month' ? `${parts.year}-${parts.month}` : bucket === 'day' ? day : `${day} ${parts.hour}:00`;
}

/** The rate-limit charts' resolution: minute points for short ranges, coarser ones for long ranges (at most ~250 points). */
export interface Resolution {
  stepMs: number;
  /** "1-minute", "15-minute", "1-hour" points. */
  name: string;
  /** Bucket starts (epoch ms), every step of the range, also the quiet ones. */
  starts: number[];
  labels: string[];
  /** The bucket an instant falls in, or undefined outside the range. */
  index(at: string | number): number | undefined;
  /** The last bucket holds "now": it is still filling. */
  partialLast: boolean;
}

const MINUTE = 60_000;
const STEPS: Array<[maxRangeMs: number, stepMs: number, name: string]> = [
  [3 * HOUR, MINUTE, '1-minute'],
  [12 * HOUR, 5 * MINUTE, '5-minute'],
  [36 * HOUR, 15 * MINUTE, '15-minute'],
  [8 * DAY, HOUR, '1-hour'],
  [Infinity, 3 * HOUR, '3-hour'],
];

export function rateLimitResolution(f: Filters, now = Date.now()): Resolution {
  const { from, to } = range(f, RATE_LIMIT_MAX_MS);
  const start = Date.parse(from);
  const end = Date.parse(to);
  const [, stepMs, name] = STEPS.find(([max]) => end - start <= max)!;
  const first = Math.floor(start / stepMs) * stepMs;
  const starts: number[] = [];
  for (let t = first; t < end; t += stepMs) starts.push(t);
  return {
    stepMs,
    name,
    starts,
    labels: starts.map((t) => formatBucket(new Date(t).toISOString(), 'minute', f.tz)),
    index: (at) => {
      const i = Math.floor((new Date(at).getTime() - first) / stepMs);
      return i >= 0 && i < starts.length ? i : undefined;
    },
    partialLast: end >= now - MINUTE && starts.length > 0,
  };
}

export interface HeadroomSeries {
  org: OrgRef;
  model: string;
  /** Per bucket: the highest share of the limit used (0..1), null where no call was seen (a gap, not zero). */
  requests: Array<number | null>;
  tokens: Array<number | null>;
  /** The highest of either over the range: what "closest to a limit" sorts by. */
  peak: number;
}

export interface HeadroomHistory {
  resolution: Resolution;
  series: HeadroomSeries[];
  /** The oldest minute the gateway still keeps (null: none yet). */
  historySince: string | null;
  historyDays: number;
}

/** Headroom over time per org and model as a share of the limit, from the per-minute series. */
export async function headroomSeries(f: Filters, signal?: AbortSignal): Promise<HeadroomHistory> {
  const body = await api.get<RateLimitAnswer<'series'>>('/api/headroom/series', rateLimitQuery(f), signal);
  const resolution = rateLimitResolution(f);
  const max = (a: number | null, b: number | null) => (b === null ? a : a === null ? b : Math.max(a, b));
  const series = body.data.map((s): HeadroomSeries => {
    remember('org', s.org.id, s.org.name);
    remember('model', s.model, s.model);
    const out: HeadroomSeries = { org: s.org, model: s.model, requests: resolution.starts.map(() => null), tokens: resolution.starts.map(() => null), peak: 0 };
    for (const p of s.points) {
      const i = resolution.index(p.minute);
      if (i === undefined) continue;
      // The lowest remaining value seen in the minute is its peak use; the latest value is the fallback.
      out.requests[i] = max(out.requests[i], p.peakRequestsUtilisation ?? p.requestsUtilisation);
      out.tokens[i] = max(out.tokens[i], p.peakTokensUtilisation ?? p.tokensUtilisation);
    }
    out.peak = Math.max(0, ...out.requests.map((v) => v ?? 0), ...out.tokens.map((v) => v ?? 0));
    return out;
  });
  return { resolution, series: series.sort((a, b) => b.peak - a.peak), historySince: body.historySince, historyDays: body.historyDays };
}

export interface ThrottlingByFeature {
  resolution: Resolution;
  features: Array<{ key: string; name: string; requests: number[]; tokens: number[]; quota: number[] }>;
}

/** 429s per feature and kind at the rate-limit charts' resolution, from the per-minute series. */
export async function throttlingByFeature(f: Filters, signal?: AbortSignal): Promise<ThrottlingByFeature> {
  const body = await api.get<RateLimitAnswer<'throttlingSeries'>>('/api/throttling/series', rateLimitQuery(f), signal);
  const resolution = rateLimitResolution(f);
  const features = new Map<string, ThrottlingByFeature['features'][number]>();
  for (const s of body.data) {
    const key = s.feature.id ?? '';
    let entry = features.get(key);
    if (!entry) {
      entry = { key, name: s.feature.slug ?? '(no feature)', requests: resolution.starts.map(() => 0), tokens: resolution.starts.map(() => 0), quota: resolution.starts.map(() => 0) };
      features.set(key, entry);
    }
    for (const p of s.points) {
      const i = resolution.index(p.minute);
      if (i === undefined) continue;
      entry.requests[i] += p.rateLimitRequests;
      entry.tokens[i] += p.rateLimitTokens;
      entry.quota[i] += p.quota;
    }
  }
  return { resolution, features: [...features.values()].filter((e) => [...e.requests, ...e.tokens, ...e.quota].some((v) => v > 0)) };
}

/** Failed calls by kind per org and feature, with their episodes (GET /api/throttling/errors). */
export async function errorsByKind(f: Filters, signal?: AbortSignal): Promise<ErrorsResponse> {
  const body = await api.get<RateLimitAnswer<'throttlingErrors'>>('/api/throttling/errors', rateLimitQuery(f), signal);
  body.data.forEach((g) => remember('org', g.org.id, g.org.name));
  return body;
}

export async function throttlingSummary(f: Filters, signal?: AbortSignal, previous = false): Promise<ThrottlingSummaryRow[]> {
  let q = rateLimitQuery(f);
  if (previous) {
    const from = Date.parse(String(q.from));
    const to = Date.parse(String(q.to));
    q = { ...q, from: new Date(from - (to - from)).toISOString(), to: new Date(from).toISOString() };
  }
  const body = await api.get<RateLimitAnswer<'throttlingSummary'>>('/api/throttling/summary', q, signal);
  return body.data;
}
