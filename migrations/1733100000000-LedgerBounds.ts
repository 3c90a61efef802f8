import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Values the ledger stores are bounded by design (server/ledger/bounds.ts): a value out of its
 * column's range is stored truncated or clamped, and `clamped` names those fields, so a 200 call
 * always becomes a row with its cost. Clamping was chosen over wider columns: ALTER COLUMN TYPE
 * rewrites every partition of the ledger (and its indexes) under an exclusive lock, while a
 * nullable column without a default is a catalog change only, instant on any size of ledger.
 *
 * The rollups must not overflow either, or one hour's row would refuse every later event of its key:
 * - audio_seconds sums widen from numeric(16, 3) to numeric(20, 3) (clamped values are up to 10^7 s
 *   each); raising a numeric's precision at the same scale does not rewrite the table;
 * - cost sums become numeric(38, 0): with token counts clamped at 2^31 a single call can cost
 *   ~10^15 nanos at today's dearest prices, so ~9,000 of them in one hour would overflow bigint.
 *   This rewrites usage_hourly and usage_daily (one row per hour or day and key, not per event:
 *   seconds for millions of rows, while the ledger writer's events wait in its queue). Sums are read
 *   as decimal strings either way.
 */
export class LedgerBounds1733100000000 implements MigrationInterface {
  name = 'LedgerBounds1733100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE usage_events ADD COLUMN clamped text`);
    await q.query(`COMMENT ON COLUMN usage_events.clamped IS 'Fields stored truncated or clamped to their column''s range (comma-separated column names); NULL when none'`);
    for (const table of ['usage_hourly', 'usage_daily']) {
      await q.query(`
        ALTER TABLE ${table} ALTER COLUMN audio_seconds TYPE numeric(20, 3),
          ALTER COLUMN cost_nanos TYPE numeric(38, 0), ALTER COLUMN estimated_cost_nanos TYPE numeric(38, 0)`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['usage_hourly', 'usage_daily']) {
      await q.query(`
        ALTER TABLE ${table} ALTER COLUMN audio_seconds TYPE numeric(16, 3),
          ALTER COLUMN cost_nanos TYPE bigint, ALTER COLUMN estimated_cost_nanos TYPE bigint`);
    }
    await q.query(`ALTER TABLE usage_events DROP COLUMN clamped`);
  }
}
