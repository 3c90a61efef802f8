import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Reconciliation with OpenAI's own Usage and Costs APIs. OpenAI's numbers live in their own
 * tables beside the ledger, never in it:
 * - org_admin_keys: each org's OpenAI admin key (sealed like upstream keys), one per org;
 * - upstream_keys.openai_key_id: OpenAI's id for that key (`key_…`), which its usage groups by,
 *   so traffic with keys Tallygate does not hold shows as "outside Tallygate";
 * - recon_usage_buckets / recon_cost_buckets: OpenAI's buckets as it reported them, keyed by org,
 *   endpoint, bucket start and group keys, so two replicas that store the same bucket store it once;
 * - recon_sync_state: a watermark per org and endpoint (a restart resumes there) and progress;
 * - recon_leases: one syncing replica per org at a time.
 */
export class Reconciliation1733500000000 implements MigrationInterface {
  name = 'Reconciliation1733500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE org_admin_keys (
        org_id uuid PRIMARY KEY REFERENCES orgs(id),
        sealed text NOT NULL,
        masked text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        rotated_at timestamptz
      )`);
    await q.query(`ALTER TABLE upstream_keys ADD COLUMN openai_key_id text CHECK (openai_key_id ~ '^key_[A-Za-z0-9_-]{1,64}$')`);
    await q.query(`
      CREATE TABLE recon_usage_buckets (
        org_id uuid NOT NULL,
        endpoint text NOT NULL,
        bucket_start timestamptz NOT NULL,
        bucket_end timestamptz NOT NULL,
        model text NOT NULL DEFAULT '',
        api_key_id text NOT NULL DEFAULT '',
        project_id text NOT NULL DEFAULT '',
        batch boolean NOT NULL DEFAULT false,
        requests bigint NOT NULL DEFAULT 0,
        input_tokens bigint NOT NULL DEFAULT 0,
        cached_tokens bigint NOT NULL DEFAULT 0,
        output_tokens bigint NOT NULL DEFAULT 0,
        -- Everything else the result carried (images, seconds, characters, usage_bytes, sessions...).
        result jsonb NOT NULL,
        synced_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (org_id, endpoint, bucket_start, model, api_key_id, project_id, batch)
      )`);
    await q.query(`
      CREATE TABLE recon_cost_buckets (
        org_id uuid NOT NULL,
        bucket_start timestamptz NOT NULL,
        bucket_end timestamptz NOT NULL,
        line_item text NOT NULL DEFAULT '',
        api_key_id text NOT NULL DEFAULT '',
        project_id text NOT NULL DEFAULT '',
        -- OpenAI's amount.value exactly as it sent the decimal.
        amount numeric NOT NULL,
        currency text NOT NULL,
        quantity numeric,
        quantity_unit text,
        synced_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (org_id, bucket_start, line_item, api_key_id, project_id)
      )`);
    await q.query(`
      CREATE TABLE recon_sync_state (
        org_id uuid NOT NULL,
        endpoint text NOT NULL,
        watermark timestamptz,
        run_started_at timestamptz,
        run_from timestamptz,
        run_to timestamptz,
        buckets_total integer NOT NULL DEFAULT 0,
        buckets_done integer NOT NULL DEFAULT 0,
        last_success_at timestamptz,
        last_error text,
        last_error_at timestamptz,
        PRIMARY KEY (org_id, endpoint)
      )`);
    await q.query(`
      CREATE TABLE recon_leases (
        org_id uuid PRIMARY KEY,
        owner text NOT NULL,
        until timestamptz NOT NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE recon_leases, recon_sync_state, recon_cost_buckets, recon_usage_buckets, org_admin_keys`);
    await q.query(`ALTER TABLE upstream_keys DROP COLUMN openai_key_id`);
  }
}
