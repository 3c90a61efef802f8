// The ledger's write statement: one round trip inserts a batch of usage events (idempotently:
// a batch written again after a failed attempt adds nothing) and folds exactly the rows that
// were inserted into the rollups, so rollups and ledger cannot drift apart.
import { RATELIMIT_ROLLUPS } from '../ratelimits/ratelimits.rollups.js';
import type { UsageEvent } from './usage-event.js';

type Column = readonly [name: string, pgType: string, value: (e: UsageEvent) => unknown];

const COLUMNS: readonly Column[] = [
  ['id', 'uuid', (e) => e.id],
  ['created_at', 'timestamptz', (e) => e.createdAt.toISOString()],
  ['org_id', 'uuid', (e) => e.orgId],
  ['feature_id', 'uuid', (e) => e.featureId],
  ['gateway_key_id', 'uuid', (e) => e.gatewayKeyId],
  ['endpoint', 'text', (e) => e.endpoint],
  ['model', 'text', (e) => e.model],
  ['service_tier', 'text', (e) => e.serviceTier],
  ['streamed', 'boolean', (e) => e.streamed],
  ['status', 'smallint', (e) => e.status],
  ['outcome', 'text', (e) => e.outcome],
  ['error_kind', 'text', (e) => e.errorKind],
  ['error_type', 'text', (e) => e.errorType],
  ['error_code', 'text', (e) => e.errorCode],
  ['input_tokens', 'integer', (e) => e.inputTokens],
  ['cached_tokens', 'integer', (e) => e.cachedTokens],
  ['output_tokens', 'integer', (e) => e.outputTokens],
  ['reasoning_tokens', 'integer', (e) => e.reasoningTokens],
  ['audio_input_tokens', 'integer', (e) => e.audioInputTokens],
  ['audio_seconds', 'numeric', (e) => e.audioSeconds],
  ['audio_source', 'text', (e) => e.audioSource],
  ['usage_source', 'text', (e) => e.usageSource],
  ['cost_nanos', 'bigint', (e) => e.costNanos],
  ['price_id', 'integer', (e) => e.priceId],
  ['latency_ms', 'integer', (e) => e.latencyMs],
  ['ttfb_ms', 'integer', (e) => e.ttfbMs],
  ['upstream_request_id', 'text', (e) => e.upstreamRequestId],
  ['retry_count', 'smallint', (e) => e.retryCount],
  ['rl_limit_requests', 'integer', (e) => e.rateLimits.limitRequests ?? null],
  ['rl_remaining_requests', 'integer', (e) => e.rateLimits.remainingRequests ?? null],
  ['rl_reset_requests_ms', 'integer', (e) => e.rateLimits.resetRequestsMs ?? null],
  ['rl_limit_tokens', 'bigint', (e) => e.rateLimits.limitTokens ?? null],
  ['rl_remaining_tokens', 'bigint', (e) => e.rateLimits.remainingTokens ?? null],
  ['rl_reset_tokens_ms', 'integer', (e) => e.rateLimits.resetTokensMs ?? null],
  ['rl_limit_project_tokens', 'bigint', (e) => e.rateLimits.limitProjectTokens ?? null],
  ['rl_remaining_project_tokens', 'bigint', (e) => e.rateLimits.remainingProjectTokens ?? null],
  ['rl_reset_project_tokens_ms', 'integer', (e) => e.rateLimits.resetProjectTokensMs ?? null],
  ['clamped', 'text', (e) => e.clamped ?? null],
  ['audio_output_tokens', 'integer', (e) => e.audioOutputTokens ?? 0],
  ['image_input_tokens', 'integer', (e) => e.imageInputTokens ?? 0],
  ['image_output_tokens', 'integer', (e) => e.imageOutputTokens ?? 0],
  ['characters', 'integer', (e) => e.characters ?? null],
  ['image_count', 'integer', (e) => e.imageCount ?? null],
  ['image_spec', 'text', (e) => e.imageSpec ?? null],
  ['web_search_calls', 'integer', (e) => e.webSearchCalls ?? 0],
  ['web_search_preview_calls', 'integer', (e) => e.webSearchPreviewCalls ?? 0],
  ['file_search_calls', 'integer', (e) => e.fileSearchCalls ?? 0],
  ['end_user', 'text', (e) => e.endUser ?? null],
  ['tags', 'jsonb', (e) => (e.tags ? JSON.stringify(e.tags) : null)],
];

/**
 * Spend and usage per hour or UTC day x org x feature x model x endpoint x price: what the spend
 * dashboard and statements read. Rows are upserted in key order so concurrent writers lock in one order.
 */
function usageRollup(table: string, time: 'hour' | 'day', source = 'ins', extraKeys: readonly string[] = []): string {
  const keys = [time, 'org_id', 'feature_id', 'model', 'endpoint', 'price_id', ...extraKeys];
  const positions = keys.map((_, i) => i + 1).join(', ');
  return `${table}_rollup AS (
    INSERT INTO ${table} AS h (${keys.join(', ')}, requests, errors,
      input_tokens, cached_tokens, output_tokens, reasoning_tokens, audio_input_tokens, audio_seconds, cost_nanos,
      estimated_cost_nanos, estimated_requests, unpriced_requests, latency_ms_sum, not_metered_requests, ${COMPONENTS.join(', ')})
    SELECT date_trunc('${time}', created_at, 'UTC'), ${keys.slice(1).join(', ')}, count(*),
      count(*) FILTER (WHERE outcome <> 'ok'),
      sum(input_tokens), sum(cached_tokens), sum(output_tokens), sum(reasoning_tokens), sum(audio_input_tokens),
      coalesce(sum(audio_seconds), 0), coalesce(sum(cost_nanos), 0),
      coalesce(sum(cost_nanos) FILTER (WHERE usage_source = 'estimated'), 0),
      count(*) FILTER (WHERE usage_source = 'estimated'),
      count(*) FILTER (WHERE cost_nanos IS NULL AND usage_source <> 'not_metered'), sum(latency_ms),
      count(*) FILTER (WHERE usage_source = 'not_metered'), ${COMPONENT_SUMS}
    FROM ${source} GROUP BY ${positions} ORDER BY ${positions}
    ON CONFLICT (${keys.join(', ')}) DO UPDATE SET
      requests = h.requests + excluded.requests,
      errors = h.errors + excluded.errors,
      input_tokens = h.input_tokens + excluded.input_tokens,
      cached_tokens = h.cached_tokens + excluded.cached_tokens,
      output_tokens = h.output_tokens + excluded.output_tokens,
      reasoning_tokens = h.reasoning_tokens + excluded.reasoning_tokens,
      audio_input_tokens = h.audio_input_tokens + excluded.audio_input_tokens,
      audio_seconds = h.audio_seconds + excluded.audio_seconds,
      cost_nanos = h.cost_nanos + excluded.cost_nanos,
      estimated_cost_nanos = h.estimated_cost_nanos + excluded.estimated_cost_nanos,
      estimated_requests = h.estimated_requests + excluded.estimated_requests,
      unpriced_requests = h.unpriced_requests + excluded.unpriced_requests,
      latency_ms_sum = h.latency_ms_sum + excluded.latency_ms_sum,
      not_metered_requests = h.not_metered_requests + excluded.not_metered_requests,
      ${COMPONENTS.map((c) => `${c} = h.${c} + excluded.${c}`).join(',\n      ')}
  )`;
}

/** Price components beyond text tokens, summed per rollup row so statements can show them per line. */
const COMPONENTS = ['audio_output_tokens', 'image_input_tokens', 'image_output_tokens', 'characters', 'images', 'web_search_calls', 'web_search_preview_calls', 'file_search_calls'];
/** Their sums over the inserted events (characters and image_count are NULL when not counted). */
const COMPONENT_SUMS = [
  'sum(audio_output_tokens)',
  'sum(image_input_tokens)',
  'sum(image_output_tokens)',
  'coalesce(sum(characters), 0)',
  'coalesce(sum(image_count), 0)',
  'sum(web_search_calls)',
  'sum(web_search_preview_calls)',
  'sum(file_search_calls)',
].join(', ');

/**
 * The SQL function latency_bucket() (8 buckets per doubling), written out: Postgres does not inline
 * a SQL function called inside LATERAL VALUES, and calling it 2,000 times per batch made the whole
 * ledger insert 3x slower (136 → 47 ms per 1,000 events, measured). The analytics tests check the
 * rollups against latency_bucket() over the ledger, so the two cannot drift apart unnoticed.
 */
const latencyBucket = (column: string) =>
  // NULL stays NULL as the STRICT function's does (least() would turn it into 250).
  `CASE WHEN ${column} IS NULL THEN NULL WHEN ${column} < 1 THEN 0 ELSE least(250, 1 + floor(8 * ln(${column}::float8) / ln(2::float8)))::smallint END`;

/**
 * Latency and time-to-first-byte histograms (fixed log-spaced buckets), hourly and daily. The batch
 * is bucketed once per hour (`latency_hours`) and the daily rows are summed from those hours: two
 * passes over every event, each computing two logarithms, cost ~12 µs of Postgres CPU per event,
 * about a third of the whole statement (measured with EXPLAIN ANALYZE, 1,000-event batches).
 */
const LATENCY_ROLLUP = `latency_hours AS (
    SELECT date_trunc('hour', created_at, 'UTC') AS hour, org_id, feature_id, model, endpoint, b.bucket,
      sum(b.latency) AS latency_count, sum(b.ttfb) AS ttfb_count
    FROM ins CROSS JOIN LATERAL (VALUES (${latencyBucket('latency_ms')}, 1, 0), (${latencyBucket('ttfb_ms')}, 0, 1)) AS b(bucket, latency, ttfb)
    WHERE b.bucket IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6
  ), usage_latency_hourly_rollup AS (
    INSERT INTO usage_latency_hourly AS l (hour, org_id, feature_id, model, endpoint, bucket, latency_count, ttfb_count)
    SELECT * FROM latency_hours ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (hour, org_id, feature_id, model, endpoint, bucket) DO UPDATE SET
      latency_count = l.latency_count + excluded.latency_count,
      ttfb_count = l.ttfb_count + excluded.ttfb_count
  ), usage_latency_daily_rollup AS (
    INSERT INTO usage_latency_daily AS l (day, org_id, feature_id, model, endpoint, bucket, latency_count, ttfb_count)
    SELECT date_trunc('day', hour, 'UTC'), org_id, feature_id, model, endpoint, bucket, sum(latency_count), sum(ttfb_count)
    FROM latency_hours GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (day, org_id, feature_id, model, endpoint, bucket) DO UPDATE SET
      latency_count = l.latency_count + excluded.latency_count,
      ttfb_count = l.ttfb_count + excluded.ttfb_count
  )`;

/** The rollups that carry cost: what a re-pricing recomputes from the ledger. */
export const USAGE_HOURLY_ROLLUP = usageRollup('usage_hourly', 'hour');
export const USAGE_DAILY_ROLLUP = usageRollup('usage_daily', 'day');

/** The event columns the usage rollups read: what the tag pairs carry (not all ~50 columns of each event, once per tag). */
const ROLLUP_SOURCE_COLUMNS = [
  'created_at', 'org_id', 'feature_id', 'model', 'endpoint', 'price_id', 'outcome', 'usage_source', 'input_tokens', 'cached_tokens',
  'output_tokens', 'reasoning_tokens', 'audio_input_tokens', 'audio_seconds', 'cost_nanos', 'latency_ms', 'audio_output_tokens',
  'image_input_tokens', 'image_output_tokens', 'characters', 'image_count', 'web_search_calls', 'web_search_preview_calls', 'file_search_calls',
];

/**
 * The inserted events once per tag they carry, the end user as the tag '' (no tag name is empty;
 * an end user past its cap is stored as '' and rolls up as NULL, "other", as tag values do):
 * what the tag rollups sum. Empty, and the two upserts below write nothing, when no event of the
 * batch is attributed.
 */
export const TAG_PAIRS = `ins_tags AS (
    SELECT ${ROLLUP_SOURCE_COLUMNS.map((c) => `i.${c}`).join(', ')}, t.tag, t.value FROM ins i CROSS JOIN LATERAL (
      SELECT key, value FROM jsonb_each_text(i.tags) UNION ALL SELECT '', nullif(i.end_user, '') WHERE i.end_user IS NOT NULL) AS t(tag, value)
    WHERE i.tags IS NOT NULL OR i.end_user IS NOT NULL
  )`;
/** Spend and usage per hour or UTC day and tag value (plus the usage rollups' keys): spend by customer, env, end user. */
export const USAGE_TAG_HOURLY_ROLLUP = usageRollup('usage_tag_hourly', 'hour', 'ins_tags', ['tag', 'value']);
export const USAGE_TAG_DAILY_ROLLUP = usageRollup('usage_tag_daily', 'day', 'ins_tags', ['tag', 'value']);

/**
 * Rollups fed from the rows the insert actually wrote (`ins`). Each is one data-modifying CTE;
 * add a rollup by adding an entry here (and its table in a migration).
 */
export const ROLLUPS: readonly string[] = [
  USAGE_HOURLY_ROLLUP,
  USAGE_DAILY_ROLLUP,
  // One entry, so it stands alone after `ins` as every entry does (the bench builds them one by one).
  `${TAG_PAIRS}, ${USAGE_TAG_HOURLY_ROLLUP}, ${USAGE_TAG_DAILY_ROLLUP}`,
  LATENCY_ROLLUP,
  ...RATELIMIT_ROLLUPS,
];

export const INSERT_BATCH_SQL = `
WITH ins AS (
  INSERT INTO usage_events (${COLUMNS.map(([name]) => name).join(', ')})
  SELECT * FROM unnest(${COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ')})
  ON CONFLICT DO NOTHING
  RETURNING *
)${ROLLUPS.map((r) => `, ${r}`).join('')}
SELECT count(*)::int AS inserted FROM ins`;

/**
 * One array literal per column, in COLUMNS order: a fixed number of parameters whatever the batch
 * size. Written here rather than by pg, which escapes every element of every array (~4 µs of
 * gateway CPU per event, measured): only text needs quoting; numbers, uuids, booleans and ISO
 * timestamps cannot contain a quote, comma, brace or space.
 */
export function batchParameters(events: readonly UsageEvent[]): string[] {
  return COLUMNS.map(([, type, value]) => arrayLiteral(events.map(value), type === 'text' || type === 'jsonb'));
}

/** A Postgres array literal: `{a,NULL,"b \"c\""}`. Text is always quoted, so "NULL" stays text. */
export function arrayLiteral(values: readonly unknown[], text: boolean): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (i > 0) out += ',';
    if (v === null || v === undefined) out += 'NULL';
    // Postgres text cannot hold NUL: one in a model name would fail every batch it is in.
    else if (text) out += `"${String(v).replace(/\0/g, '\uFFFD').replace(/[\\"]/g, '\\$&')}"`;
    else out += String(v);
  }
  return out + '}';
}
