// Every query of alerting: rules, alerts (one open row per rule and subject: the replicas' dedup key),
// channels, the delivery log (claimed with SKIP LOCKED so one replica sends each), and the windows
// over the ledger the rules read.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { RuleKind } from '../contract/alerts.js';
import { hasOrgSql } from '../ledger/no-org.js';

export interface RuleRow {
  kind: RuleKind;
  enabled: boolean;
  params: Record<string, unknown>;
  silenced_until: Date | null;
  updated_at: Date;
}

export interface AlertRow {
  id: string;
  rule_kind: RuleKind;
  subject: string;
  severity: 'info' | 'warning' | 'critical';
  title: string;
  summary: string;
  details: Record<string, unknown>;
  org_id: string | null;
  org_name: string | null;
  feature_ids: string[];
  feature_slugs: string[] | null;
  started_at: Date;
  last_seen_at: Date;
  resolved_at: Date | null;
  acknowledged_at: Date | null;
  acknowledged_by: string | null;
  silenced_until: Date | null;
}

export interface ChannelRow {
  id: string;
  name: string;
  kind: 'webhook' | 'slack' | 'email';
  target: string;
  sealed: string | null;
  masked: string | null;
  enabled: boolean;
  created_at: Date;
}

export interface DeliveryRow {
  id: string;
  alert_id: string | null;
  alert_title: string | null;
  channel_id: string;
  channel_name: string;
  event: 'firing' | 'resolved' | 'test';
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  response_code: number | null;
  error: string | null;
  next_attempt_at: Date;
  created_at: Date;
  delivered_at: Date | null;
}

/** A condition a rule found true now: fired as an alert unless one is open for the same subject. */
export interface Condition {
  subject: string;
  severity: 'info' | 'warning' | 'critical';
  title: string;
  summary: string;
  details?: Record<string, unknown>;
  orgId?: string | null;
  featureIds?: string[];
}

const ALERT_COLUMNS = `a.id, a.rule_kind, a.subject, a.severity, a.title, a.summary, a.details, a.org_id, o.name AS org_name, a.feature_ids,
  (SELECT array_agg(f.slug ORDER BY f.slug) FROM features f WHERE f.id = ANY(a.feature_ids)) AS feature_slugs,
  a.started_at, a.last_seen_at, a.resolved_at, a.acknowledged_at, a.acknowledged_by, a.silenced_until`;

/** What counts as a billing failure in the ledger: a quota/billing code, or the org's own key refused upstream (401). */
export const BILLING_FAILURE_SQL = `(e.error_kind = 'quota' OR (e.error_kind = 'auth' AND e.status = 401 AND e.upstream_request_id IS NOT NULL))`;
/** Failures that are the upstream's (or the path to it), not the caller's request. */
const UPSTREAM_ERROR_SQL = `e.error_kind IN ('upstream_server_error', 'upstream_unreachable', 'upstream_timeout', 'upstream_aborted', 'stream_error')`;
const THROTTLE_SQL = `e.error_kind IN ('rate_limit_requests', 'rate_limit_tokens', 'request_too_large')`;

@Injectable()
export class AlertsRepository {
  constructor(private readonly dataSource: DataSource) {}

  // ---- rules
  rules(): Promise<RuleRow[]> {
    return this.dataSource.query(`SELECT kind, enabled, params, silenced_until, updated_at FROM alert_rules ORDER BY kind`);
  }

  async updateRule(kind: RuleKind, patch: { enabled?: boolean; params?: Record<string, unknown>; silencedUntil?: string | null }): Promise<void> {
    await this.dataSource.query(
      `UPDATE alert_rules SET enabled = coalesce($2, enabled), params = coalesce($3, params),
         silenced_until = CASE WHEN $4::boolean THEN $5::timestamptz ELSE silenced_until END, updated_at = now() WHERE kind = $1`,
      [kind, patch.enabled ?? null, patch.params ? JSON.stringify(patch.params) : null, patch.silencedUntil !== undefined, patch.silencedUntil ?? null],
    );
  }

  // ---- alerts
  openAlerts(kind?: RuleKind): Promise<AlertRow[]> {
    return this.dataSource.query(
      `SELECT ${ALERT_COLUMNS} FROM alerts a LEFT JOIN orgs o ON o.id = a.org_id WHERE a.resolved_at IS NULL AND ($1::text IS NULL OR a.rule_kind = $1) ORDER BY a.started_at DESC`,
      [kind ?? null],
    );
  }

  listAlerts(state: 'firing' | 'resolved' | 'all', limit: number): Promise<AlertRow[]> {
    const where = state === 'firing' ? 'a.resolved_at IS NULL' : state === 'resolved' ? 'a.resolved_at IS NOT NULL' : 'true';
    return this.dataSource.query(`SELECT ${ALERT_COLUMNS} FROM alerts a LEFT JOIN orgs o ON o.id = a.org_id WHERE ${where} ORDER BY a.started_at DESC LIMIT $1`, [limit]);
  }

  async alert(id: string): Promise<AlertRow | undefined> {
    const [row] = (await this.dataSource.query(`SELECT ${ALERT_COLUMNS} FROM alerts a LEFT JOIN orgs o ON o.id = a.org_id WHERE a.id = $1`, [id])) as AlertRow[];
    return row;
  }

  /**
   * Opens an alert unless one is open for the rule and subject, and queues its notifications in the same
   * statement. Only the replica whose insert wins gets an id back: that is the dedup across replicas.
   */
  async fire(kind: RuleKind, c: Condition, notify: boolean): Promise<string | undefined> {
    const [row] = (await this.dataSource.query(
      `WITH opened AS (
         INSERT INTO alerts (rule_kind, subject, severity, title, summary, details, org_id, feature_ids)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (rule_kind, subject) WHERE resolved_at IS NULL DO NOTHING
         RETURNING id
       ), queued AS (
         INSERT INTO alert_deliveries (alert_id, channel_id, event)
         SELECT opened.id, c.id, 'firing' FROM opened, alert_channels c WHERE c.enabled AND $9::boolean
       )
       SELECT id FROM opened`,
      [kind, c.subject, c.severity, c.title.slice(0, 300), c.summary.slice(0, 2000), JSON.stringify(c.details ?? {}), c.orgId ?? null, c.featureIds ?? [], notify],
    )) as Array<{ id: string }>;
    return row?.id;
  }

  /** Still true: refresh what the open alert says (its features may have changed) and when it was last seen. */
  async touch(id: string, c: Condition): Promise<void> {
    await this.dataSource.query(`UPDATE alerts SET last_seen_at = now(), summary = $2, feature_ids = $3, details = $4 WHERE id = $1 AND resolved_at IS NULL`, [
      id,
      c.summary.slice(0, 2000),
      c.featureIds ?? [],
      JSON.stringify(c.details ?? {}),
    ]);
  }

  /** Resolves an open alert; only one replica's update matches, and it queues the "resolved" notifications. */
  async resolve(id: string, notify: boolean): Promise<boolean> {
    const rows = (await this.dataSource.query(
      `WITH resolved AS (UPDATE alerts SET resolved_at = now() WHERE id = $1 AND resolved_at IS NULL RETURNING id),
       queued AS (INSERT INTO alert_deliveries (alert_id, channel_id, event) SELECT resolved.id, c.id, 'resolved' FROM resolved, alert_channels c WHERE c.enabled AND $2::boolean)
       SELECT id FROM resolved`,
      [id, notify],
    )) as Array<{ id: string }>;
    return rows.length > 0;
  }

  async acknowledge(id: string, by: string): Promise<boolean> {
    const rows = (await this.dataSource.query(`UPDATE alerts SET acknowledged_at = now(), acknowledged_by = $2 WHERE id = $1 AND acknowledged_at IS NULL RETURNING id`, [id, by.slice(0, 200)])) as [unknown[], number];
    return rows[1] > 0;
  }

  async silenceAlert(id: string, until: string | null): Promise<boolean> {
    const rows = (await this.dataSource.query(`UPDATE alerts SET silenced_until = $2 WHERE id = $1 RETURNING id`, [id, until])) as [unknown[], number];
    return rows[1] > 0;
  }

  // ---- channels
  channels(): Promise<ChannelRow[]> {
    return this.dataSource.query(`SELECT * FROM alert_channels ORDER BY created_at`);
  }

  async channel(id: string): Promise<ChannelRow | undefined> {
    const [row] = (await this.dataSource.query(`SELECT * FROM alert_channels WHERE id = $1`, [id])) as ChannelRow[];
    return row;
  }

  async createChannel(c: { name: string; kind: ChannelRow['kind']; target: string; sealed: string | null; masked: string | null; enabled: boolean }): Promise<string> {
    const [row] = (await this.dataSource.query(`INSERT INTO alert_channels (name, kind, target, sealed, masked, enabled) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, [
      c.name,
      c.kind,
      c.target,
      c.sealed,
      c.masked,
      c.enabled,
    ])) as Array<{ id: string }>;
    return row.id;
  }

  async resealChannel(id: string, sealed: string): Promise<void> {
    await this.dataSource.query(`UPDATE alert_channels SET sealed = $2 WHERE id = $1`, [id, sealed]);
  }

  async updateChannel(id: string, patch: { name?: string; enabled?: boolean }): Promise<boolean> {
    const rows = (await this.dataSource.query(`UPDATE alert_channels SET name = coalesce($2, name), enabled = coalesce($3, enabled) WHERE id = $1 RETURNING id`, [id, patch.name ?? null, patch.enabled ?? null])) as [unknown[], number];
    return rows[1] > 0;
  }

  async deleteChannel(id: string): Promise<boolean> {
    const rows = (await this.dataSource.query(`DELETE FROM alert_channels WHERE id = $1 RETURNING id`, [id])) as [unknown[], number];
    return rows[1] > 0;
  }

  // ---- deliveries
  async queueTest(channelId: string): Promise<string> {
    const [row] = (await this.dataSource.query(`INSERT INTO alert_deliveries (channel_id, event) VALUES ($1, 'test') RETURNING id::text`, [channelId])) as Array<{ id: string }>;
    return row.id;
  }

  deliveries(limit: number, channelId?: string): Promise<DeliveryRow[]> {
    return this.dataSource.query(
      `SELECT d.id::text, d.alert_id, a.title AS alert_title, d.channel_id, c.name AS channel_name, d.event, d.status, d.attempts, d.response_code, d.error,
         d.next_attempt_at, d.created_at, d.delivered_at
       FROM alert_deliveries d JOIN alert_channels c ON c.id = d.channel_id LEFT JOIN alerts a ON a.id = d.alert_id
       WHERE ($2::uuid IS NULL OR d.channel_id = $2) ORDER BY d.created_at DESC, d.id DESC LIMIT $1`,
      [limit, channelId ?? null],
    );
  }

  /**
   * Takes the due deliveries for one attempt each: their next attempt moves out by `leaseMs`, so another
   * replica (or this one after a crash) retries them only if this attempt never reports back.
   */
  claimDue(limit: number, leaseMs: number): Promise<Array<{ id: string; alert_id: string | null; channel_id: string; event: DeliveryRow['event']; attempts: number }>> {
    return this.dataSource.query(
      `UPDATE alert_deliveries d SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => $2::double precision / 1000)
       WHERE d.id IN (SELECT id FROM alert_deliveries WHERE status = 'pending' AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
       RETURNING d.id::text, d.alert_id, d.channel_id, d.event, d.attempts`,
      [limit, leaseMs],
    ).then((r: [unknown[], number] | unknown[]) => (Array.isArray(r[0]) ? r[0] : r) as never);
  }

  async recordAttempt(id: string, outcome: { delivered: boolean; responseCode: number | null; error: string | null; retryInMs: number | null }): Promise<void> {
    await this.dataSource.query(
      `UPDATE alert_deliveries SET response_code = $2, error = $3,
         status = CASE WHEN $4::boolean THEN 'delivered' WHEN $5::double precision IS NULL THEN 'failed' ELSE 'pending' END,
         delivered_at = CASE WHEN $4::boolean THEN now() ELSE NULL END,
         next_attempt_at = CASE WHEN $5::double precision IS NULL THEN next_attempt_at ELSE now() + make_interval(secs => $5::double precision / 1000) END
       WHERE id = $1`,
      [id, outcome.responseCode, outcome.error?.slice(0, 1000) ?? null, outcome.delivered, outcome.retryInMs],
    );
  }

  // ---- what the rules read
  /**
   * Per org with a billing failure in the window: when, which features, and whether a billed call succeeded
   * since the last one. Only a metered success counts as recovery: file and listing calls still succeed
   * while an org is out of credit, and would make the alert flap.
   */
  billingFailures(windowMinutes: number): Promise<Array<{ org_id: string; org_name: string; first_failure: Date; last_failure: Date; last_ok: Date | null; failures: number; calls: number; code: string | null; feature_ids: string[] | null; feature_slugs: string[] | null }>> {
    return this.dataSource.query(
      `SELECT e.org_id, o.name AS org_name, min(e.created_at) FILTER (WHERE ${BILLING_FAILURE_SQL}) AS first_failure,
         max(e.created_at) FILTER (WHERE ${BILLING_FAILURE_SQL}) AS last_failure, max(e.created_at) FILTER (WHERE e.outcome = 'ok' AND e.usage_source IN ('reported', 'estimated')) AS last_ok,
         (count(*) FILTER (WHERE ${BILLING_FAILURE_SQL}))::int AS failures, count(*)::int AS calls,
         (array_agg(coalesce(e.error_code, e.error_type, e.status::text) ORDER BY e.created_at DESC) FILTER (WHERE ${BILLING_FAILURE_SQL}))[1] AS code,
         array_agg(DISTINCT e.feature_id) FILTER (WHERE ${BILLING_FAILURE_SQL} AND e.feature_id IS NOT NULL) AS feature_ids,
         array_agg(DISTINCT f.slug) FILTER (WHERE ${BILLING_FAILURE_SQL} AND f.slug IS NOT NULL) AS feature_slugs
       FROM usage_events e JOIN orgs o ON o.id = e.org_id LEFT JOIN features f ON f.id = e.feature_id
       WHERE e.created_at > now() - make_interval(mins => $1) AND ${hasOrgSql('e.org_id')}
       GROUP BY e.org_id, o.name
       HAVING count(*) FILTER (WHERE ${BILLING_FAILURE_SQL}) > 0`,
      [windowMinutes],
    );
  }

  /** Per org (or feature): calls in the window, how many were throttled, failed upstream, and the latency p95. */
  callWindows(by: 'org' | 'feature', windowMinutes: number): Promise<Array<{ id: string; name: string; org_id: string; calls: number; throttled: number; upstream_errors: number; p95_ms: number | null; first_trouble: Date | null }>> {
    const id = by === 'org' ? 'e.org_id' : 'e.feature_id';
    const name = by === 'org' ? 'o.name' : 'f.slug';
    return this.dataSource.query(
      `SELECT ${id} AS id, ${name} AS name, min(e.org_id::text) AS org_id, count(*)::int AS calls,
         (count(*) FILTER (WHERE ${THROTTLE_SQL}))::int AS throttled, (count(*) FILTER (WHERE ${UPSTREAM_ERROR_SQL}))::int AS upstream_errors,
         percentile_cont(0.95) WITHIN GROUP (ORDER BY e.latency_ms) FILTER (WHERE e.outcome = 'ok') AS p95_ms,
         min(e.created_at) FILTER (WHERE ${THROTTLE_SQL} OR ${UPSTREAM_ERROR_SQL}) AS first_trouble
       FROM usage_events e JOIN orgs o ON o.id = e.org_id JOIN features f ON f.id = e.feature_id
       WHERE e.created_at > now() - make_interval(mins => $1)
       GROUP BY ${id}, ${name}`,
      [windowMinutes],
    );
  }

  /** Org and model pairs whose every observed minute of the last `minutes` stayed below `percent` of a limit. */
  lowHeadroom(percent: number, minutes: number): Promise<Array<{ org_id: string; org_name: string; model: string; worst_percent: number; since: Date }>> {
    return this.dataSource.query(
      `SELECT r.org_id, o.name AS org_name, r.model, min(least(
           CASE WHEN r.limit_requests > 0 THEN 100.0 * coalesce(r.min_remaining_requests, r.remaining_requests) / r.limit_requests END,
           CASE WHEN r.limit_tokens > 0 THEN 100.0 * coalesce(r.min_remaining_tokens, r.remaining_tokens) / r.limit_tokens END))::float8 AS worst_percent,
         min(r.minute) AS since
       FROM ratelimit_minutes r JOIN orgs o ON o.id = r.org_id
       WHERE r.minute >= date_trunc('minute', now()) - make_interval(mins => $2)
       GROUP BY r.org_id, o.name, r.model
       HAVING count(*) >= greatest(1, $2 - 1) AND bool_and(least(
           CASE WHEN r.limit_requests > 0 THEN 100.0 * coalesce(r.min_remaining_requests, r.remaining_requests) / r.limit_requests END,
           CASE WHEN r.limit_tokens > 0 THEN 100.0 * coalesce(r.min_remaining_tokens, r.remaining_tokens) / r.limit_tokens END) < $1)`,
      [percent, minutes],
    );
  }

  /** Features with their org, for the health board (every feature, traffic or not). */
  features(): Promise<Array<{ id: string; slug: string; name: string; org_id: string; org_name: string }>> {
    return this.dataSource.query(`SELECT f.id, f.slug, f.name, o.id AS org_id, o.name AS org_name FROM features f JOIN orgs o ON o.id = f.default_org_id ORDER BY f.slug`);
  }

  /** Per feature, the calls refused by a hard budget in the window and since when. */
  budgetRefusals(windowMinutes: number): Promise<Array<{ feature_id: string; refused: number; since: Date }>> {
    return this.dataSource.query(
      `SELECT e.feature_id, count(*)::int AS refused, min(e.created_at) AS since FROM usage_events e
       WHERE e.created_at > now() - make_interval(mins => $1) AND e.error_kind = 'budget' AND e.feature_id IS NOT NULL GROUP BY e.feature_id`,
      [windowMinutes],
    );
  }
}
