import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Budgets, alert rules, alerts (episodes), channels and their delivery log (docs/alerting.md).
 * - budgets: per org, per feature, or (later) a tag `scope`; monthly or a custom period in an IANA zone;
 *   exact nano-dollars. A feature's `monthly_budget_nanos` (admin UI, CLI --budget-usd) is mirrored into
 *   one budget row with origin 'feature' by a trigger, so both ways of setting it stay one budget.
 * - alert_rules: one row per kind with its parameters, seeded with defaults an admin tunes or disables.
 * - alerts: one row per episode; at most one open (unresolved) alert per rule and subject, which is
 *   what makes several replicas that evaluate at once fire it once.
 * - alert_channels / alert_deliveries: where alerts go (secrets sealed like upstream keys) and each attempt.
 */
export class BudgetsAlerts1734300000000 implements MigrationInterface {
  name = 'BudgetsAlerts1734300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE budgets (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
        org_id uuid REFERENCES orgs(id) ON DELETE CASCADE,
        feature_id uuid REFERENCES features(id) ON DELETE CASCADE,
        -- Reserved for a tag scope ('tag:<key>=<value>'); null means the whole org or feature.
        scope text CHECK (length(scope) <= 300),
        period text NOT NULL DEFAULT 'monthly' CHECK (period IN ('monthly', 'custom')),
        time_zone text NOT NULL DEFAULT 'UTC' CHECK (length(time_zone) <= 64),
        starts_at timestamptz,
        ends_at timestamptz,
        amount_nanos bigint NOT NULL CHECK (amount_nanos >= 0),
        thresholds smallint[] NOT NULL DEFAULT '{50,80,100}',
        -- Alert when the period-end forecast passes this percentage of the amount; null: no forecast alert.
        forecast_percent smallint DEFAULT 100 CHECK (forecast_percent BETWEEN 1 AND 1000),
        enforcement text NOT NULL DEFAULT 'soft' CHECK (enforcement IN ('soft', 'hard')),
        origin text CHECK (origin IN ('feature')),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK ((org_id IS NOT NULL) OR (feature_id IS NOT NULL)),
        CHECK (period = 'monthly' OR (starts_at IS NOT NULL AND ends_at IS NOT NULL AND ends_at > starts_at))
      )`);
    await q.query(`CREATE UNIQUE INDEX budgets_feature_origin ON budgets (feature_id) WHERE origin = 'feature'`);
    await q.query(`
      INSERT INTO budgets (name, feature_id, amount_nanos, enforcement, origin)
      SELECT 'Monthly budget of ' || slug, id, monthly_budget_nanos, 'hard', 'feature' FROM features WHERE monthly_budget_nanos IS NOT NULL`);
    await q.query(`
      CREATE FUNCTION mirror_feature_budget() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.monthly_budget_nanos IS NULL THEN
          DELETE FROM budgets WHERE feature_id = NEW.id AND origin = 'feature';
        ELSE
          INSERT INTO budgets (name, feature_id, amount_nanos, enforcement, origin)
          VALUES ('Monthly budget of ' || NEW.slug, NEW.id, NEW.monthly_budget_nanos, 'hard', 'feature')
          ON CONFLICT (feature_id) WHERE origin = 'feature'
          DO UPDATE SET amount_nanos = EXCLUDED.amount_nanos, updated_at = now();
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`
      CREATE TRIGGER features_budget_mirror AFTER INSERT OR UPDATE OF monthly_budget_nanos ON features
      FOR EACH ROW EXECUTE FUNCTION mirror_feature_budget()`);

    await q.query(`
      CREATE TABLE alert_rules (
        kind text PRIMARY KEY,
        enabled boolean NOT NULL DEFAULT true,
        params jsonb NOT NULL DEFAULT '{}',
        silenced_until timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      INSERT INTO alert_rules (kind, params) VALUES
        ('budget_threshold', '{}'),
        ('budget_forecast', '{}'),
        ('billing_failure', '{"windowMinutes": 10}'),
        ('headroom_low', '{"percent": 10, "minutes": 5}'),
        ('throttle_share', '{"percent": 20, "windowMinutes": 10, "minRequests": 20}'),
        ('error_rate', '{"percent": 10, "windowMinutes": 10, "minRequests": 20}'),
        ('latency_p95', '{"ms": 20000, "windowMinutes": 10, "minRequests": 20}'),
        ('reconciliation_drift', '{"percent": 5, "usd": "10"}')`);

    await q.query(`
      CREATE TABLE alerts (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        rule_kind text NOT NULL REFERENCES alert_rules(kind),
        subject text NOT NULL CHECK (length(subject) <= 300),
        severity text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
        title text NOT NULL CHECK (length(title) <= 300),
        summary text NOT NULL CHECK (length(summary) <= 2000),
        details jsonb NOT NULL DEFAULT '{}',
        org_id uuid,
        feature_ids uuid[] NOT NULL DEFAULT '{}',
        started_at timestamptz NOT NULL DEFAULT now(),
        last_seen_at timestamptz NOT NULL DEFAULT now(),
        resolved_at timestamptz,
        acknowledged_at timestamptz,
        acknowledged_by text CHECK (length(acknowledged_by) <= 200),
        silenced_until timestamptz
      )`);
    await q.query(`CREATE UNIQUE INDEX alerts_open_episode ON alerts (rule_kind, subject) WHERE resolved_at IS NULL`);
    await q.query(`CREATE INDEX alerts_started ON alerts (started_at DESC)`);

    await q.query(`
      CREATE TABLE alert_channels (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
        kind text NOT NULL CHECK (kind IN ('webhook', 'slack', 'email')),
        -- Webhook/Slack: the URL's origin (shown); email: the recipients. The secret part is sealed.
        target text NOT NULL CHECK (length(target) <= 2000),
        sealed text,
        masked text,
        enabled boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE alert_deliveries (
        id bigserial PRIMARY KEY,
        alert_id uuid REFERENCES alerts(id) ON DELETE CASCADE,
        channel_id uuid NOT NULL REFERENCES alert_channels(id) ON DELETE CASCADE,
        event text NOT NULL CHECK (event IN ('firing', 'resolved', 'test')),
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts integer NOT NULL DEFAULT 0,
        response_code integer,
        error text CHECK (length(error) <= 1000),
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        created_at timestamptz NOT NULL DEFAULT now(),
        delivered_at timestamptz
      )`);
    await q.query(`CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at) WHERE status = 'pending'`);
    await q.query(`CREATE INDEX alert_deliveries_created ON alert_deliveries (created_at DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE alert_deliveries`);
    await q.query(`DROP TABLE alert_channels`);
    await q.query(`DROP TABLE alerts`);
    await q.query(`DROP TABLE alert_rules`);
    await q.query(`DROP TRIGGER features_budget_mirror ON features`);
    await q.query(`DROP FUNCTION mirror_feature_budget()`);
    await q.query(`DROP TABLE budgets`);
  }
}
