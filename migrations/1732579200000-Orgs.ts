import { MigrationInterface, QueryRunner } from 'typeorm';

/** Organizations, their sealed upstream keys, features and the gateway keys issued to them. */
export class Orgs1732579200000 implements MigrationInterface {
  name = 'Orgs1732579200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE orgs (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
        openai_org_id text NOT NULL UNIQUE CHECK (openai_org_id ~ '^org-[A-Za-z0-9_-]{1,64}$'),
        project_id text CHECK (project_id ~ '^proj_[A-Za-z0-9_-]{1,64}$'),
        base_url text NOT NULL DEFAULT 'https://api.openai.com/v1' CHECK (base_url ~ '^https?://'),
        status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    // Sealed: AES-256-GCM under the master key; masked: the only form ever shown again.
    await q.query(`
      CREATE TABLE upstream_keys (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        org_id uuid NOT NULL REFERENCES orgs(id),
        label text NOT NULL DEFAULT '',
        sealed text NOT NULL,
        masked text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
      )`);
    await q.query(`CREATE INDEX upstream_keys_live ON upstream_keys (org_id, created_at) WHERE revoked_at IS NULL`);
    await q.query(`
      CREATE TABLE features (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
        default_org_id uuid NOT NULL REFERENCES orgs(id),
        monthly_budget_nanos bigint CHECK (monthly_budget_nanos >= 0),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    // Orgs a feature may pick with the OpenAI-Organization header, besides its default.
    await q.query(`
      CREATE TABLE feature_orgs (
        feature_id uuid NOT NULL REFERENCES features(id) ON DELETE CASCADE,
        org_id uuid NOT NULL REFERENCES orgs(id),
        PRIMARY KEY (feature_id, org_id)
      )`);
    await q.query(`
      CREATE TABLE gateway_keys (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        feature_id uuid NOT NULL REFERENCES features(id),
        name text NOT NULL DEFAULT '',
        key_hash bytea NOT NULL UNIQUE,
        masked text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
      )`);
    await q.query(`CREATE INDEX gateway_keys_feature ON gateway_keys (feature_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE gateway_keys, feature_orgs, features, upstream_keys, orgs`);
  }
}
