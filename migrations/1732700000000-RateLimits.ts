import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Rate-limit headroom and throttling history at one-minute resolution, maintained by the ledger's
 * batch insert (ROLLUPS in server/ledger/ledger.sql.ts): one row per org, model family and minute
 * for headroom, and per org, feature, model family and minute for throttling; never per request.
 */
export class RateLimits1732700000000 implements MigrationInterface {
  name = 'RateLimits1732700000000';

  async up(q: QueryRunner): Promise<void> {
    // OpenAI limits are per model family (dated snapshots share their family's limit), so headroom
    // and throttling are keyed by family. Same rule as modelFamily() in server/pricing/cost.ts.
    await q.query(`
      CREATE FUNCTION model_family(model text) RETURNS text
      LANGUAGE sql IMMUTABLE PARALLEL SAFE
      AS $$ SELECT regexp_replace(model, '-([0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}|latest|stable)$', '') $$`);

    // The newest x-ratelimit-* values seen in each minute (observed_at says when), plus the lowest
    // remaining values of the minute so a peak between two samples is not lost.
    await q.query(`
      CREATE TABLE ratelimit_minutes (
        minute timestamptz NOT NULL,
        org_id uuid NOT NULL,
        model text NOT NULL,
        observed_at timestamptz NOT NULL,
        limit_requests integer,
        remaining_requests integer,
        reset_requests_ms integer,
        limit_tokens bigint,
        remaining_tokens bigint,
        reset_tokens_ms integer,
        limit_project_tokens bigint,
        remaining_project_tokens bigint,
        reset_project_tokens_ms integer,
        min_remaining_requests integer,
        min_remaining_tokens bigint,
        observations integer NOT NULL DEFAULT 0,
        PRIMARY KEY (org_id, model, minute)
      )`);
    await q.query(`CREATE INDEX ratelimit_minutes_minute ON ratelimit_minutes (minute)`);

    await q.query(`
      CREATE TABLE throttle_minutes (
        minute timestamptz NOT NULL,
        org_id uuid NOT NULL,
        feature_id uuid,
        model text,
        requests integer NOT NULL DEFAULT 0,
        rate_limit_requests integer NOT NULL DEFAULT 0,
        rate_limit_tokens integer NOT NULL DEFAULT 0,
        request_too_large integer NOT NULL DEFAULT 0,
        quota integer NOT NULL DEFAULT 0,
        paced integer NOT NULL DEFAULT 0,
        retries integer NOT NULL DEFAULT 0
      )`);
    await q.query(`
      CREATE UNIQUE INDEX throttle_minutes_key ON throttle_minutes (minute, org_id, feature_id, model) NULLS NOT DISTINCT`);
    await q.query(`CREATE INDEX throttle_minutes_org ON throttle_minutes (org_id, minute)`);
    await q.query(`CREATE INDEX throttle_minutes_feature ON throttle_minutes (feature_id, minute)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE throttle_minutes`);
    await q.query(`DROP TABLE ratelimit_minutes`);
    await q.query(`DROP FUNCTION model_family(text)`);
  }
}
