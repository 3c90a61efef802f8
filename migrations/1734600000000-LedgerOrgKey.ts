import { MigrationInterface, QueryRunner } from 'typeorm';

/** "No org" (server/ledger/no-org.ts, NO_ORG): written out here so this migration stays as it ran. */
const NO_ORG = '00000000-0000-0000-0000-000000000000';

/**
 * The ledger keyed for distribution by org (Citus, docs/replicas.md "Past one Postgres"): Citus wants
 * the distribution column in every unique constraint and never NULL in it. So org_id becomes NOT NULL,
 * rows that name no org store NO_ORG (read back as NULL everywhere above the table), and the primary
 * key becomes (org_id, created_at, id). The ledger insert's ON CONFLICT DO NOTHING still drops a
 * retried event: it carries the same id, time and org.
 *
 * Indexes:
 * - usage_events_org_time (org_id, created_at) is dropped: it is a prefix of the new primary key,
 *   which serves the same `org_id = $1 AND created_at ...` scans.
 * - usage_events_time (created_at, id) is added: the old primary key served the queries by time
 *   across orgs, in key order: the CSV export and the retention export (ORDER BY created_at, id),
 *   the re-pricing cursor and its UPDATE by (created_at, id), a batch's ledger sum. Without it each
 *   of those sorts or scans whole months. The ledger keeps the same number of indexes.
 *
 * Done on the partitioned parent, Postgres applies it to every partition, and partitions that
 * ensure_usage_partitions() creates later get the same key and indexes. Setting NOT NULL scans and
 * rebuilding the key rewrites each partition's index under an exclusive lock: seconds while the
 * ledger is small, which is why this is done now and not when a deployment moves to Citus
 * (the writer's events wait in its queue meanwhile).
 */
export class LedgerOrgKey1734600000000 implements MigrationInterface {
  name = 'LedgerOrgKey1734600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`UPDATE usage_events SET org_id = $1 WHERE org_id IS NULL`, [NO_ORG]);
    await q.query(`ALTER TABLE usage_events ALTER COLUMN org_id SET DEFAULT '${NO_ORG}', ALTER COLUMN org_id SET NOT NULL`);
    await q.query(`ALTER TABLE usage_events DROP CONSTRAINT usage_events_pkey`);
    await q.query(`ALTER TABLE usage_events ADD CONSTRAINT usage_events_pkey PRIMARY KEY (org_id, created_at, id)`);
    await q.query(`CREATE INDEX usage_events_time ON usage_events (created_at, id)`);
    await q.query(`DROP INDEX usage_events_org_time`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX usage_events_org_time ON usage_events (org_id, created_at)`);
    await q.query(`DROP INDEX usage_events_time`);
    await q.query(`ALTER TABLE usage_events DROP CONSTRAINT usage_events_pkey`);
    await q.query(`ALTER TABLE usage_events ADD CONSTRAINT usage_events_pkey PRIMARY KEY (created_at, id)`);
    await q.query(`ALTER TABLE usage_events ALTER COLUMN org_id DROP NOT NULL, ALTER COLUMN org_id DROP DEFAULT`);
    await q.query(`UPDATE usage_events SET org_id = NULL WHERE org_id = $1`, [NO_ORG]);
  }
}
