import { DataSource } from 'typeorm';

// Any constant works; it only has to be the same for every replica of this app.
const MIGRATION_LOCK = 7_214_093_311;

/**
 * Applies pending migrations while holding a Postgres advisory lock, so several replicas
 * booting at once run them exactly once; then makes sure the ledger has this and next months'
 * partitions.
 */
export async function migrate(dataSource: DataSource): Promise<string[]> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    await runner.query(`SELECT ensure_usage_partitions(now() - interval '1 month', 4)`);
    return applied.map((m) => m.name);
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await runner.release();
  }
}

/** True when every known migration has been applied (readiness). */
export async function migrationsApplied(dataSource: DataSource): Promise<boolean> {
  return !(await dataSource.showMigrations());
}
