import { MigrationInterface, QueryRunner } from 'typeorm';

/** Two more ways a call ends: before it was sent upstream (never billed), and cut by the gateway's shutdown. */
export class LedgerOutcomes1733000000000 implements MigrationInterface {
  name = 'LedgerOutcomes1733000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE usage_events DROP CONSTRAINT usage_events_outcome_check`);
    await q.query(`
      ALTER TABLE usage_events ADD CONSTRAINT usage_events_outcome_check
        CHECK (outcome IN ('ok', 'error', 'client_aborted', 'upstream_aborted', 'not_sent', 'shutdown'))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE usage_events DROP CONSTRAINT usage_events_outcome_check`);
    await q.query(`
      ALTER TABLE usage_events ADD CONSTRAINT usage_events_outcome_check
        CHECK (outcome IN ('ok', 'error', 'client_aborted', 'upstream_aborted'))`);
  }
}
