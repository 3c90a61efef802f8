import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The whole /v1 surface forwarded. `not_metered`: a call OpenAI does not bill per call (file and
 * vector-store storage, fine-tuning training, container sessions, resource CRUD), recorded with a
 * NULL cost that is neither $0 nor "unpriced". And background responses: who created each one, so
 * that its usage, seen later on a retrieve, cancel or stream by any key, is billed once to them.
 */
export class GatewaySurface1733600000000 implements MigrationInterface {
  name = 'GatewaySurface1733600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE usage_events DROP CONSTRAINT usage_events_usage_source_check`);
    await q.query(`ALTER TABLE usage_events ADD CONSTRAINT usage_events_usage_source_check CHECK (usage_source IN ('reported', 'estimated', 'none', 'not_metered'))`);
    await q.query(`
      CREATE TABLE background_responses (
        response_id text PRIMARY KEY CHECK (length(response_id) <= 256),
        org_id uuid,
        feature_id uuid,
        gateway_key_id uuid,
        model text CHECK (length(model) <= 256),
        created_at timestamptz NOT NULL DEFAULT now(),
        billed_event_id uuid,
        billed_at timestamptz
      )`);
    // Counted apart in the rollups, so the dashboard can name them (and not as unpriced).
    for (const table of ['usage_hourly', 'usage_daily']) {
      await q.query(`ALTER TABLE ${table} ADD COLUMN not_metered_requests bigint NOT NULL DEFAULT 0`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['usage_hourly', 'usage_daily']) await q.query(`ALTER TABLE ${table} DROP COLUMN not_metered_requests`);
    await q.query(`DROP TABLE background_responses`);
    await q.query(`ALTER TABLE usage_events DROP CONSTRAINT usage_events_usage_source_check`);
    await q.query(`ALTER TABLE usage_events ADD CONSTRAINT usage_events_usage_source_check CHECK (usage_source IN ('reported', 'estimated', 'none'))`);
  }
}
