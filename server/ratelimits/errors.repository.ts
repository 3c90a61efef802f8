// SQL behind the engineers' "errors by kind": failed calls per org, feature, kind and minute from
// the ledger (through its partial index of failed rows), and all calls per org and feature from the
// per-minute throttling rollup (cheap, no ledger scan).
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { ErrorClass } from '../contract/errors.js';
import { hasOrgSql } from '../ledger/no-org.js';

/** Ledger error kinds (rate-limit-headers.ts ErrorKind) by who has to act. */
const KIND_CLASS = `CASE
    WHEN e.error_kind = 'quota' THEN 'billing'
    WHEN e.error_kind = 'auth' THEN 'upstream_auth'
    WHEN e.error_kind IN ('upstream_server_error', 'upstream_unreachable', 'upstream_timeout', 'stream_error', 'upstream_aborted') OR e.outcome = 'upstream_aborted' THEN 'upstream_5xx'
    WHEN e.error_kind IN ('rate_limit_requests', 'rate_limit_tokens', 'request_too_large') THEN 'rate_limit'
    WHEN e.error_kind IN ('paced', 'budget', 'shutdown', 'store_unavailable', 'gateway') OR e.outcome = 'shutdown' OR e.error_kind IS NULL AND e.outcome = 'error' THEN 'gateway'
    ELSE 'request'
  END`;

// Calls that name an org: throttle_minutes holds no others; the ledger stores the no-org sentinel, which `<>` skips.
const FILTERS = (alias: string) => `${hasOrgSql(`${alias}.org_id`)}
  AND ($1::text IS NULL OR ${alias}.org_id IN (SELECT id FROM orgs WHERE id::text = $1 OR openai_org_id = $1))
  AND ($2::text IS NULL OR ${alias}.feature_id IN (SELECT id FROM features WHERE id::text = $2 OR slug = $2))
  AND ($3::text IS NULL OR model_family(${alias}.model) = model_family($3))`;

export interface FailedMinuteRow {
  org_id: string;
  feature_id: string | null;
  kind: ErrorClass;
  minute: Date;
  failures: number;
  status: number;
  error_type: string | null;
  error_code: string | null;
}

export interface CallCountRow {
  org_id: string;
  feature_id: string | null;
  requests: number;
}

export interface ErrorFilters {
  org?: string;
  feature?: string;
  model?: string;
  from: Date;
  to: Date;
}

@Injectable()
export class ErrorsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Failures per org, feature, kind and minute, with the most frequent status, type and code of each minute. */
  failedMinutes(q: ErrorFilters): Promise<FailedMinuteRow[]> {
    return this.dataSource.query(
      `SELECT e.org_id, e.feature_id, ${KIND_CLASS} AS kind, date_trunc('minute', e.created_at, 'UTC') AS minute,
         count(*)::int AS failures, mode() WITHIN GROUP (ORDER BY e.status)::int AS status,
         mode() WITHIN GROUP (ORDER BY e.error_type) AS error_type, mode() WITHIN GROUP (ORDER BY e.error_code) AS error_code
       FROM usage_events e
       WHERE e.outcome <> 'ok' AND e.created_at >= $4 AND e.created_at < $5 AND ${FILTERS('e')}
       GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`,
      [q.org ?? null, q.feature ?? null, q.model ?? null, q.from, q.to],
    );
  }

  /** Every call (ok or not) per org and feature in the range, from the per-minute rollup. */
  callCounts(q: ErrorFilters): Promise<CallCountRow[]> {
    return this.dataSource.query(
      `SELECT t.org_id, t.feature_id, sum(t.requests)::int AS requests
       FROM throttle_minutes t
       WHERE t.minute >= date_trunc('minute', $4::timestamptz, 'UTC') AND t.minute < $5 AND ${FILTERS('t')}
       GROUP BY 1, 2`,
      [q.org ?? null, q.feature ?? null, q.model ?? null, q.from, q.to],
    );
  }

  /** Names for the ids found (orgs and features are few; one query each). */
  async names(orgIds: string[], featureIds: string[]): Promise<{ orgs: Map<string, { name: string; openaiOrgId: string }>; features: Map<string, { slug: string; name: string }> }> {
    const orgs = (await this.dataSource.query(`SELECT id, name, openai_org_id FROM orgs WHERE id = ANY($1::uuid[])`, [orgIds])) as Array<{ id: string; name: string; openai_org_id: string }>;
    const features = featureIds.length
      ? ((await this.dataSource.query(`SELECT id, slug, name FROM features WHERE id = ANY($1::uuid[])`, [featureIds])) as Array<{ id: string; slug: string; name: string }>)
      : [];
    return {
      orgs: new Map(orgs.map((o) => [o.id, { name: o.name, openaiOrgId: o.openai_org_id }])),
      features: new Map(features.map((f) => [f.id, { slug: f.slug, name: f.name }])),
    };
  }
}
