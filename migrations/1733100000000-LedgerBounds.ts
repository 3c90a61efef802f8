import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Values the ledger stores are bounded by design (server/ledger/bounds.ts): a value out of its
 * column's range is stored truncated or clamped, and `clamped` names those fields, so a 200 call
 * always becomes a row with its cost. Clamping was chosen over wider columns: ALTER COLUMN TYPE
 * rewrites every partition of the ledger (and its indexes) under an exclusive lock, while a
 * nullable column without a default is a catalog change only, instant on any size of ledger.
 *
 * The rollups' audio_seconds sums widen from numeric(16, 3) to numeric(20, 3), so sums of clamped
 * values (up to 10^7 s each) cannot overflow an hour or a day: raising a numeric's precision at the
 * same scale does not rewrite the table.
 */
export class LedgerBounds1733100000000 implements MigrationInterface {
  name = 'LedgerBounds1733100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE usage_events ADD COLUMN clamped text`);
    await q.query(`COMMENT ON COLUMN usage_events.clamped IS 'Fields stored truncated or clamped to their column''s range (comma-separated column names); NULL when none'`);
    for (const table of ['usage_hourly', 'usage_daily']) {
      await q.query(`ALTER TABLE ${table} ALTER COLUMN audio_seconds TYPE numeric(20, 3)`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['usage_hourly', 'usage_daily']) {
      await q.query(`ALTER TABLE ${table} ALTER COLUMN audio_seconds TYPE numeric(16, 3)`);
    }
    await q.query(`ALTER TABLE usage_events DROP COLUMN clamped`);
  }
}
