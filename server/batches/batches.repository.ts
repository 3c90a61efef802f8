// Every query of the batches module: who created each batch and input file, what the watcher last saw
// upstream, the lease one replica holds while it polls or meters a batch, and the metering's progress.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface Creator {
  orgId: string;
  featureId: string | null;
  gatewayKeyId: string | null;
}

export interface BatchRow {
  id: string;
  orgId: string;
  featureId: string | null;
  gatewayKeyId: string | null;
  inputFileId: string | null;
  endpoint: string | null;
  status: string;
  requestTotal: number;
  requestCompleted: number;
  requestFailed: number;
  outputFileId: string | null;
  errorFileId: string | null;
  createdAt: Date;
  finalAt: Date | null;
  outputLinesMetered: number;
  errorLinesMetered: number;
  unpricedLines: number;
  /** Nano-dollars of the lines metered so far, as a decimal string (bigint). */
  costNanos: string;
  meteredAt: Date | null;
  polls: number;
  nextPollAt: Date;
  lastError: string | null;
}

/** What a poll saw of the batch upstream. */
export interface UpstreamState {
  status: string;
  requestTotal: number;
  requestCompleted: number;
  requestFailed: number;
  outputFileId: string | null;
  errorFileId: string | null;
  /** The time OpenAI gives for its final state (completed_at, cancelled_at, …), when final. */
  finalAt: Date | null;
}

export interface OrgUpstream {
  baseUrl: string;
  openaiOrgId: string;
  projectId: string | null;
  /** The newest live upstream key, sealed; null when the org has none. */
  sealed: string | null;
}

const SELECT = `id, org_id AS "orgId", feature_id AS "featureId", gateway_key_id AS "gatewayKeyId", input_file_id AS "inputFileId",
  endpoint, status, request_total AS "requestTotal", request_completed AS "requestCompleted", request_failed AS "requestFailed",
  output_file_id AS "outputFileId", error_file_id AS "errorFileId", created_at AS "createdAt", final_at AS "finalAt",
  output_lines_metered AS "outputLinesMetered", error_lines_metered AS "errorLinesMetered", unpriced_lines AS "unpricedLines",
  cost_nanos::text AS "costNanos", metered_at AS "meteredAt", polls, next_poll_at AS "nextPollAt", last_error AS "lastError"`;

/** TypeORM answers an UPDATE … RETURNING with [rows, count], an INSERT or SELECT with the rows. */
function returned<T>(result: unknown): T[] {
  const rows = result as unknown[];
  return (Array.isArray(rows[0]) && typeof rows[1] === 'number' ? rows[0] : rows) as T[];
}

@Injectable()
export class BatchesRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** A batch created through the gateway; a second sight of the same id keeps the first creator. */
  async rememberBatch(id: string, who: Creator, inputFileId: string | null, endpoint: string | null, status: string): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO batches (id, org_id, feature_id, gateway_key_id, input_file_id, endpoint, status) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (id) DO NOTHING`,
      [id, who.orgId, who.featureId, who.gatewayKeyId, inputFileId, endpoint, status],
    );
  }

  async rememberFile(id: string, who: Creator, purpose: string | null): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO batch_files (id, org_id, feature_id, gateway_key_id, purpose) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`,
      [id, who.orgId, who.featureId, who.gatewayKeyId, purpose],
    );
  }

  async fileCreator(id: string): Promise<Creator | undefined> {
    const rows = (await this.dataSource.query(`SELECT org_id AS "orgId", feature_id AS "featureId", gateway_key_id AS "gatewayKeyId" FROM batch_files WHERE id = $1`, [id])) as Creator[];
    return rows[0];
  }

  async get(id: string): Promise<BatchRow | undefined> {
    return ((await this.dataSource.query(`SELECT ${SELECT} FROM batches WHERE id = $1`, [id])) as BatchRow[])[0];
  }

  /** Newest first, bounded. */
  async list(limit: number, status?: string): Promise<BatchRow[]> {
    return (await this.dataSource.query(
      `SELECT ${SELECT} FROM batches WHERE ($2::text IS NULL OR status = $2) ORDER BY created_at DESC, id LIMIT $1`,
      [limit, status ?? null],
    )) as BatchRow[];
  }

  /**
   * Takes up to `limit` unmetered batches whose next poll is due and whose lease is free, for `leaseMs`.
   * SKIP LOCKED: replicas ticking at once each take different batches instead of waiting on each other.
   */
  async claimDue(owner: string, limit: number, leaseMs: number): Promise<BatchRow[]> {
    return returned<BatchRow>(await this.dataSource.query(
      `UPDATE batches SET lease_owner = $1, lease_until = now() + $3 * interval '1 millisecond'
       WHERE id IN (
         SELECT id FROM batches
         WHERE metered_at IS NULL AND next_poll_at <= now() AND (lease_until IS NULL OR lease_until < now())
         ORDER BY next_poll_at LIMIT $2 FOR UPDATE SKIP LOCKED)
       RETURNING ${SELECT}`,
      [owner, limit, leaseMs],
    ));
  }

  /** Takes one batch now, whatever its schedule (the admin trigger); undefined while anyone (this process's watcher too) holds it. */
  async claim(id: string, owner: string, leaseMs: number): Promise<BatchRow | undefined> {
    return returned<BatchRow>(await this.dataSource.query(
      `UPDATE batches SET lease_owner = $1, lease_until = now() + $3 * interval '1 millisecond'
       WHERE id = $2 AND (lease_until IS NULL OR lease_until < now())
       RETURNING ${SELECT}`,
      [owner, id, leaseMs],
    ))[0];
  }

  /** What the poll saw; the final time is kept from the first poll that saw it (events are dated with it). */
  async saveUpstream(id: string, owner: string, state: UpstreamState): Promise<BatchRow | undefined> {
    return returned<BatchRow>(await this.dataSource.query(
      `UPDATE batches SET status = $3, request_total = $4, request_completed = $5, request_failed = $6,
         output_file_id = $7, error_file_id = $8, final_at = COALESCE(final_at, $9), last_error = NULL, polls = polls + 1
       WHERE id = $1 AND lease_owner = $2
       RETURNING ${SELECT}`,
      [id, owner, state.status, state.requestTotal, state.requestCompleted, state.requestFailed, state.outputFileId, state.errorFileId, state.finalAt],
    ))[0];
  }

  /**
   * What the ledger holds of these events (one batch's chunk, all dated `at`): found, their cost, and how
   * many are unpriced. Read after the chunk was flushed, so the batch's cost is the ledger's, whoever wrote it.
   */
  async ledgerSum(at: Date, ids: readonly string[]): Promise<{ found: number; nanos: bigint; unpriced: number }> {
    const [row] = (await this.dataSource.query(
      `SELECT count(*)::int AS found, coalesce(sum(cost_nanos), 0)::text AS nanos, count(*) FILTER (WHERE cost_nanos IS NULL)::int AS unpriced
       FROM usage_events WHERE created_at = $1 AND id = ANY($2::uuid[])`,
      [at, ids],
    )) as Array<{ found: number; nanos: string; unpriced: number }>;
    return { found: row.found, nanos: BigInt(row.nanos), unpriced: row.unpriced };
  }

  /**
   * Lines metered so far, with their cost: saved only after their events are in the ledger, so a restart
   * resumes after them (and what it meters again adds nothing). Extends the lease: metering is progressing.
   */
  async saveProgress(id: string, owner: string, progress: { outputLines: number; errorLines: number; addedNanos: bigint; addedUnpriced: number }, leaseMs: number): Promise<boolean> {
    const rows = returned(await this.dataSource.query(
      `UPDATE batches SET output_lines_metered = $3, error_lines_metered = $4, cost_nanos = cost_nanos + $5::bigint,
         unpriced_lines = unpriced_lines + $6, lease_until = now() + $7 * interval '1 millisecond'
       WHERE id = $1 AND lease_owner = $2 RETURNING id`,
      [id, owner, progress.outputLines, progress.errorLines, progress.addedNanos.toString(), progress.addedUnpriced, leaseMs],
    ));
    return rows.length > 0;
  }

  async finish(id: string, owner: string): Promise<BatchRow | undefined> {
    return returned<BatchRow>(await this.dataSource.query(
      `UPDATE batches SET metered_at = now(), lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2 RETURNING ${SELECT}`,
      [id, owner],
    ))[0];
  }

  /** Not final yet, or the poll failed: released, next poll at `nextPollAt`. */
  async release(id: string, owner: string, nextPollAt: Date, error: string | null): Promise<void> {
    await this.dataSource.query(
      `UPDATE batches SET lease_owner = NULL, lease_until = NULL, next_poll_at = $3, last_error = COALESCE(left($4, 1000), last_error)
       WHERE id = $1 AND lease_owner = $2`,
      [id, owner, nextPollAt, error],
    );
  }

  async orgUpstream(orgId: string): Promise<OrgUpstream | undefined> {
    const rows = (await this.dataSource.query(
      `SELECT o.base_url AS "baseUrl", o.openai_org_id AS "openaiOrgId", o.project_id AS "projectId",
         (SELECT u.sealed FROM upstream_keys u WHERE u.org_id = o.id AND u.revoked_at IS NULL ORDER BY u.created_at DESC LIMIT 1) AS sealed
       FROM orgs o WHERE o.id = $1`,
      [orgId],
    )) as OrgUpstream[];
    return rows[0];
  }

  /** Org names and feature slugs of these batches, for the list. */
  async names(rows: readonly BatchRow[]): Promise<{ orgs: Map<string, string>; features: Map<string, string> }> {
    const orgIds = [...new Set(rows.map((r) => r.orgId))];
    const featureIds = [...new Set(rows.flatMap((r) => (r.featureId ? [r.featureId] : [])))];
    const [orgs, features] = await Promise.all([
      orgIds.length ? (this.dataSource.query(`SELECT id, name FROM orgs WHERE id = ANY($1::uuid[])`, [orgIds]) as Promise<Array<{ id: string; name: string }>>) : [],
      featureIds.length ? (this.dataSource.query(`SELECT id, slug AS name FROM features WHERE id = ANY($1::uuid[])`, [featureIds]) as Promise<Array<{ id: string; name: string }>>) : [],
    ]);
    return { orgs: new Map(orgs.map((o) => [o.id, o.name])), features: new Map(features.map((f) => [f.id, f.name])) };
  }
}
