// /api/analytics usage, spend, the filter catalog, month-to-date and the raw events export
// (docs/api-analytics.md). Query schemas are strict: an unknown parameter is a 400 naming it.
import { z } from 'zod';
import { count, instant, nanos, tagName, tagValue, usd } from './common.js';
import { defineRoutes } from './route.js';

/** The endpoint families spend breaks down by (server/analytics/endpoint-family.ts maps endpoints to them). */
export const ENDPOINT_FAMILIES = ['chat', 'responses', 'embeddings', 'images', 'speech', 'transcription', 'batch', 'realtime', 'other'] as const;
export type EndpointFamily = (typeof ENDPOINT_FAMILIES)[number];
/** `family`: the endpoint's family (chat, responses, embeddings, images, speech, transcription, other). */
/** `tag`: the values of the tag named by `tag=` (top `top` + other + untagged); `endUser`: the request's `user` / `safety_identifier`. */
export const DIMENSIONS = ['org', 'feature', 'model', 'endpoint', 'family', 'tag', 'endUser'] as const;
export type Dimension = (typeof DIMENSIONS)[number];
export const INTERVALS = ['hour', 'day', 'month'] as const;
export type Interval = (typeof INTERVALS)[number];

/** A date (2025-03-01) or local date-time (2025-03-01T08:00) read in `tz`, or an instant with Z or an offset. */
const TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}:?\d{2})?$/;
export const timeParam = z
  .string()
  .regex(TIME, 'expected a date (2025-03-01), a local date-time (2025-03-01T08:00) or an instant (2025-03-01T08:00:00Z)')
  .describe('A date (2025-03-01) or local date-time (2025-03-01T08:00), read in tz, or an instant (2025-03-01T08:00:00Z); the range is [from, to)');

/** Repeated (?org=a&org=b) or comma-separated (?org=a,b). */
const list = <T extends z.ZodType<string, string>>(item: T) =>
  z
    .union([z.string(), z.array(z.string())])
    .transform((v) => (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean))
    .pipe(z.array(item).max(100));

export const tz = z.string().min(1).max(64).default('UTC').describe('IANA time zone for buckets and date-only bounds');

/**
 * Orgs and features by id or by a name people type and share in URLs: a feature's slug
 * (customer-service-chatbot), an org's name or OpenAI org id. AnalyticsService.resolveFilters turns
 * them into ids; an unknown one is a 400 naming it.
 */
const ref = z.string().min(1).max(200);
const several = 'repeated (?x=a&x=b) or comma-separated (?x=a,b)';
export const filterParams = {
  org: list(ref).optional().describe(`Orgs by id, name or OpenAI org id; ${several}`),
  feature: list(ref).optional().describe(`Features by id or slug; ${several}`),
  model: list(z.string().min(1).max(200)).optional().describe(`Models; ${several}`),
  endpoint: list(z.string().min(1).max(100)).optional().describe(`Endpoints (chat.completions, embeddings…); ${several}`),
  family: list(z.enum(ENDPOINT_FAMILIES)).optional().describe(`Endpoint families: ${ENDPOINT_FAMILIES.join(', ')}; ${several}`),
};

/**
 * Attribution (docs/attribution.md): `tag` names the tag that `groupBy=tag` groups by and
 * `tagValue` filters on; `endUser` filters on end users. One of the two per query.
 */
export const attributionParams = {
  tag: tagName.optional().describe('The tag groupBy=tag groups by and tagValue filters on (customer, env…)'),
  tagValue: list(tagValue).optional().describe(`Values of the tag named by tag; ${several}`),
  endUser: list(tagValue).optional().describe(`End users (the request's user / safety_identifier); ${several}`),
  /** Grouped by a tag or end user: the `top` values by spend (by requests without money), the rest as "(other)". */
  top: z.coerce.number().int().min(1).max(100).optional().describe('Grouped by tag or endUser: the top N values, the rest as (other)'),
};

export const usageQuerySchema = z.strictObject({
  from: timeParam,
  to: timeParam,
  tz,
  interval: z.enum(INTERVALS).optional().describe('Bucket the series by hour, day or month (in tz); omitted: one total per group'),
  groupBy: list(z.enum(DIMENSIONS)).pipe(z.array(z.enum(DIMENSIONS)).max(3)).optional().describe(`Up to 3 of ${DIMENSIONS.join(', ')}; ${several}`),
  ...filterParams,
  ...attributionParams,
});
export type UsageQueryInput = z.infer<typeof usageQuerySchema>;

export const monthToDateQuerySchema = z.strictObject({
  tz,
  groupBy: z.enum(['org', 'feature']).default('feature'),
  /** The instant "now" is taken to be (default: now); must be an instant with Z or an offset. */
  asOf: z.iso.datetime({ offset: true, message: 'expected an instant such as 2025-03-14T12:00:00Z' }).optional(),
  org: filterParams.org,
  feature: filterParams.feature,
});
export type MonthToDateQueryInput = z.infer<typeof monthToDateQuerySchema>;

export const eventsExportQuerySchema = z.strictObject({
  from: timeParam,
  to: timeParam,
  tz,
  ...filterParams,
  tag: attributionParams.tag,
  tagValue: attributionParams.tagValue,
  endUser: attributionParams.endUser,
});
export type EventsExportQueryInput = z.infer<typeof eventsExportQuerySchema>;

// ---------------------------------------------------------------- answers

export const percentilesSchema = z.object({ p50: z.number().nullable(), p95: z.number().nullable(), p99: z.number().nullable() });
export type Percentiles = z.infer<typeof percentilesSchema>;

/** Money fields: present for finance and admins only (engineers see usage, not money; docs/security.md). */
const moneyFields = {
  spendNanos: nanos.optional(),
  spendUsd: usd.optional(),
  estimatedCostNanos: nanos.optional(),
  /** Share of spend whose usage was estimated (client aborts), 0..1. */
  estimatedCostShare: z.number().min(0).max(1).optional(),
};
export const usageTotalsSchema = z.object({
  ...moneyFields,
  requests: count,
  errors: count,
  inputTokens: count,
  cachedTokens: count,
  outputTokens: count,
  reasoningTokens: count,
  audioInputTokens: count,
  audioSeconds: z.string(),
  estimatedRequests: count,
  /** Requests whose model had no price: their cost is unknown and not in spendNanos. */
  unpricedRequests: count,
  unpricedRequestShare: z.number().min(0).max(1),
  /** Requests OpenAI does not bill per call (storage, training, resource CRUD): no cost here, not unpriced. */
  notMeteredRequests: count,
  /** Only from /usage (not /spend). */
  latencyMs: percentilesSchema.optional(),
  ttfbMs: percentilesSchema.optional(),
});
export type UsageTotals = z.infer<typeof usageTotalsSchema>;

/** A tag's group: `value`, `other` (past the tag's cap, or beyond the top N asked for) or `untagged` (calls without the tag). */
export const TAG_KINDS = ['value', 'other', 'untagged'] as const;
export type TagKind = (typeof TAG_KINDS)[number];

export const usagePointSchema = usageTotalsSchema.extend({
  bucket: instant.nullable(),
  label: z.string().nullable(),
  group: z.partialRecord(z.enum(DIMENSIONS), z.string().nullable()),
  groupLabel: z.string().nullable(),
  /** Grouped by a tag or end user: which kind of group this is (other and untagged have a null value). */
  tagKind: z.enum(TAG_KINDS).optional(),
});
export type UsagePoint = z.infer<typeof usagePointSchema>;

export const usageReportSchema = z.object({
  meta: z.object({
    from: instant,
    to: instant,
    tz: z.string(),
    interval: z.enum(INTERVALS).nullable(),
    groupBy: z.array(z.enum(DIMENSIONS)),
    /** The filters as ids. */
    filters: z.partialRecord(z.enum(DIMENSIONS), z.array(z.string())),
    /** A tagged query: its tag (null for end users) and the values it was filtered on. */
    tag: z.string().nullable().optional(),
    tagValues: z.array(z.string()).nullable().optional(),
    endUsers: z.array(z.string()).nullable().optional(),
    /** A boundary in the time zone was not a whole UTC hour (half-hour zones): it took effect at the next hour. */
    approximate: z.boolean(),
    /** With an interval: every bucket of the range in order, also those with no rows in `series`. */
    buckets: z.array(z.object({ bucket: instant, label: z.string() })),
  }),
  series: z.array(usagePointSchema),
  totals: usageTotalsSchema,
});
export type UsageReport = z.infer<typeof usageReportSchema>;

const monthToDateFigures = {
  spendNanos: nanos,
  spendUsd: usd,
  requests: count,
  forecastNanos: nanos,
  forecastUsd: usd,
  previousNanos: nanos,
  previousUsd: usd,
  changeNanos: nanos,
  /** Percent change against the same elapsed time of the previous month; null when that was 0. */
  changePct: z.number().nullable(),
};
export const monthToDateLineSchema = z.object({ group: z.string().nullable(), groupLabel: z.string().nullable(), ...monthToDateFigures });
export const monthToDateReportSchema = z.object({
  meta: z.object({
    tz: z.string(),
    asOf: instant,
    monthStart: instant,
    monthEnd: instant,
    through: instant,
    previousFrom: instant,
    previousTo: instant,
    groupBy: z.enum(['org', 'feature']),
    forecast: z.string(),
    approximate: z.boolean(),
  }),
  lines: z.array(monthToDateLineSchema),
  totals: z.object(monthToDateFigures),
});
export type MonthToDateReport = z.infer<typeof monthToDateReportSchema>;
export type MonthToDateLine = z.infer<typeof monthToDateLineSchema>;

/** What the filter lists offer: every org, feature and model, with or without traffic (no money). */
export const catalogSchema = z.object({
  orgs: z.array(z.object({ id: z.string(), name: z.string(), openaiOrgId: z.string(), status: z.string() })),
  features: z.array(z.object({ id: z.string(), slug: z.string(), name: z.string(), defaultOrgId: z.string() })),
  /** Models in the price list or with usage. */
  models: z.array(z.object({ id: z.string() })),
  /** The first hour with usage (null: none yet): a comparison with a period before it has no earlier data. */
  historySince: instant.nullable(),
});
export type Catalog = z.infer<typeof catalogSchema>;

const readers = ['finance', 'engineer'] as const;
export const analyticsRoutes = defineRoutes({
  usage: {
    method: 'GET', path: '/api/analytics/usage', roles: readers, query: usageQuerySchema, response: usageReportSchema,
    summary: 'Requests, errors, tokens, audio, latency/TTFB percentiles and estimated/unpriced shares; spend too for finance and admins (engineers get no money field)',
  },
  catalog: { method: 'GET', path: '/api/analytics/catalog', summary: 'Every org, feature and model the filter bar offers (no money)', roles: readers, response: catalogSchema },
  spend: { method: 'GET', path: '/api/analytics/spend', summary: 'The usage series with spend, without latency histograms', roles: ['finance'], query: usageQuerySchema, response: usageReportSchema },
  monthToDate: { method: 'GET', path: '/api/analytics/month-to-date', summary: 'Spend this month per org or feature, forecast to month end, change on last month', roles: ['finance'], query: monthToDateQuerySchema, response: monthToDateReportSchema },
  exportEvents: { method: 'GET', path: '/api/analytics/exports/usage-events.csv', summary: 'Every usage event of a range as CSV (streamed)', roles: ['finance'], query: eventsExportQuerySchema, response: z.string(), csv: 'only' },
});
