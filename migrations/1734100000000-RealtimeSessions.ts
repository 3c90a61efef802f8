import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One row per Realtime WebSocket session relayed by the gateway: who opened it, when it opened and
 * closed, how many responses it had and who ended it. Its tokens are not here: each `response.done`
 * is a usage event of its own (endpoint `realtime`), so spend views, budgets and statements see voice
 * spend without knowing about sessions. A session is not a usage event because it is not a call:
 * a cost-0 ledger row per session would count as a request in every rollup and skew request counts
 * and latency percentiles.
 */
export class RealtimeSessions1734100000000 implements MigrationInterface {
  name = 'RealtimeSessions1734100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE realtime_sessions (
        id uuid PRIMARY KEY,
        feature_id uuid NOT NULL REFERENCES features(id),
        org_id uuid NOT NULL REFERENCES orgs(id),
        gateway_key_id uuid NOT NULL,
        model text NOT NULL,
        opened_at timestamptz NOT NULL,
        closed_at timestamptz,
        duration_ms integer,
        responses integer NOT NULL DEFAULT 0,
        -- client, upstream, idle_timeout, max_duration, frame_too_large, shutdown, upstream_error
        closed_by text,
        close_code smallint,
        upstream_session_id text
      )`);
    await q.query('CREATE INDEX realtime_sessions_feature_opened ON realtime_sessions (feature_id, opened_at)');
    await q.query('CREATE INDEX realtime_sessions_open ON realtime_sessions (opened_at) WHERE closed_at IS NULL');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE realtime_sessions');
  }
}
