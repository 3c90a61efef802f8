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

export type { AnonymousMinute, LatestHeadroom, Percentiles, Statement, StatementLine, ThrottleCounts, ThrottlingSummaryRow, UsagePoint, UsageReport, UsageTotals };
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
  totals: { requests: number; inputTokens: number; outputTokens: number; costNanos: string; unpricedRequests: number; estimatedRequests: number; notMeteredRequests: number };
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
  const labels = buckets.map((b) => formatBucket(b, f.bucket, f.tz));
  const index = new Map(buckets.map((b, i) => [b, i]));
  const groups = new Map<string, Group>();
  for (const p of report.series) {
    const key = p.tagKind && p.tagKind !== 'value' ? `(${p.tagKind})` : (p.group[groupBy] ?? '');
    let g = groups.get(key);
    if (!g) {
      g = { key, name: p.groupLabel ?? (key || '(none)'), values: buckets.map(() => '0'), totals: { requests: 0, inputTokens: 0, outputTokens: 0, costNanos: '0', unpricedRequests: 0, estimatedRequests: 0, notMeteredRequests: 0 } };
      groups.set(key, g);
    }
    const i = index.get(p.bucket ?? '')!;
    const spend = BigInt(p.spendNanos ?? '0');
    g.values[i] = (BigInt(g.values[i]) + spend).toString();
    g.totals.requests += p.requests;
    g.totals.inputTokens += p.inputTokens;
    g.totals.outputTokens += p.outputTokens;
    g.totals.costNanos = (BigInt(g.totals.costNanos) + spend).toString();
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

export interface HeadroomSeries {
  org: OrgRef;
  model: string;
  /** Per bucket: the most used (limit - remaining) seen, and the limit then. */
  usedRequests: Array<number | null>;
  limitRequests: Array<number | null>;
  usedTokens: Array<number | null>;
  limitTokens: Array<number | null>;
}

/**
 * Every bucket key of the rate-limit range, also those with no points, in time order. Walks the
 * range hour by hour (at most 31 x 24 steps) and keys each instant in the time zone, so local days
 * of 23 or 25 hours come out right.
 */
export function rateLimitBuckets(f: Filters, bucket: Bucket): string[] {
  const { from, to } = range(f, RATE_LIMIT_MAX_MS);
  const keys = new Set<string>();
  const end = Date.parse(to);
  for (let t = Math.floor(Date.parse(from) / HOUR) * HOUR; t < end; t += HOUR) keys.add(bucketOf(t, bucket, f.tz));
  return [...keys];
}

/** Headroom over time per org and model, bucketed client-side from the per-minute series. */
export async function headroomSeries(f: Filters, signal?: AbortSignal): Promise<{ buckets: string[]; series: HeadroomSeries[] }> {
  const body = await api.get<RateLimitAnswer<'series'>>('/api/headroom/series', rateLimitQuery(f), signal);
  const bucket = f.bucket === 'month' ? 'day' : f.bucket;
  const buckets = [...new Set([...rateLimitBuckets(f, bucket), ...body.data.flatMap((s) => s.points.map((p) => bucketOf(p.minute, bucket, f.tz)))])].sort();
  const index = new Map(buckets.map((b, i) => [b, i]));
  const series = body.data.map((s) => {
    remember('org', s.org.id, s.org.name);
    remember('model', s.model, s.model);
    const out: HeadroomSeries = { org: s.org, model: s.model, usedRequests: buckets.map(() => null), limitRequests: buckets.map(() => null), usedTokens: buckets.map(() => null), limitTokens: buckets.map(() => null) };
    for (const p of s.points) {
      const i = index.get(bucketOf(p.minute, bucket, f.tz))!;
      if (p.limitRequests !== null && p.remainingRequests !== null) {
        out.usedRequests[i] = Math.max(out.usedRequests[i] ?? 0, p.limitRequests - p.remainingRequests);
        out.limitRequests[i] = p.limitRequests;
      }
      if (p.limitTokens !== null && p.remainingTokens !== null) {
        out.usedTokens[i] = Math.max(out.usedTokens[i] ?? 0, p.limitTokens - p.remainingTokens);
        out.limitTokens[i] = p.limitTokens;
      }
    }
    return out;
  });
  return { buckets, series };
}

export interface ThrottlingByFeature {
  buckets: string[];
  features: Array<{ key: string; name: string; requests: number[]; tokens: number[]; quota: number[] }>;
}

/** 429s per feature and kind, bucketed client-side from the per-minute series. */
export async function throttlingByFeature(f: Filters, signal?: AbortSignal): Promise<ThrottlingByFeature> {
  const body = await api.get<RateLimitAnswer<'throttlingSeries'>>('/api/throttling/series', rateLimitQuery(f), signal);
  const buckets = [...new Set([...rateLimitBuckets(f, f.bucket), ...body.data.flatMap((s) => s.points.filter((p) => p.rateLimitRequests + p.rateLimitTokens + p.quota > 0).map((p) => bucketOf(p.minute, f.bucket, f.tz)))])].sort();
  const index = new Map(buckets.map((b, i) => [b, i]));
  const features = new Map<string, ThrottlingByFeature['features'][number]>();
  for (const s of body.data) {
    const key = s.feature.id ?? '';
    let entry = features.get(key);
    if (!entry) {
      entry = { key, name: s.feature.slug ?? '(no feature)', requests: buckets.map(() => 0), tokens: buckets.map(() => 0), quota: buckets.map(() => 0) };
      features.set(key, entry);
    }
    for (const p of s.points) {
      const i = index.get(bucketOf(p.minute, f.bucket, f.tz));
      if (i === undefined) continue;
      entry.requests[i] += p.rateLimitRequests;
      entry.tokens[i] += p.rateLimitTokens;
      entry.quota[i] += p.quota;
    }
  }
  return { buckets, features: [...features.values()].filter((e) => [...e.requests, ...e.tokens, ...e.quota].some((v) => v > 0)) };
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
