import { MigrationInterface, QueryRunner } from 'typeorm';

/** Dashboard users, their sessions, scoped API tokens and failed sign-ins (for lockout across replicas). */
export class Users1732800000000 implements MigrationInterface {
  name = 'Users1732800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE users (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        email text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
        name text NOT NULL DEFAULT '' CHECK (length(name) <= 100),
        password_hash text NOT NULL,
        role text NOT NULL CHECK (role IN ('admin', 'finance', 'engineer')),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        disabled_at timestamptz
      )`);
    await q.query(`CREATE UNIQUE INDEX users_email ON users (email)`);
    // id is the SHA-256 of the random token in the cookie: a database leak yields no usable session.
    await q.query(`
      CREATE TABLE sessions (
        id bytea PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users(id),
        csrf_token text NOT NULL,
        ip text,
        user_agent text,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_seen_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        ended_at timestamptz
      )`);
    await q.query(`CREATE INDEX sessions_user ON sessions (user_id) WHERE ended_at IS NULL`);
    await q.query(`
      CREATE TABLE api_tokens (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        token_hash bytea NOT NULL UNIQUE,
        masked text NOT NULL,
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
        role text NOT NULL CHECK (role IN ('admin', 'finance', 'engineer')),
        created_by text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        last_used_at timestamptz,
        revoked_at timestamptz
      )`);
    await q.query(`
      CREATE TABLE sign_in_failures (
        id bigserial PRIMARY KEY,
        email text NOT NULL,
        ip text NOT NULL,
        at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX sign_in_failures_email ON sign_in_failures (email, at)`);
    await q.query(`CREATE INDEX sign_in_failures_ip ON sign_in_failures (ip, at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE sign_in_failures, api_tokens, sessions, users`);
  }
}
