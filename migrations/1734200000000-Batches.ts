import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Batches seen created through the gateway (and their input files): whose they are, what the watcher
 * last saw upstream, and how far their metering got, so a restart or another replica resumes it.
 * The lease columns let one replica at a time poll or meter a batch.
 */
export class Batches1734200000000 implements MigrationInterface {
  name = 'Batches1734200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE batches (
        id text PRIMARY KEY CHECK (length(id) <= 256),
        org_id uuid NOT NULL,
        feature_id uuid,
        gateway_key_id uuid,
        input_file_id text CHECK (length(input_file_id) <= 256),
        endpoint text CHECK (length(endpoint) <= 256),
        status text NOT NULL DEFAULT 'validating' CHECK (length(status) <= 64),
        request_total integer NOT NULL DEFAULT 0,
        request_completed integer NOT NULL DEFAULT 0,
        request_failed integer NOT NULL DEFAULT 0,
        output_file_id text CHECK (length(output_file_id) <= 256),
        error_file_id text CHECK (length(error_file_id) <= 256),
        created_at timestamptz NOT NULL DEFAULT now(),
        final_at timestamptz,
        output_lines_metered integer NOT NULL DEFAULT 0,
        error_lines_metered integer NOT NULL DEFAULT 0,
        unpriced_lines integer NOT NULL DEFAULT 0,
        cost_nanos bigint NOT NULL DEFAULT 0,
        metered_at timestamptz,
        polls integer NOT NULL DEFAULT 0,
        next_poll_at timestamptz NOT NULL DEFAULT now(),
        last_error text CHECK (length(last_error) <= 1000),
        lease_owner text,
        lease_until timestamptz
      )`);
    await q.query(`CREATE INDEX batches_due ON batches (next_poll_at) WHERE metered_at IS NULL`);
    await q.query(`CREATE INDEX batches_created ON batches (created_at DESC)`);
    await q.query(`
      CREATE TABLE batch_files (
        id text PRIMARY KEY CHECK (length(id) <= 256),
        org_id uuid NOT NULL,
        feature_id uuid,
        gateway_key_id uuid,
        purpose text CHECK (length(purpose) <= 64),
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE batch_files`);
    await q.query(`DROP TABLE batches`);
  }
}
