import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Moderation per feature: each feature's policy (a preset, per-category thresholds, an optional
 * guardrail on model inputs), and on the ledger the verdict of every moderation call (OpenAI's
 * flag, the policy's flag, the categories over threshold with their scores), what a guardrail did
 * to a model call, and the link from a guardrail's moderation row to the call it checked. The
 * text itself is stored only when a feature turns storing inputs on. New ledger columns are
 * nullable without defaults: catalog-only, no partition is rewritten.
 */
export class ModerationPolicies1734500000000 implements MigrationInterface {
  name = 'ModerationPolicies1734500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE moderation_policies (
        feature_id uuid PRIMARY KEY REFERENCES features (id) ON DELETE CASCADE,
        preset text NOT NULL DEFAULT 'default' CHECK (preset IN ('strict', 'default', 'lenient')),
        thresholds jsonb NOT NULL DEFAULT '{}',
        guardrail text NOT NULL DEFAULT 'off' CHECK (guardrail IN ('off', 'monitor', 'block')),
        fail_mode text NOT NULL DEFAULT 'open' CHECK (fail_mode IN ('open', 'closed')),
        timeout_ms integer NOT NULL DEFAULT 2000 CHECK (timeout_ms BETWEEN 50 AND 30000),
        store_inputs boolean NOT NULL DEFAULT false,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      ALTER TABLE usage_events
        ADD COLUMN moderation_flagged boolean,
        ADD COLUMN moderation_policy_flagged boolean,
        ADD COLUMN moderation_categories text,
        ADD COLUMN moderation_scores text,
        ADD COLUMN moderation_input text,
        ADD COLUMN guardrail text,
        ADD COLUMN linked_event_id uuid`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE usage_events
        DROP COLUMN moderation_flagged, DROP COLUMN moderation_policy_flagged, DROP COLUMN moderation_categories,
        DROP COLUMN moderation_scores, DROP COLUMN moderation_input, DROP COLUMN guardrail, DROP COLUMN linked_event_id`);
    await q.query(`DROP TABLE moderation_policies`);
  }
}
