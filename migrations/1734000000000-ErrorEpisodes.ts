import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Failed calls by time, for the engineers' "errors by kind" view: a partial index holds only the
 * rows that did not end ok (a few percent of the ledger), so a 31-day scan of failures reads those
 * rows and not the whole ledger.
 */
export class ErrorEpisodes1734000000000 implements MigrationInterface {
  name = 'ErrorEpisodes1734000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX usage_events_failed_time ON usage_events (created_at) WHERE outcome <> 'ok'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX usage_events_failed_time`);
  }
}
