import { MigrationInterface, QueryRunner } from 'typeorm';

const KEY = 'org_id uuid, feature_id uuid, model text, endpoint text NOT NULL';
const USAGE_COLUMNS = `
  price_id integer,
  requests bigint NOT NULL DEFAULT 0,
  errors bigint NOT NULL DEFAULT 0,
  input_tokens bigint NOT NULL DEFAULT 0,
  cached_tokens bigint NOT NULL DEFAULT 0,
  output_tokens bigint NOT NULL DEFAULT 0,
  reasoning_tokens bigint NOT NULL DEFAULT 0,
  audio_input_tokens bigint NOT NULL DEFAULT 0,
  audio_seconds numeric(16, 3) NOT NULL DEFAULT 0,
  cost_nanos bigint NOT NULL DEFAULT 0,
  estimated_cost_nanos bigint NOT NULL DEFAULT 0,
  estimated_requests bigint NOT NULL DEFAULT 0,
  unpriced_requests bigint NOT NULL DEFAULT 0,
  latency_ms_sum bigint NOT NULL DEFAULT 0`;

/**
 * What the analytics API reads, so no dashboard query scans the ledger:
 * - usage_hourly gains price_id (statements show the unit prices each line was charged at) and
 *   audio_input_tokens (billed at their own rate), both in the key so a row has one price;
 * - usage_daily: the same by UTC day, so long ranges read ~24x fewer rows (hours fill the edges
 *   of time-zone buckets that do not start at UTC midnight);
 * - usage_latency_hourly/daily: latency and time-to-first-byte histograms over fixed log-spaced
 *   buckets (8 per doubling, ~9% wide), so percentiles come from bucket counts;
 * - prices.retired_at: a correction retires the rows it replaces instead of editing them, so an
 *   event's price_id always points at the unit prices it was charged.
 */
export class AnalyticsRollups1732600000000 implements MigrationInterface {
  name = 'AnalyticsRollups1732600000000';

  async up(q: QueryRunner): Promise<void> {
    // Bucket b >= 1 holds [2^((b-1)/8), 2^(b/8)) ms; 0 holds sub-millisecond values. Inlined by the planner.
    await q.query(`
      CREATE FUNCTION latency_bucket(ms integer) RETURNS smallint
      LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
      AS $$ SELECT CASE WHEN ms < 1 THEN 0 ELSE least(250, 1 + floor(8 * ln(ms::float8) / ln(2::float8)))::smallint END $$`);

    await q.query(`ALTER TABLE usage_hourly ADD COLUMN price_id integer, ADD COLUMN audio_input_tokens bigint NOT NULL DEFAULT 0`);
    await q.query(`DROP INDEX usage_hourly_key`);
    // Rebuilt from the ledger: existing rows may mix prices.
    await q.query(`TRUNCATE usage_hourly`);
    await q.query(`
      CREATE UNIQUE INDEX usage_hourly_key ON usage_hourly (hour, org_id, feature_id, model, endpoint, price_id) NULLS NOT DISTINCT`);

    await q.query(`CREATE TABLE usage_daily (day timestamptz NOT NULL, ${KEY}, ${USAGE_COLUMNS})`);
    await q.query(`
      CREATE UNIQUE INDEX usage_daily_key ON usage_daily (day, org_id, feature_id, model, endpoint, price_id) NULLS NOT DISTINCT`);
    await q.query(`CREATE INDEX usage_daily_org ON usage_daily (org_id, day)`);
    await q.query(`CREATE INDEX usage_daily_feature ON usage_daily (feature_id, day)`);

    for (const [table, time] of [
      ['usage_latency_hourly', 'hour'],
      ['usage_latency_daily', 'day'],
    ] as const) {
      await q.query(`
        CREATE TABLE ${table} (${time} timestamptz NOT NULL, ${KEY}, bucket smallint NOT NULL,
          latency_count bigint NOT NULL DEFAULT 0, ttfb_count bigint NOT NULL DEFAULT 0)`);
      await q.query(`
        CREATE UNIQUE INDEX ${table}_key ON ${table} (${time}, org_id, feature_id, model, endpoint, bucket) NULLS NOT DISTINCT`);
      await q.query(`CREATE INDEX ${table}_feature ON ${table} (feature_id, ${time})`);
    }

    for (const [table, time] of [
      ['usage_hourly', 'hour'],
      ['usage_daily', 'day'],
    ] as const) {
      await q.query(`
        INSERT INTO ${table} (${time}, org_id, feature_id, model, endpoint, price_id, requests, errors, input_tokens,
          cached_tokens, output_tokens, reasoning_tokens, audio_input_tokens, audio_seconds, cost_nanos,
          estimated_cost_nanos, estimated_requests, unpriced_requests, latency_ms_sum)
        SELECT date_trunc('${time}', created_at, 'UTC'), org_id, feature_id, model, endpoint, price_id, count(*),
          count(*) FILTER (WHERE outcome <> 'ok'), sum(input_tokens), sum(cached_tokens), sum(output_tokens),
          sum(reasoning_tokens), sum(audio_input_tokens), coalesce(sum(audio_seconds), 0), coalesce(sum(cost_nanos), 0),
          coalesce(sum(cost_nanos) FILTER (WHERE usage_source = 'estimated'), 0),
          count(*) FILTER (WHERE usage_source = 'estimated'), count(*) FILTER (WHERE cost_nanos IS NULL), sum(latency_ms)
        FROM usage_events GROUP BY 1, 2, 3, 4, 5, 6`);
    }
    for (const [table, time] of [
      ['usage_latency_hourly', 'hour'],
      ['usage_latency_daily', 'day'],
    ] as const) {
      await q.query(`
        INSERT INTO ${table} (${time}, org_id, feature_id, model, endpoint, bucket, latency_count, ttfb_count)
        SELECT date_trunc('${time}', created_at, 'UTC'), org_id, feature_id, model, endpoint, b.bucket, sum(b.latency), sum(b.ttfb)
        FROM usage_events CROSS JOIN LATERAL (VALUES (latency_bucket(latency_ms), 1, 0), (latency_bucket(ttfb_ms), 0, 1)) AS b(bucket, latency, ttfb)
        WHERE b.bucket IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6`);
    }

    await q.query(`ALTER TABLE prices ADD COLUMN retired_at timestamptz, ADD COLUMN retired_by text`);
    await q.query(`ALTER TABLE prices DROP CONSTRAINT prices_model_service_tier_effective_from_key`);
    await q.query(`CREATE UNIQUE INDEX prices_current ON prices (model, service_tier, effective_from) WHERE retired_at IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX prices_current`);
    await q.query(`DELETE FROM prices WHERE retired_at IS NOT NULL`);
    await q.query(`ALTER TABLE prices DROP COLUMN retired_at, DROP COLUMN retired_by, ADD UNIQUE (model, service_tier, effective_from)`);
    await q.query(`DROP TABLE usage_latency_daily, usage_latency_hourly, usage_daily`);
    await q.query(`DROP INDEX usage_hourly_key`);
    await q.query(`TRUNCATE usage_hourly`);
    await q.query(`ALTER TABLE usage_hourly DROP COLUMN price_id, DROP COLUMN audio_input_tokens`);
    await q.query(`CREATE UNIQUE INDEX usage_hourly_key ON usage_hourly (hour, org_id, feature_id, model, endpoint) NULLS NOT DISTINCT`);
    await q.query(`DROP FUNCTION latency_bucket(integer)`);
  }
}
