// Every SQL statement of moderation: the policies, and the verdicts the ledger holds.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { orgIdSql } from '../ledger/no-org.js';
import type { Category, ModerationPolicy } from './policy.js';

type Row = Record<string, unknown>;

export interface FlaggedBucket {
  bucket: string;
  featureId: string | null;
  calls: number;
  flagged: number;
  /** Flagged calls per category (policy verdict). */
  categories: Record<string, number>;
}

export interface GuardrailEvent {
  id: string;
  createdAt: string;
  featureId: string | null;
  orgId: string | null;
  endpoint: string;
  model: string | null;
  guardrail: string;
  categories: string[];
  scores: string | null;
  linkedEventId: string | null;
  latencyMs: number;
  input: string | null;
}

export interface GuardrailLatency {
  featureId: string | null;
  checks: number;
  p50Ms: number | null;
  p95Ms: number | null;
}

@Injectable()
export class ModerationRepository {
  constructor(private readonly dataSource: DataSource) {}

  async listPolicies(): Promise<ModerationPolicy[]> {
    const rows = (await this.dataSource.query(
      `SELECT feature_id, preset, thresholds, guardrail, fail_mode, timeout_ms, store_inputs, updated_at FROM moderation_policies ORDER BY feature_id`,
    )) as Row[];
    return rows.map(toPolicy);
  }

  async upsertPolicy(policy: ModerationPolicy): Promise<ModerationPolicy> {
    const [row] = (await this.dataSource.query(
      `INSERT INTO moderation_policies (feature_id, preset, thresholds, guardrail, fail_mode, timeout_ms, store_inputs, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, now())
       ON CONFLICT (feature_id) DO UPDATE SET preset = excluded.preset, thresholds = excluded.thresholds, guardrail = excluded.guardrail,
         fail_mode = excluded.fail_mode, timeout_ms = excluded.timeout_ms, store_inputs = excluded.store_inputs, updated_at = now()
       RETURNING feature_id, preset, thresholds, guardrail, fail_mode, timeout_ms, store_inputs, updated_at`,
      [policy.featureId, policy.preset, JSON.stringify(policy.thresholds), policy.guardrail, policy.failMode, policy.timeoutMs, policy.storeInputs],
    )) as Row[];
    return toPolicy(row);
  }

  async deletePolicy(featureId: string): Promise<boolean> {
    const [, count] = (await this.dataSource.query(`DELETE FROM moderation_policies WHERE feature_id = $1`, [featureId])) as [unknown, number];
    return count > 0;
  }

  /**
   * Moderation verdicts per time bucket and feature: calls checked (moderation calls and guardrail
   * checks), flagged under the policy, and flagged per category. Reads only moderation rows, through
   * the (feature_id, created_at) index.
   */
  async flaggedSeries(from: Date, to: Date, bucket: 'hour' | 'day', zone: string, featureIds: string[] | null): Promise<FlaggedBucket[]> {
    const rows = (await this.dataSource.query(
      `WITH checked AS (
         SELECT date_trunc($3, created_at, $4) AS bucket, feature_id, moderation_policy_flagged AS flagged, moderation_categories
         FROM usage_events
         WHERE created_at >= $1 AND created_at < $2 AND moderation_policy_flagged IS NOT NULL
           AND ($5::uuid[] IS NULL OR feature_id = ANY($5))
       ), totals AS (
         SELECT bucket, feature_id, count(*)::int AS calls, count(*) FILTER (WHERE flagged)::int AS flagged FROM checked GROUP BY 1, 2
       ), per_category AS (
         SELECT bucket, feature_id, jsonb_object_agg(category, n) AS categories FROM (
           SELECT bucket, feature_id, category, count(*)::int AS n
           FROM checked CROSS JOIN LATERAL unnest(string_to_array(nullif(moderation_categories, ''), ',')) AS category
           GROUP BY 1, 2, 3) c
         GROUP BY 1, 2
       )
       SELECT t.bucket, t.feature_id, t.calls, t.flagged, coalesce(p.categories, '{}'::jsonb) AS categories
       FROM totals t LEFT JOIN per_category p ON p.bucket = t.bucket AND p.feature_id IS NOT DISTINCT FROM t.feature_id
       ORDER BY t.bucket, t.feature_id`,
      [from.toISOString(), to.toISOString(), bucket, zone, featureIds],
    )) as Row[];
    return rows.map((r) => ({
      bucket: new Date(r.bucket as string).toISOString(),
      featureId: (r.feature_id as string | null) ?? null,
      calls: Number(r.calls),
      flagged: Number(r.flagged),
      categories: r.categories as Record<string, number>,
    }));
  }

  /** Every bucket of the range in the zone (wall-clock steps, so a DST day is 23 or 25 hours): empty ones are drawn too. */
  async buckets(from: Date, to: Date, bucket: 'hour' | 'day', zone: string): Promise<string[]> {
    const rows = (await this.dataSource.query(
      `SELECT (b AT TIME ZONE $4) AS bucket FROM generate_series(
         date_trunc($3, $1::timestamptz, $4) AT TIME ZONE $4,
         ($2::timestamptz - interval '1 microsecond') AT TIME ZONE $4,
         ('1 ' || $3)::interval) AS b
       LIMIT 10000`,
      [from.toISOString(), to.toISOString(), bucket, zone],
    )) as Row[];
    return rows.map((r) => new Date(r.bucket as string).toISOString());
  }

  /**
   * The latest guardrail actions other than a clean pass (blocks first among equals in time). A
   * guardrail's row names the org of the call it checked (moderation.hook.ts), so the join matches
   * on org too: the ledger's key, and one shard when it is distributed by org.
   */
  async recentGuardrailEvents(from: Date, to: Date, featureIds: string[] | null, outcomes: string[], limit: number): Promise<GuardrailEvent[]> {
    const rows = (await this.dataSource.query(
      `SELECT m.id, m.created_at, m.feature_id, ${orgIdSql('m.org_id')} AS org_id, c.endpoint, c.model, m.guardrail, m.moderation_categories, m.moderation_scores,
              m.linked_event_id, m.latency_ms, m.moderation_input
       FROM usage_events m LEFT JOIN usage_events c ON c.org_id = m.org_id AND c.id = m.linked_event_id AND c.created_at >= $1::timestamptz - interval '1 hour' AND c.created_at < $2::timestamptz + interval '1 hour'
       WHERE m.created_at >= $1 AND m.created_at < $2 AND m.endpoint = 'moderations' AND m.linked_event_id IS NOT NULL
         AND m.guardrail = ANY($4) AND ($3::uuid[] IS NULL OR m.feature_id = ANY($3))
       ORDER BY m.created_at DESC, m.id LIMIT $5`,
      [from.toISOString(), to.toISOString(), featureIds, outcomes, limit],
    )) as Row[];
    return rows.map((r) => ({
      id: r.id as string,
      createdAt: new Date(r.created_at as string).toISOString(),
      featureId: (r.feature_id as string | null) ?? null,
      orgId: (r.org_id as string | null) ?? null,
      endpoint: (r.endpoint as string | null) ?? 'unknown',
      model: (r.model as string | null) ?? null,
      guardrail: r.guardrail as string,
      categories: r.moderation_categories ? String(r.moderation_categories).split(',').filter(Boolean) : [],
      scores: (r.moderation_scores as string | null) ?? null,
      linkedEventId: (r.linked_event_id as string | null) ?? null,
      latencyMs: Number(r.latency_ms),
      input: (r.moderation_input as string | null) ?? null,
    }));
  }

  /** What the guardrail adds before a model call: its moderation round trip, per feature. */
  async guardrailLatency(from: Date, to: Date, featureIds: string[] | null): Promise<GuardrailLatency[]> {
    const rows = (await this.dataSource.query(
      `SELECT feature_id, count(*)::int AS checks,
              percentile_disc(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50,
              percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95
       FROM usage_events
       WHERE created_at >= $1 AND created_at < $2 AND endpoint = 'moderations' AND linked_event_id IS NOT NULL
         AND ($3::uuid[] IS NULL OR feature_id = ANY($3))
       GROUP BY feature_id ORDER BY feature_id`,
      [from.toISOString(), to.toISOString(), featureIds],
    )) as Row[];
    return rows.map((r) => ({
      featureId: (r.feature_id as string | null) ?? null,
      checks: Number(r.checks),
      p50Ms: r.p50 === null ? null : Number(r.p50),
      p95Ms: r.p95 === null ? null : Number(r.p95),
    }));
  }
}

function toPolicy(row: Row): ModerationPolicy {
  return {
    featureId: row.feature_id as string,
    preset: row.preset as ModerationPolicy['preset'],
    thresholds: (row.thresholds ?? {}) as Partial<Record<Category, number>>,
    guardrail: row.guardrail as ModerationPolicy['guardrail'],
    failMode: row.fail_mode as ModerationPolicy['failMode'],
    timeoutMs: Number(row.timeout_ms),
    storeInputs: row.store_inputs === true,
    updatedAt: new Date(row.updated_at as string).toISOString(),
  };
}
