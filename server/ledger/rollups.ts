// The rollup registry: every table the ledger's batch insert keeps up to date from the rows it just
// wrote (`ins`), each as one data-modifying CTE. It feeds the insert (ledger.sql.ts), the re-pricing
// rebuild of the rollups that carry cost (pricing/price-admin.service.ts) and the tests' reset.
// Adding a rollup is one entry here and its table in a migration (docs/architecture.md, "Rollups").
import { HEADROOM_ROLLUP, THROTTLING_ROLLUP } from './ratelimit.rollups.js';
import type { Rollup } from './rollup.js';

export type { Rollup } from './rollup.js';

/**
 * Spend and usage per hour or UTC day x org x feature x model x endpoint x price: what the spend
 * dashboard and statements read. Rows are upserted in key order so concurrent writers lock in one order.
 */
function usageRollup(table: string, time: 'hour' | 'day', source = 'ins', extraKeys: readonly string[] = [], needs?: string[]): Rollup {
  const keys = [time, 'org_id', 'feature_id', 'model', 'endpoint', 'price_id', ...extraKeys];
  const positions = keys.map((_, i) => i + 1).join(', ');
  const upsert = `${table}_rollup AS (
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
  return { table, upsert, cost: { time }, ...(needs ? { needs } : {}) };
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
const LATENCY_HOURS = `latency_hours AS (
    SELECT date_trunc('hour', created_at, 'UTC') AS hour, org_id, feature_id, model, endpoint, b.bucket,
      sum(b.latency) AS latency_count, sum(b.ttfb) AS ttfb_count
    FROM ins CROSS JOIN LATERAL (VALUES (${latencyBucket('latency_ms')}, 1, 0), (${latencyBucket('ttfb_ms')}, 0, 1)) AS b(bucket, latency, ttfb)
    WHERE b.bucket IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6
  )`;

const LATENCY_HOURLY: Rollup = {
  table: 'usage_latency_hourly',
  needs: [LATENCY_HOURS],
  upsert: `usage_latency_hourly_rollup AS (
    INSERT INTO usage_latency_hourly AS l (hour, org_id, feature_id, model, endpoint, bucket, latency_count, ttfb_count)
    SELECT * FROM latency_hours ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (hour, org_id, feature_id, model, endpoint, bucket) DO UPDATE SET
      latency_count = l.latency_count + excluded.latency_count,
      ttfb_count = l.ttfb_count + excluded.ttfb_count
  )`,
};

const LATENCY_DAILY: Rollup = {
  table: 'usage_latency_daily',
  needs: [LATENCY_HOURS],
  upsert: `usage_latency_daily_rollup AS (
    INSERT INTO usage_latency_daily AS l (day, org_id, feature_id, model, endpoint, bucket, latency_count, ttfb_count)
    SELECT date_trunc('day', hour, 'UTC'), org_id, feature_id, model, endpoint, bucket, sum(latency_count), sum(ttfb_count)
    FROM latency_hours GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (day, org_id, feature_id, model, endpoint, bucket) DO UPDATE SET
      latency_count = l.latency_count + excluded.latency_count,
      ttfb_count = l.ttfb_count + excluded.ttfb_count
  )`,
};

/** The event columns the usage rollups read: what the tag pairs carry (not all ~50 columns of each event, once per tag). */
const ROLLUP_SOURCE_COLUMNS = [
  'created_at', 'org_id', 'feature_id', 'model', 'endpoint', 'price_id', 'outcome', 'usage_source', 'input_tokens', 'cached_tokens',
  'output_tokens', 'reasoning_tokens', 'audio_input_tokens', 'audio_seconds', 'cost_nanos', 'latency_ms', 'audio_output_tokens',
  'image_input_tokens', 'image_output_tokens', 'characters', 'image_count', 'web_search_calls', 'web_search_preview_calls', 'file_search_calls',
];

/**
 * The inserted events once per tag they carry, the end user as the tag '' (no tag name is empty;
 * an end user past its cap is stored as '' and rolls up as NULL, "other", as tag values do):
 * what the tag rollups sum. Empty, and the two upserts write nothing, when no event of the
 * batch is attributed.
 */
const TAG_PAIRS = `ins_tags AS (
    SELECT ${ROLLUP_SOURCE_COLUMNS.map((c) => `i.${c}`).join(', ')}, t.tag, t.value FROM ins i CROSS JOIN LATERAL (
      SELECT key, value FROM jsonb_each_text(i.tags) UNION ALL SELECT '', nullif(i.end_user, '') WHERE i.end_user IS NOT NULL) AS t(tag, value)
    WHERE i.tags IS NOT NULL OR i.end_user IS NOT NULL
  )`;

/** Every rollup, in the order their CTEs run (rows lock in this order across concurrent writers). */
export const ROLLUPS: readonly Rollup[] = [
  usageRollup('usage_hourly', 'hour'),
  usageRollup('usage_daily', 'day'),
  // Spend and usage per tag value (plus the usage rollups' keys): spend by customer, env, end user.
  usageRollup('usage_tag_hourly', 'hour', 'ins_tags', ['tag', 'value'], [TAG_PAIRS]),
  usageRollup('usage_tag_daily', 'day', 'ins_tags', ['tag', 'value'], [TAG_PAIRS]),
  LATENCY_HOURLY,
  LATENCY_DAILY,
  HEADROOM_ROLLUP,
  THROTTLING_ROLLUP,
];

/** The rollups a re-pricing recomputes from the ledger. */
export const COST_ROLLUPS: readonly Rollup[] = ROLLUPS.filter((r) => r.cost);

/** `, a AS (…), b AS (…)`: the rollups' CTEs (and what they need, once each) to follow `WITH ins AS (…)`. */
export function rollupCtes(rollups: readonly Rollup[]): string {
  const ctes = new Set<string>();
  for (const rollup of rollups) {
    for (const need of rollup.needs ?? []) ctes.add(need);
    ctes.add(rollup.upsert);
  }
  return [...ctes].map((cte) => `, ${cte}`).join('');
}
