import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Requests to /v1 without a key Tallygate issued (none, malformed, unknown): counted per minute and
 * reason instead of one ledger row each, so an anonymous flood cannot grow the ledger.
 */
export class AnonymousRequests1733200000000 implements MigrationInterface {
  name = 'AnonymousRequests1733200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE anonymous_minutes (
        minute timestamptz NOT NULL,
        reason text NOT NULL CHECK (length(reason) <= 32),
        requests bigint NOT NULL CHECK (requests >= 0),
        PRIMARY KEY (minute, reason)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE anonymous_minutes`);
  }
}
