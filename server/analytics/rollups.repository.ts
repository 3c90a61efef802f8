// Reads the usage rollups for a time range cut into buckets in a time zone. Every bucket is read as
// the UTC days nearest to its edges (daily rollups), corrected by the hours between each edge and
// that midnight (hourly rollups: added when the bucket reaches past the midnight, subtracted when
// the day does). A local day in New York is then 1 daily row set ± 5 + 5 hours instead of 24 hours,
// and no edge costs more than 12 hours, so a query reads about (days + 24 hours per bucket) x keys
// rows at worst, whatever the number of events. Sums stay exact: the daily and hourly rollups come
// from the same inserts. Boundaries that do not fall on a whole UTC hour (half-hour zones) take
// effect at the next whole hour.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { orgIdSql } from '../ledger/no-org.js';
import type { Dimension, Interval } from './analytics.dto.js';
import { endpointFamilySql } from './endpoint-family.js';
import type { Histogram } from './percentiles.js';

/** Statements also group by the price a row was charged at. */
export type RollupDimension = Dimension | 'price';

export interface RollupFilters {
  org?: string[];
  feature?: string[];
  model?: string[];
  endpoint?: string[];
  family?: string[];
}

export interface RollupRange {
  from: Date;
  to: Date;
  tz: string;
  interval?: Interval;
  groupBy: readonly RollupDimension[];
  filters: RollupFilters;
  /**
   * Read the tag rollups: only the events that carry this tag ('' is the end user), optionally
   * only these values. The dimension `tag` / `endUser` is then the value (null: "other").
   */
  tagged?: { tag: string; values?: string[]; keep?: string[] };
}

/** The UsageRow sums of price components other than text tokens (statements show them; the usage API does not yet). */
export type ComponentSums = 'audioOutputTokens' | 'imageInputTokens' | 'imageOutputTokens' | 'characters' | 'images' | 'webSearchCalls' | 'webSearchPreviewCalls' | 'fileSearchCalls';

export interface UsageRow {
  /** Start of the bucket (instant), null when the range is not bucketed. */
  bucket: Date | null;
  /** The bucket in the time zone: 2025-03-01, 2025-03 or 2025-03-01T08:00. */
  label: string | null;
  groups: Partial<Record<RollupDimension, string | null>>;
  requests: bigint;
  errors: bigint;
  inputTokens: bigint;
  cachedTokens: bigint;
  outputTokens: bigint;
  reasoningTokens: bigint;
  audioInputTokens: bigint;
  /** Exact decimal, 3 places. */
  audioSeconds: string;
  /** Price components beyond text tokens (parts of the token counts, or counts of their own). */
  audioOutputTokens: bigint;
  imageInputTokens: bigint;
  imageOutputTokens: bigint;
  characters: bigint;
  images: bigint;
  webSearchCalls: bigint;
  webSearchPreviewCalls: bigint;
  fileSearchCalls: bigint;
  costNanos: bigint;
  estimatedCostNanos: bigint;
  estimatedRequests: bigint;
  unpricedRequests: bigint;
  /** Calls OpenAI does not bill per call (files, vector stores, resource CRUD): cost NULL, not unpriced. */
  notMeteredRequests: bigint;
}

export interface HistogramRow {
  bucket: Date | null;
  label: string | null;
  groups: Partial<Record<RollupDimension, string | null>>;
  latency: Histogram;
  ttfb: Histogram;
}

/**
 * Each dimension as an expression over the rollup row `r` (the family is derived from the endpoint;
 * the rollups store "no org" as the sentinel, shown as null).
 */
const COLUMN: Record<RollupDimension, string> = {
  org: orgIdSql('r.org_id'),
  feature: 'r.feature_id',
  model: 'r.model',
  endpoint: 'r.endpoint',
  family: endpointFamilySql('r.endpoint'),
  price: 'r.price_id',
  tag: 'r.value',
  endUser: 'r.value',
};

const FILTER: Record<keyof RollupFilters, string> = {
  org: 'r.org_id = ANY($?::uuid[])',
  feature: 'r.feature_id = ANY($?::uuid[])',
  model: 'r.model = ANY($?::text[])',
  endpoint: 'r.endpoint = ANY($?::text[])',
  family: `${endpointFamilySql('r.endpoint')} = ANY($?::text[])`,
};

/** Buckets as (bucket instant, local label, lo, hi), clipped to [$1, $2). $3 is the time zone. */
function bucketsSql(interval: Interval | undefined): string {
  if (!interval) return `SELECT NULL::timestamptz AS bucket, NULL::text AS label, $1::timestamptz AS lo, $2::timestamptz AS hi`;
  if (interval === 'hour') {
    return `SELECT s AS bucket, to_char(s AT TIME ZONE $3, 'YYYY-MM-DD"T"HH24:MI') AS label, s AS lo, s + interval '1 hour' AS hi
      FROM generate_series(date_trunc('hour', $1::timestamptz, 'UTC'), $2::timestamptz - interval '1 microsecond', interval '1 hour') AS s`;
  }
  const format = interval === 'day' ? 'YYYY-MM-DD' : 'YYYY-MM';
  return `SELECT s AT TIME ZONE $3 AS bucket, to_char(s, '${format}') AS label,
        greatest(s AT TIME ZONE $3, $1::timestamptz) AS lo, least((s + interval '1 ${interval}') AT TIME ZONE $3, $2::timestamptz) AS hi
      FROM generate_series(date_trunc('${interval}', $1::timestamptz AT TIME ZONE $3),
        ($2::timestamptz AT TIME ZONE $3) - interval '1 microsecond', interval '1 ${interval}') AS s`;
}

/**
 * Each bucket as signed parts: the UTC days between the midnights nearest its edges (daily
 * rollups, +1), and the hours between each edge and its midnight (hourly rollups, +1 inside the
 * bucket, -1 outside it). A bucket too short to hold a day is read from hours only.
 */
function partsSql(interval: Interval | undefined): string {
  return `buckets AS (${bucketsSql(interval)}),
    rounded AS (
      SELECT bucket, label, lo, hi, date_trunc('day', lo + interval '12 hours', 'UTC') AS dlo,
        date_trunc('day', hi + interval '12 hours', 'UTC') AS dhi
      FROM buckets WHERE lo < hi AND $3::text IS NOT NULL), -- also gives $3 a type when buckets ignore the time zone
    spans AS (
      SELECT bucket, label, lo, hi, CASE WHEN dlo < dhi THEN dlo ELSE hi END AS dlo, CASE WHEN dlo < dhi THEN dhi ELSE hi END AS dhi
      FROM rounded),
    parts AS (
      SELECT s.bucket, s.label, p.daily, p.sign, p.lo, p.hi FROM spans s CROSS JOIN LATERAL (VALUES
        (true, 1, s.dlo, s.dhi),
        (false, 1, s.lo, s.dlo),
        (false, -1, s.dlo, s.lo),
        (false, 1, s.dhi, s.hi),
        (false, -1, s.hi, s.dhi)) AS p(daily, sign, lo, hi)
      WHERE p.lo < p.hi)`;
}

function filterSql(filters: RollupFilters, params: unknown[]): string {
  let sql = '';
  for (const key of Object.keys(FILTER) as (keyof RollupFilters)[]) {
    const values = filters[key];
    if (!values?.length) continue;
    params.push(values);
    sql += ` AND ${FILTER[key].replace('$?', `$${params.length}`)}`;
  }
  return sql;
}

const USAGE_SUMS = [
  'requests',
  'errors',
  'input_tokens',
  'cached_tokens',
  'output_tokens',
  'reasoning_tokens',
  'audio_input_tokens',
  'audio_seconds',
  'audio_output_tokens',
  'image_input_tokens',
  'image_output_tokens',
  'characters',
  'images',
  'web_search_calls',
  'web_search_preview_calls',
  'file_search_calls',
  'cost_nanos',
  'estimated_cost_nanos',
  'estimated_requests',
  'unpriced_requests',
  'not_metered_requests',
] as const;

/**
 * One lateral read per part: Postgres runs each as an index range scan on the rollup's time
 * column, so the plan stays a handful of small scans however long the range is.
 */
function lateralSql(dims: readonly RollupDimension[], sums: string, daily: string, hourly: string, where: string, extraGroup = '', columns = COLUMN): string {
  const groupCols = [...dims.map((d) => columns[d]), ...(extraGroup ? [`r.${extraGroup}`] : [])];
  const select = [...dims.map((d) => `${columns[d]} AS "g_${d}"`), ...(extraGroup ? [`r.${extraGroup} AS ${extraGroup}`] : [])];
  const groupBy = groupCols.length ? `GROUP BY ${groupCols.join(', ')}` : '';
  const one = (table: string, time: string, daySide: boolean) =>
    `SELECT ${[...select, sums].join(', ')} FROM ${table} r
      WHERE ${daySide ? '' : 'NOT '}p.daily AND r.${time} >= p.lo AND r.${time} < p.hi${where} ${groupBy} HAVING count(*) > 0`;
  return `(${one(daily, 'day', true)} UNION ALL ${one(hourly, 'hour', false)}) x`;
}

function groupsOf(dims: readonly RollupDimension[], row: Record<string, unknown>): Partial<Record<RollupDimension, string | null>> {
  const groups: Partial<Record<RollupDimension, string | null>> = {};
  for (const d of dims) {
    const value = row[`g_${d}`];
    groups[d] = value === null || value === undefined ? null : String(value);
  }
  return groups;
}

/**
 * Every bucket of the range (also the ones with no traffic), so charts draw empty buckets as zero
 * instead of closing up the gaps. Local days and months follow the time zone's DST changes.
 */
export async function queryBuckets(db: Pick<DataSource, 'query'>, range: Pick<RollupRange, 'from' | 'to' | 'tz' | 'interval'>): Promise<Array<{ bucket: Date; label: string }>> {
  if (!range.interval) return [];
  const rows = (await db.query(`SELECT bucket, label FROM (${bucketsSql(range.interval)}) b WHERE lo < hi AND $3::text IS NOT NULL ORDER BY bucket`, [
    range.from.toISOString(),
    range.to.toISOString(),
    range.tz,
  ])) as Array<{ bucket: Date; label: string }>;
  return rows;
}

/** The tag filter of a tagged read (its tag, and values when given). */
function taggedSql(tagged: RollupRange['tagged'], params: unknown[]): string {
  if (!tagged) return '';
  params.push(tagged.tag);
  let sql = ` AND r.tag = $${params.length}`;
  if (tagged.values?.length) {
    params.push(tagged.values);
    sql += ` AND r.value = ANY($${params.length}::text[])`;
  }
  return sql;
}

export async function queryUsage(db: Pick<DataSource, 'query'>, range: RollupRange): Promise<UsageRow[]> {
  const params: unknown[] = [range.from.toISOString(), range.to.toISOString(), range.tz];
  const where = filterSql(range.filters, params) + taggedSql(range.tagged, params);
  const [daily, hourly] = range.tagged ? ['usage_tag_daily', 'usage_tag_hourly'] : ['usage_daily', 'usage_hourly'];
  let columns = COLUMN;
  if (range.tagged?.keep) {
    // Values outside the top ones fold into NULL ("other") in Postgres: a handful of groups per bucket instead of every value.
    params.push(range.tagged.keep);
    const kept = `CASE WHEN r.value = ANY($${params.length}::text[]) THEN r.value END`;
    columns = { ...COLUMN, tag: kept, endUser: kept };
  }
  const dims = range.groupBy;
  const inner = USAGE_SUMS.map((c) => `sum(r.${c}) AS ${c}`).join(', ');
  const outerGroups = dims.map((d) => `x."g_${d}"`);
  const sql = `WITH ${partsSql(range.interval)}
    SELECT p.bucket, p.label, ${[...outerGroups, ...USAGE_SUMS.map((c) => `sum(p.sign * x.${c})::text AS ${c}`)].join(', ')}
    FROM parts p CROSS JOIN LATERAL ${lateralSql(dims, inner, daily, hourly, where, '', columns)}
    GROUP BY ${['p.bucket', 'p.label', ...outerGroups].join(', ')}
    HAVING sum(p.sign * x.requests) <> 0 -- a group seen only in subtracted hours is not in the bucket
    ORDER BY ${['p.bucket', ...outerGroups].join(', ')}`;
  const rows = (await db.query(sql, params)) as Record<string, unknown>[];
  return rows.map((r) => ({
    bucket: (r.bucket as Date | null) ?? null,
    label: (r.label as string | null) ?? null,
    groups: groupsOf(dims, r),
    requests: BigInt(r.requests as string),
    errors: BigInt(r.errors as string),
    inputTokens: BigInt(r.input_tokens as string),
    cachedTokens: BigInt(r.cached_tokens as string),
    outputTokens: BigInt(r.output_tokens as string),
    reasoningTokens: BigInt(r.reasoning_tokens as string),
    audioInputTokens: BigInt(r.audio_input_tokens as string),
    audioSeconds: fixed3(r.audio_seconds as string),
    audioOutputTokens: BigInt(r.audio_output_tokens as string),
    imageInputTokens: BigInt(r.image_input_tokens as string),
    imageOutputTokens: BigInt(r.image_output_tokens as string),
    characters: BigInt(r.characters as string),
    images: BigInt(r.images as string),
    webSearchCalls: BigInt(r.web_search_calls as string),
    webSearchPreviewCalls: BigInt(r.web_search_preview_calls as string),
    fileSearchCalls: BigInt(r.file_search_calls as string),
    costNanos: BigInt(r.cost_nanos as string),
    estimatedCostNanos: BigInt(r.estimated_cost_nanos as string),
    estimatedRequests: BigInt(r.estimated_requests as string),
    unpricedRequests: BigInt(r.unpriced_requests as string),
    notMeteredRequests: BigInt(r.not_metered_requests as string),
  }));
}

/**
 * The `n` values of a tagged range with the most spend (then requests, then by name), from the daily
 * tag rollup over the whole UTC days the range touches: a ranking, so its edges need no hours.
 */
export async function queryTopValues(db: Pick<DataSource, 'query'>, range: RollupRange, n: number, money: boolean): Promise<string[]> {
  const params: unknown[] = [range.from.toISOString(), range.to.toISOString()];
  const where = filterSql(range.filters, params) + taggedSql(range.tagged, params);
  params.push(n);
  const rows = (await db.query(
    `SELECT r.value FROM usage_tag_daily r
     WHERE r.day >= date_trunc('day', $1::timestamptz, 'UTC') AND r.day < $2::timestamptz AND r.value IS NOT NULL${where}
     GROUP BY r.value ORDER BY ${money ? 'sum(r.cost_nanos) DESC, ' : ''}sum(r.requests) DESC, r.value LIMIT $${params.length}`,
    params,
  )) as Array<{ value: string }>;
  return rows.map((r) => r.value);
}

/** The UsageRow fields that are counts (bigint), for adding and subtracting rows. */
const COUNT_FIELDS = [
  'requests', 'errors', 'inputTokens', 'cachedTokens', 'outputTokens', 'reasoningTokens', 'audioInputTokens', 'audioOutputTokens',
  'imageInputTokens', 'imageOutputTokens', 'characters', 'images', 'webSearchCalls', 'webSearchPreviewCalls', 'fileSearchCalls',
  'costNanos', 'estimatedCostNanos', 'estimatedRequests', 'unpricedRequests', 'notMeteredRequests',
] as const satisfies ReadonlyArray<keyof UsageRow>;

/** Adds `source` (times sign: -1 subtracts) into `target`, exactly. */
export function addUsage(target: UsageRow, source: UsageRow, sign: 1 | -1 = 1): void {
  for (const field of COUNT_FIELDS) target[field] += sign === 1 ? source[field] : -source[field];
  const millis = (text: string) => BigInt(text.replace('.', ''));
  const sum = millis(target.audioSeconds) + BigInt(sign) * millis(source.audioSeconds);
  const negative = sum < 0n;
  const abs = negative ? -sum : sum;
  target.audioSeconds = `${negative ? '-' : ''}${abs / 1000n}.${(abs % 1000n).toString().padStart(3, '0')}`;
}

/** numeric sums come back as exact decimal text; normalise to 3 places without going through a float. */
function fixed3(text: string): string {
  const [whole, fraction = ''] = text.split('.');
  return `${whole}.${fraction.padEnd(3, '0').slice(0, 3)}`;
}

export async function queryHistograms(db: Pick<DataSource, 'query'>, range: RollupRange): Promise<HistogramRow[]> {
  const params: unknown[] = [range.from.toISOString(), range.to.toISOString(), range.tz];
  const where = filterSql(range.filters, params);
  const dims = range.groupBy.filter((d) => d !== 'price');
  const inner = 'sum(r.latency_count) AS latency_count, sum(r.ttfb_count) AS ttfb_count';
  const outerGroups = dims.map((d) => `x."g_${d}"`);
  const sql = `WITH ${partsSql(range.interval)}
    SELECT p.bucket, p.label, ${[...outerGroups, 'x.bucket AS histogram_bucket', 'sum(p.sign * x.latency_count)::int8 AS latency_count', 'sum(p.sign * x.ttfb_count)::int8 AS ttfb_count'].join(', ')}
    FROM parts p CROSS JOIN LATERAL ${lateralSql(dims, inner, 'usage_latency_daily', 'usage_latency_hourly', where, 'bucket')}
    GROUP BY ${['p.bucket', 'p.label', ...outerGroups, 'x.bucket'].join(', ')}
    HAVING sum(p.sign * x.latency_count) <> 0 OR sum(p.sign * x.ttfb_count) <> 0`;
  const rows = (await db.query(sql, params)) as Record<string, unknown>[];
  const byKey = new Map<string, HistogramRow>();
  for (const r of rows) {
    const groups = groupsOf(dims, r);
    const bucket = (r.bucket as Date | null) ?? null;
    const key = `${bucket?.getTime() ?? ''}|${dims.map((d) => groups[d] ?? '').join('|')}`;
    let entry = byKey.get(key);
    if (!entry) byKey.set(key, (entry = { bucket, label: (r.label as string | null) ?? null, groups, latency: new Map(), ttfb: new Map() }));
    const b = Number(r.histogram_bucket);
    const latency = Number(r.latency_count);
    const ttfb = Number(r.ttfb_count);
    if (latency) entry.latency.set(b, latency);
    if (ttfb) entry.ttfb.set(b, ttfb);
  }
  return [...byKey.values()];
}

/** The rollup reads as an injectable, for services (the functions above take any connection). */
@Injectable()
export class RollupsRepository {
  constructor(private readonly dataSource: DataSource) {}

  usage(range: RollupRange): Promise<UsageRow[]> {
    return queryUsage(this.dataSource, range);
  }

  histograms(range: RollupRange): Promise<HistogramRow[]> {
    return queryHistograms(this.dataSource, range);
  }

  /** Grouped by a tag or end user: its top `n` values by spend (by requests without money). */
  topValues(range: RollupRange, n: number, money: boolean): Promise<string[]> {
    return queryTopValues(this.dataSource, range, n, money);
  }

  buckets(range: Pick<RollupRange, 'from' | 'to' | 'tz' | 'interval'>): Promise<Array<{ bucket: Date; label: string }>> {
    return queryBuckets(this.dataSource, range);
  }
}
