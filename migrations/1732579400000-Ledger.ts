import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The usage ledger: one immutable row per request, partitioned by UTC month, and the hourly
 * rollup the batch writer maintains in the same statement as the insert.
 * No foreign keys on the ledger: it is append-only history and must outlive deleted orgs.
 */
export class Ledger1732579400000 implements MigrationInterface {
  name = 'Ledger1732579400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE usage_events (
        id uuid NOT NULL,
        created_at timestamptz NOT NULL,
        org_id uuid,
        feature_id uuid,
        gateway_key_id uuid,
        endpoint text NOT NULL,
        model text,
        service_tier text,
        streamed boolean NOT NULL DEFAULT false,
        status smallint NOT NULL,
        outcome text NOT NULL CHECK (outcome IN ('ok', 'error', 'client_aborted', 'upstream_aborted')),
        error_kind text,
        error_type text,
        error_code text,
        input_tokens integer NOT NULL DEFAULT 0,
        cached_tokens integer NOT NULL DEFAULT 0,
        output_tokens integer NOT NULL DEFAULT 0,
        reasoning_tokens integer NOT NULL DEFAULT 0,
        audio_input_tokens integer NOT NULL DEFAULT 0,
        audio_seconds numeric(10, 3),
        audio_source text CHECK (audio_source IN ('reported', 'measured')),
        usage_source text NOT NULL CHECK (usage_source IN ('reported', 'estimated', 'none')),
        cost_nanos bigint,
        price_id integer,
        latency_ms integer NOT NULL,
        ttfb_ms integer,
        upstream_request_id text,
        retry_count smallint NOT NULL DEFAULT 0,
        rl_limit_requests integer,
        rl_remaining_requests integer,
        rl_reset_requests_ms integer,
        rl_limit_tokens bigint,
        rl_remaining_tokens bigint,
        rl_reset_tokens_ms integer,
        rl_limit_project_tokens bigint,
        rl_remaining_project_tokens bigint,
        rl_reset_project_tokens_ms integer,
        PRIMARY KEY (created_at, id)
      ) PARTITION BY RANGE (created_at)`);
    await q.query(`CREATE INDEX usage_events_org_time ON usage_events (org_id, created_at)`);
    await q.query(`CREATE INDEX usage_events_feature_time ON usage_events (feature_id, created_at)`);

    // Creates the monthly partitions covering [from, from + months) in UTC; idempotent.
    await q.query(`
      CREATE FUNCTION ensure_usage_partitions(from_ts timestamptz, months integer) RETURNS void
      LANGUAGE plpgsql AS $$
      DECLARE
        first_month timestamp := date_trunc('month', from_ts AT TIME ZONE 'UTC');
        lo timestamp;
        part text;
      BEGIN
        FOR i IN 0 .. months - 1 LOOP
          lo := first_month + make_interval(months => i);
          part := 'usage_events_' || to_char(lo, 'YYYY_MM');
          IF to_regclass(part) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF usage_events FOR VALUES FROM (%L) TO (%L)',
              part, lo AT TIME ZONE 'UTC', (lo + interval '1 month') AT TIME ZONE 'UTC');
          END IF;
        END LOOP;
      END $$`);
    await q.query(`SELECT ensure_usage_partitions(now() - interval '1 month', 4)`);

    // One row per hour x org x feature x model x endpoint: what the spend dashboard reads.
    await q.query(`
      CREATE TABLE usage_hourly (
        hour timestamptz NOT NULL,
        org_id uuid,
        feature_id uuid,
        model text,
        endpoint text NOT NULL,
        requests bigint NOT NULL DEFAULT 0,
        errors bigint NOT NULL DEFAULT 0,
        input_tokens bigint NOT NULL DEFAULT 0,
        cached_tokens bigint NOT NULL DEFAULT 0,
        output_tokens bigint NOT NULL DEFAULT 0,
        reasoning_tokens bigint NOT NULL DEFAULT 0,
        audio_seconds numeric(16, 3) NOT NULL DEFAULT 0,
        cost_nanos bigint NOT NULL DEFAULT 0,
        estimated_cost_nanos bigint NOT NULL DEFAULT 0,
        estimated_requests bigint NOT NULL DEFAULT 0,
        unpriced_requests bigint NOT NULL DEFAULT 0,
        latency_ms_sum bigint NOT NULL DEFAULT 0
      )`);
    await q.query(`
      CREATE UNIQUE INDEX usage_hourly_key ON usage_hourly (hour, org_id, feature_id, model, endpoint) NULLS NOT DISTINCT`);
    await q.query(`CREATE INDEX usage_hourly_org ON usage_hourly (org_id, hour)`);
    await q.query(`CREATE INDEX usage_hourly_feature ON usage_hourly (feature_id, hour)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE usage_hourly`);
    await q.query(`DROP TABLE usage_events`);
    await q.query(`DROP FUNCTION ensure_usage_partitions(timestamptz, integer)`);
  }
}
