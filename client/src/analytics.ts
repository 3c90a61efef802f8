// The dashboard's view of the analytics and rate-limit APIs. Pages ask for what they draw
// (grouped series, totals, statements, headroom); this module knows the endpoints and their
// shapes, so wiring to a changed API happens here and nowhere else.
import { api, type Query } from './api.js';
import { remember, type Dimension } from './catalog.js';
import { resolveRange, type Filters } from './filters.js';

export type GroupBy = 'org' | 'feature' | 'model' | 'endpoint';
export type Metric = 'cost' | 'requests' | 'tokens' | 'errors' | 'throttled';

export interface Group {
  key: string;
  name: string;
  /** One value per bucket: nano-dollars (decimal strings) for cost, counts otherwise. */
  values: string[];
  totals: GroupTotals;
}
export interface GroupTotals {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  costNanos: string;
  /** Requests whose cost is unknown (model without a price): never counted as $0. */
  unpricedRequests: number;
  /** Requests whose tokens were estimated (aborted streams). */
  estimatedRequests: number;
}
export interface GroupedSeries {
  buckets: string[];
  groups: Group[];
}

export function rangeQuery(f: Filters): Query {
  const { from, to } = resolveRange(f);
  return { from: from.toISOString(), to: to.toISOString(), tz: f.tz, org: f.org, feature: f.feature, model: f.model };
}

const asNumber = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : 0);
const asNanos = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : '0');

type Row = Record<string, unknown>;

/** Spend/requests per bucket grouped by a dimension. */
export async function groupedSeries(f: Filters, groupBy: GroupBy, metric: Metric, signal?: AbortSignal): Promise<GroupedSeries> {
  const body = await api.get<{ buckets?: string[]; series?: Row[]; rows?: Row[] }>('/api/analytics/series', { ...rangeQuery(f), bucket: f.bucket, groupBy, metric }, signal);
  const buckets = body.buckets ?? [];
  const groups = (body.series ?? []).map((s): Group => {
    const key = String(s.key ?? s.id ?? '');
    const name = String(s.name ?? s.label ?? key);
    if (groupBy !== 'endpoint') remember(groupBy as Dimension, key, name);
    const totals = (s.totals ?? {}) as Row;
    return {
      key,
      name,
      values: ((s.values ?? s.data ?? []) as unknown[]).map((v) => String(v ?? '0')),
      totals: {
        requests: asNumber(totals.requests),
        inputTokens: asNumber(totals.inputTokens),
        outputTokens: asNumber(totals.outputTokens),
        costNanos: asNanos(totals.costNanos),
        unpricedRequests: asNumber(totals.unpricedRequests),
        estimatedRequests: asNumber(totals.estimatedRequests),
      },
    };
  });
  return { buckets, groups };
}

export interface Kpis {
  mtdCostNanos: string;
  forecastCostNanos: string | null;
  previousMonthCostNanos: string | null;
  requests: number;
  previousRequests: number | null;
  errorRate: number;
  previousErrorRate: number | null;
  throttledShare: number;
  previousThrottledShare: number | null;
  unpricedRequests: number;
}

export async function kpis(f: Filters, signal?: AbortSignal): Promise<Kpis> {
  const body = await api.get<Row>('/api/analytics/summary', rangeQuery(f), signal);
  const n = (k: string) => (body[k] === null || body[k] === undefined ? null : asNumber(body[k]));
  return {
    mtdCostNanos: asNanos(body.mtdCostNanos),
    forecastCostNanos: body.forecastCostNanos == null ? null : asNanos(body.forecastCostNanos),
    previousMonthCostNanos: body.previousMonthCostNanos == null ? null : asNanos(body.previousMonthCostNanos),
    requests: asNumber(body.requests),
    previousRequests: n('previousRequests'),
    errorRate: asNumber(body.errorRate),
    previousErrorRate: n('previousErrorRate'),
    throttledShare: asNumber(body.throttledShare),
    previousThrottledShare: n('previousThrottledShare'),
    unpricedRequests: asNumber(body.unpricedRequests),
  };
}

export interface StatementLine {
  feature: string;
  model: string;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  costNanos: string | null;
  estimated: boolean;
}
export interface Statement {
  org: string;
  month: string;
  lines: StatementLine[];
  totalNanos: string;
  unpricedRequests: number;
}

export async function statement(orgId: string, month: string, tz: string, signal?: AbortSignal): Promise<Statement> {
  const body = await api.get<Row>(`/api/analytics/statements/${orgId}`, { month, tz }, signal);
  return {
    org: String(body.orgName ?? body.org ?? orgId),
    month,
    lines: ((body.lines ?? []) as Row[]).map((l) => ({
      feature: String(l.featureName ?? l.feature ?? '(none)'),
      model: String(l.model ?? '(none)'),
      requests: asNumber(l.requests),
      inputTokens: asNumber(l.inputTokens),
      outputTokens: asNumber(l.outputTokens),
      costNanos: l.costNanos == null ? null : asNanos(l.costNanos),
      estimated: !!l.estimated,
    })),
    totalNanos: asNanos(body.totalNanos ?? body.totalCostNanos),
    unpricedRequests: asNumber(body.unpricedRequests),
  };
}

export const statementCsvPath = (orgId: string) => `/api/analytics/statements/${orgId}.csv`;
export const seriesCsvPath = '/api/analytics/series.csv';
export const eventsCsvPath = '/api/analytics/events.csv';

// ---------------------------------------------------------------- rate limits

export interface Headroom {
  orgId: string;
  orgName: string;
  model: string;
  buckets: string[];
  limitRequests: Array<number | null>;
  remainingRequests: Array<number | null>;
  limitTokens: Array<number | null>;
  remainingTokens: Array<number | null>;
  resetRequestsSeconds: number | null;
  resetTokensSeconds: number | null;
}

export async function headroom(f: Filters, signal?: AbortSignal): Promise<Headroom[]> {
  const body = await api.get<{ series?: Row[] } | Row[]>('/api/headroom', { ...rangeQuery(f), bucket: f.bucket === 'month' ? 'day' : f.bucket }, signal);
  const rows = Array.isArray(body) ? body : (body.series ?? []);
  return rows.map((r) => {
    const nums = (k: string) => ((r[k] ?? []) as unknown[]).map((v) => (v === null || v === undefined ? null : asNumber(v)));
    remember('org', String(r.orgId), String(r.orgName ?? r.orgId));
    remember('model', String(r.model), String(r.model));
    return {
      orgId: String(r.orgId),
      orgName: String(r.orgName ?? r.orgId),
      model: String(r.model),
      buckets: (r.buckets ?? []) as string[],
      limitRequests: nums('limitRequests'),
      remainingRequests: nums('remainingRequests'),
      limitTokens: nums('limitTokens'),
      remainingTokens: nums('remainingTokens'),
      resetRequestsSeconds: r.resetRequestsSeconds == null ? null : asNumber(r.resetRequestsSeconds),
      resetTokensSeconds: r.resetTokensSeconds == null ? null : asNumber(r.resetTokensSeconds),
    };
  });
}

export interface ClosestToLimit {
  orgId: string;
  orgName: string;
  model: string;
  kind: 'requests' | 'tokens';
  used: number;
  limit: number;
  remaining: number;
  resetSeconds: number | null;
  observedAt: string;
}

export async function closestToLimit(signal?: AbortSignal): Promise<ClosestToLimit[]> {
  const body = await api.get<Row[] | { items?: Row[] }>('/api/headroom/closest', { limit: 5 }, signal);
  const rows = Array.isArray(body) ? body : (body.items ?? []);
  return rows.map((r) => ({
    orgId: String(r.orgId),
    orgName: String(r.orgName ?? r.orgId),
    model: String(r.model),
    kind: r.kind === 'tokens' ? 'tokens' : 'requests',
    used: asNumber(r.usedShare ?? r.used),
    limit: asNumber(r.limit),
    remaining: asNumber(r.remaining),
    resetSeconds: r.resetSeconds == null ? null : asNumber(r.resetSeconds),
    observedAt: String(r.observedAt ?? ''),
  }));
}

export interface ThrottlingByFeature {
  buckets: string[];
  features: Array<{ key: string; name: string; requests: number[]; tokens: number[]; quota: number[]; retries: number }>;
}

export async function throttling(f: Filters, signal?: AbortSignal): Promise<ThrottlingByFeature> {
  const body = await api.get<Row>('/api/throttling', { ...rangeQuery(f), bucket: f.bucket }, signal);
  const features = ((body.features ?? body.series ?? []) as Row[]).map((r) => {
    remember('feature', String(r.featureId ?? r.key), String(r.featureName ?? r.name ?? r.key));
    const arr = (k: string) => ((r[k] ?? []) as unknown[]).map(asNumber);
    return { key: String(r.featureId ?? r.key), name: String(r.featureName ?? r.name ?? r.key), requests: arr('requests'), tokens: arr('tokens'), quota: arr('quota'), retries: asNumber(r.retries) };
  });
  return { buckets: (body.buckets ?? []) as string[], features };
}

export interface LatencyByFeature {
  key: string;
  name: string;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  ttfbP50: number | null;
  ttfbP95: number | null;
  requests: number;
}

export async function latency(f: Filters, signal?: AbortSignal): Promise<LatencyByFeature[]> {
  const body = await api.get<Row[] | { features?: Row[] }>('/api/analytics/latency', { ...rangeQuery(f), groupBy: 'feature' }, signal);
  const rows = Array.isArray(body) ? body : (body.features ?? []);
  const n = (v: unknown) => (v === null || v === undefined ? null : asNumber(v));
  return rows.map((r) => ({ key: String(r.key ?? r.featureId), name: String(r.name ?? r.featureName ?? r.key), p50: n(r.p50), p95: n(r.p95), p99: n(r.p99), ttfbP50: n(r.ttfbP50), ttfbP95: n(r.ttfbP95), requests: asNumber(r.requests) }));
}
