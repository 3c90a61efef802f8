// Every query reconciliation makes: OpenAI's buckets (stored beside the ledger, never in it), the sync's
// watermarks and leases, and the ledger's daily rollup read for comparison. Services hold the logic.
import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { AdminBucket } from './reconciliation.dto.js';

export interface SyncStateRow {
  org_id: string;
  endpoint: string;
  watermark: Date | null;
  run_started_at: Date | null;
  buckets_total: number;
  buckets_done: number;
  last_success_at: Date | null;
  last_error: string | null;
  last_error_at: Date | null;
}

export interface ReconOrgRow {
  id: string;
  name: string;
  base_url: string;
  has_admin_key: boolean;
  keys_without_openai_id: number;
}

export interface LedgerDayRow {
  org_id: string;
  day: string;
  model: string | null;
  requests: string;
  input_tokens: string;
  cached_tokens: string;
  output_tokens: string;
  cost_nanos: string;
  estimated_requests: string;
  estimated_cost_nanos: string;
  unpriced_requests: string;
}

export interface OpenAIUsageDayRow {
  org_id: string;
  day: string;
  model: string;
  api_key_id: string;
  requests: string;
  input_tokens: string;
  cached_tokens: string;
  output_tokens: string;
}

export interface OpenAICostDayRow {
  org_id: string;
  day: string;
  line_item: string;
  api_key_id: string;
  /** Exact, rounded half up to the nano-dollar from OpenAI's decimal. */
  nanos: string;
}

export interface UpstreamKeyIdRow {
  org_id: string;
  id: string;
  openai_key_id: string;
  masked: string;
  label: string;
}

/** Endpoints whose usage is per call, so the ledger has the same calls (vector stores and sessions are not). */
export const METERED_ENDPOINTS = ['completions', 'embeddings', 'moderations', 'images', 'audio_speeches', 'audio_transcriptions'];

@Injectable()
export class ReconciliationRepository {
  constructor(private readonly db: DataSource) {}

  async orgs(orgId?: string): Promise<ReconOrgRow[]> {
    return this.db.query(
      `SELECT o.id, o.name, o.base_url, (a.org_id IS NOT NULL) AS has_admin_key,
         (SELECT count(*)::int FROM upstream_keys k WHERE k.org_id = o.id AND k.revoked_at IS NULL AND k.openai_key_id IS NULL) AS keys_without_openai_id
       FROM orgs o LEFT JOIN org_admin_keys a ON a.org_id = o.id
       WHERE ($1::uuid IS NULL OR o.id = $1) ORDER BY o.name`,
      [orgId ?? null],
    );
  }

  async syncStates(orgIds: string[]): Promise<SyncStateRow[]> {
    return this.db.query(`SELECT * FROM recon_sync_state WHERE org_id = ANY($1::uuid[])`, [orgIds]);
  }

  async startRun(orgId: string, endpoint: string, from: Date, to: Date, total: number): Promise<void> {
    await this.db.query(
      `INSERT INTO recon_sync_state (org_id, endpoint, run_started_at, run_from, run_to, buckets_total, buckets_done)
       VALUES ($1, $2, now(), $3, $4, $5, 0)
       ON CONFLICT (org_id, endpoint) DO UPDATE SET run_started_at = now(), run_from = $3, run_to = $4, buckets_total = $5, buckets_done = 0`,
      [orgId, endpoint, from, to, total],
    );
  }

  /**
   * Stores one page and moves the watermark in one transaction, so a crash leaves the watermark at the last
   * page stored whole. Upserts keyed by org, endpoint, bucket start and group keys: a bucket fetched twice
   * (a later sync, or two replicas) is stored once, with OpenAI's latest figures.
   */
  async storePage(orgId: string, endpoint: string, buckets: AdminBucket[], watermark: Date): Promise<void> {
    await this.db.transaction(async (tx) => {
      if (endpoint === 'costs') await this.upsertCosts(tx, orgId, buckets);
      else await this.upsertUsage(tx, orgId, endpoint, buckets);
      await tx.query(
        `UPDATE recon_sync_state SET watermark = GREATEST(coalesce(watermark, $3), $3), buckets_done = buckets_done + $4
         WHERE org_id = $1 AND endpoint = $2`,
        [orgId, endpoint, watermark, buckets.length],
      );
    });
  }

  private async upsertUsage(tx: EntityManager, orgId: string, endpoint: string, buckets: AdminBucket[]): Promise<void> {
    const rows: Array<[string, unknown[]]> = [];
    for (const bucket of buckets) {
      for (const r of bucket.results) {
        const group = [r.model ?? '', r.api_key_id ?? '', r.project_id ?? '', r.batch ?? false] as const;
        const requests = r.num_model_requests ?? r.num_requests ?? r.num_sessions ?? 0;
        rows.push([
          [bucket.start_time, ...group].join('\u0000'),
          [new Date(bucket.start_time * 1000), new Date(bucket.end_time * 1000), ...group, requests, r.input_tokens ?? 0, r.input_cached_tokens ?? 0, r.output_tokens ?? 0, JSON.stringify(r)],
        ]);
      }
    }
    const cols = columns(rows, 11);
    if (cols[0].length === 0) return;
    await tx.query(
      `INSERT INTO recon_usage_buckets AS b (org_id, endpoint, bucket_start, bucket_end, model, api_key_id, project_id, batch,
         requests, input_tokens, cached_tokens, output_tokens, result)
       SELECT $1, $2, * FROM unnest($3::timestamptz[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::boolean[],
         $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::jsonb[])
       ON CONFLICT (org_id, endpoint, bucket_start, model, api_key_id, project_id, batch) DO UPDATE SET
         bucket_end = excluded.bucket_end, requests = excluded.requests, input_tokens = excluded.input_tokens,
         cached_tokens = excluded.cached_tokens, output_tokens = excluded.output_tokens, result = excluded.result, synced_at = now()`,
      [orgId, endpoint, ...cols],
    );
  }

  private async upsertCosts(tx: EntityManager, orgId: string, buckets: AdminBucket[]): Promise<void> {
    const rows: Array<[string, unknown[]]> = [];
    for (const bucket of buckets) {
      for (const r of bucket.results) {
        if (!r.amount) continue;
        const group = [r.line_item ?? '', r.api_key_id ?? '', r.project_id ?? ''] as const;
        rows.push([
          [bucket.start_time, ...group].join('\u0000'),
          [new Date(bucket.start_time * 1000), new Date(bucket.end_time * 1000), ...group, r.amount.value, r.amount.currency, r.quantity ?? null, r.quantity_unit ?? null],
        ]);
      }
    }
    const cols = columns(rows, 9);
    if (cols[0].length === 0) return;
    await tx.query(
      `INSERT INTO recon_cost_buckets AS b (org_id, bucket_start, bucket_end, line_item, api_key_id, project_id, amount, currency, quantity, quantity_unit)
       SELECT $1, * FROM unnest($2::timestamptz[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::numeric[], $8::text[], $9::numeric[], $10::text[])
       ON CONFLICT (org_id, bucket_start, line_item, api_key_id, project_id) DO UPDATE SET
         bucket_end = excluded.bucket_end, amount = excluded.amount, currency = excluded.currency,
         quantity = excluded.quantity, quantity_unit = excluded.quantity_unit, synced_at = now()`,
      [orgId, ...cols],
    );
  }

  async finishRun(orgId: string, endpoint: string): Promise<void> {
    await this.db.query(
      `UPDATE recon_sync_state SET run_started_at = NULL, last_success_at = now(), last_error = NULL, last_error_at = NULL WHERE org_id = $1 AND endpoint = $2`,
      [orgId, endpoint],
    );
  }

  async failRun(orgId: string, endpoint: string, message: string): Promise<void> {
    await this.db.query(
      `UPDATE recon_sync_state SET run_started_at = NULL, last_error = $3, last_error_at = now() WHERE org_id = $1 AND endpoint = $2`,
      [orgId, endpoint, message.slice(0, 1000)],
    );
  }

  /** Takes (or renews) the org's lease when it is free, expired or already ours; false: another replica syncs it. */
  async acquireLease(orgId: string, owner: string, ms: number): Promise<boolean> {
    const rows: unknown[] = await this.db.query(
      `INSERT INTO recon_leases (org_id, owner, until) VALUES ($1, $2, now() + make_interval(secs => $3 / 1000.0))
       ON CONFLICT (org_id) DO UPDATE SET owner = excluded.owner, until = excluded.until
       WHERE recon_leases.until < now() OR recon_leases.owner = excluded.owner
       RETURNING owner`,
      [orgId, owner, ms],
    );
    return rows.length === 1;
  }

  /** Orgs some replica is syncing now (a live lease). */
  async leasedOrgs(orgIds: string[]): Promise<string[]> {
    const rows: Array<{ org_id: string }> = await this.db.query(`SELECT org_id FROM recon_leases WHERE org_id = ANY($1::uuid[]) AND until > now()`, [orgIds]);
    return rows.map((r) => r.org_id);
  }

  async releaseLease(orgId: string, owner: string): Promise<void> {
    await this.db.query(`DELETE FROM recon_leases WHERE org_id = $1 AND owner = $2`, [orgId, owner]);
  }

  /** The ledger's side, from its daily rollup: billable requests are the completed ones plus estimated (aborted) ones. */
  async ledgerDays(orgIds: string[], from: Date, to: Date): Promise<LedgerDayRow[]> {
    return this.db.query(
      `SELECT org_id, to_char(day AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, model,
         sum(requests - errors + estimated_requests)::text AS requests,
         sum(input_tokens)::text AS input_tokens, sum(cached_tokens)::text AS cached_tokens, sum(output_tokens)::text AS output_tokens,
         sum(cost_nanos)::text AS cost_nanos, sum(estimated_requests)::text AS estimated_requests,
         sum(estimated_cost_nanos)::text AS estimated_cost_nanos, sum(unpriced_requests)::text AS unpriced_requests
              -- Calls without a model (model listings) are not billed per call, so OpenAI's usage has no line for them.
       FROM usage_daily WHERE org_id = ANY($1::uuid[]) AND day >= $2 AND day < $3 AND model IS NOT NULL AND endpoint <> 'models'
       GROUP BY 1, 2, 3 ORDER BY 2, 1, 3`,
      [orgIds, from, to],
    );
  }

  async openaiUsageDays(orgIds: string[], from: Date, to: Date): Promise<OpenAIUsageDayRow[]> {
    return this.db.query(
      `SELECT org_id, to_char(date_trunc('day', bucket_start, 'UTC') AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, model, api_key_id,
         sum(requests)::text AS requests, sum(input_tokens)::text AS input_tokens,
         sum(cached_tokens)::text AS cached_tokens, sum(output_tokens)::text AS output_tokens
       FROM recon_usage_buckets
       WHERE org_id = ANY($1::uuid[]) AND bucket_start >= $2 AND bucket_start < $3 AND endpoint = ANY($4::text[])
       GROUP BY 1, 2, 3, 4 ORDER BY 2, 1, 3, 4`,
      [orgIds, from, to, METERED_ENDPOINTS],
    );
  }

  async openaiCostDays(orgIds: string[], from: Date, to: Date): Promise<OpenAICostDayRow[]> {
    return this.db.query(
      `SELECT org_id, to_char(bucket_start AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, line_item, api_key_id,
         round(sum(amount) * 1000000000)::text AS nanos
       FROM recon_cost_buckets
       WHERE org_id = ANY($1::uuid[]) AND bucket_start >= $2 AND bucket_start < $3 AND currency = 'usd'
       GROUP BY 1, 2, 3, 4 ORDER BY 2, 1, 3, 4`,
      [orgIds, from, to],
    );
  }

  async upstreamKeyIds(orgIds: string[]): Promise<UpstreamKeyIdRow[]> {
    return this.db.query(
      `SELECT org_id, id, openai_key_id, masked, label FROM upstream_keys WHERE org_id = ANY($1::uuid[]) AND openai_key_id IS NOT NULL`,
      [orgIds],
    );
  }
}

/**
 * Rows (keyed by bucket start and group keys) as one array per column for unnest(). A key seen twice keeps
 * its last row: one INSERT … ON CONFLICT cannot touch the same row twice (OpenAI sends no such pair anyway).
 */
function columns(rows: Array<[string, unknown[]]>, width: number): unknown[][] {
  const byKey = new Map(rows);
  const cols: unknown[][] = Array.from({ length: width }, () => []);
  for (const values of byKey.values()) values.forEach((v, i) => cols[i].push(v));
  return cols;
}
