// Every SQL statement of rate limits: the per-minute headroom and throttling history the ledger's
// rollups keep (read and pruned here), and the anonymous request counts.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { LatestQuery, RangeQuery } from './ratelimits.dto.js';

const ORG_FILTER = `($1::text IS NULL OR o.id::text = $1 OR o.openai_org_id = $1)`;
const MODEL_FILTER = (column: string) => `($3::text IS NULL OR ${column} = model_family($3))`;
// Headroom is per org: a feature filter keeps the orgs that feature may use.
const FEATURE_ORGS_FILTER = `($2::text IS NULL OR r.org_id IN (
  SELECT f.default_org_id FROM features f WHERE f.id::text = $2 OR f.slug = $2
  UNION SELECT fo.org_id FROM feature_orgs fo JOIN features f ON f.id = fo.feature_id WHERE f.id::text = $2 OR f.slug = $2))`;
const FEATURE_FILTER = `($2::text IS NULL OR f.id::text = $2 OR f.slug = $2)`;
// "Latest" looks this far back: a minute row older than that says nothing about now.
const LATEST_LOOKBACK = `interval '7 days'`;

export interface HeadroomRow {
  org_id: string;
  org_name: string;
  openai_org_id: string;
  model: string;
  minute: Date;
  observed_at: Date;
  limit_requests: number | null;
  remaining_requests: number | null;
  reset_requests_ms: number | null;
  limit_tokens: string | null;
  remaining_tokens: string | null;
  reset_tokens_ms: number | null;
  limit_project_tokens: string | null;
  remaining_project_tokens: string | null;
  reset_project_tokens_ms: number | null;
  min_remaining_requests: number | null;
  min_remaining_tokens: string | null;
  observations: number;
}

export interface ThrottleRow {
  minute?: Date;
  org_id: string;
  org_name: string;
  openai_org_id: string;
  feature_id: string | null;
  feature_slug: string | null;
  model: string | null;
  requests: number;
  rate_limit_requests: number;
  rate_limit_tokens: number;
  request_too_large: number;
  quota: number;
  paced: number;
  retries: number;
}

const HEADROOM_COLUMNS = `r.org_id, o.name AS org_name, o.openai_org_id, r.model, r.minute, r.observed_at,
  r.limit_requests, r.remaining_requests, r.reset_requests_ms, r.limit_tokens, r.remaining_tokens, r.reset_tokens_ms,
  r.limit_project_tokens, r.remaining_project_tokens, r.reset_project_tokens_ms, r.min_remaining_requests,
  r.min_remaining_tokens, r.observations`;

const THROTTLE_SUMS = `sum(t.requests)::int AS requests, sum(t.rate_limit_requests)::int AS rate_limit_requests,
  sum(t.rate_limit_tokens)::int AS rate_limit_tokens, sum(t.request_too_large)::int AS request_too_large,
  sum(t.quota)::int AS quota, sum(t.paced)::int AS paced, sum(t.retries)::int AS retries`;

const ANONYMOUS_UPSERT_SQL = `
  INSERT INTO anonymous_minutes (minute, reason, requests)
  SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::bigint[])
  ON CONFLICT (minute, reason) DO UPDATE SET requests = anonymous_minutes.requests + EXCLUDED.requests`;

@Injectable()
export class RateLimitsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** The oldest minute of headroom history kept; null when there is none. */
  async oldestMinute(): Promise<Date | null> {
    const [row] = (await this.dataSource.query(`SELECT min(minute) AS since FROM ratelimit_minutes`)) as Array<{ since: Date | null }>;
    return row?.since ?? null;
  }

  /** Deletes headroom and throttling minutes older than `days`. */
  async prune(days: number): Promise<void> {
    for (const table of ['ratelimit_minutes', 'throttle_minutes']) {
      await this.dataSource.query(`DELETE FROM ${table} WHERE minute < now() - make_interval(days => $1)`, [days]);
    }
  }

  /** The newest minute per org and model within the lookback. */
  latestHeadroom(query: Omit<LatestQuery, 'limit'>): Promise<HeadroomRow[]> {
    return this.dataSource.query(
      `SELECT DISTINCT ON (r.org_id, r.model) ${HEADROOM_COLUMNS}
       FROM ratelimit_minutes r JOIN orgs o ON o.id = r.org_id
       WHERE r.minute >= now() - ${LATEST_LOOKBACK} AND ${ORG_FILTER} AND ${FEATURE_ORGS_FILTER} AND ${MODEL_FILTER('r.model')}
       ORDER BY r.org_id, r.model, r.minute DESC`,
      [query.org ?? null, query.feature ?? null, query.model ?? null],
    ) as Promise<HeadroomRow[]>;
  }

  /** Every minute of the range, per org and model. */
  headroomSeries(query: RangeQuery): Promise<HeadroomRow[]> {
    return this.dataSource.query(
      `SELECT ${HEADROOM_COLUMNS}
       FROM ratelimit_minutes r JOIN orgs o ON o.id = r.org_id
       WHERE r.minute >= date_trunc('minute', $4::timestamptz, 'UTC') AND r.minute < $5
         AND ${ORG_FILTER} AND ${FEATURE_ORGS_FILTER} AND ${MODEL_FILTER('r.model')}
       ORDER BY o.name, r.model, r.minute`,
      [query.org ?? null, query.feature ?? null, query.model ?? null, query.from, query.to],
    ) as Promise<HeadroomRow[]>;
  }

  /** Every minute of the range, per org, feature and model. */
  throttlingSeries(query: RangeQuery): Promise<ThrottleRow[]> {
    return this.dataSource.query(
      `SELECT t.minute, t.org_id, o.name AS org_name, o.openai_org_id, t.feature_id, f.slug AS feature_slug, t.model,
         t.requests, t.rate_limit_requests, t.rate_limit_tokens, t.request_too_large, t.quota, t.paced, t.retries
       FROM throttle_minutes t JOIN orgs o ON o.id = t.org_id LEFT JOIN features f ON f.id = t.feature_id
       WHERE t.minute >= date_trunc('minute', $4::timestamptz, 'UTC') AND t.minute < $5
         AND ${ORG_FILTER} AND ${FEATURE_FILTER} AND ${MODEL_FILTER('t.model')}
       ORDER BY o.name, f.slug, t.model, t.minute`,
      [query.org ?? null, query.feature ?? null, query.model ?? null, query.from, query.to],
    ) as Promise<ThrottleRow[]>;
  }

  /** Totals over the range per feature and org. */
  throttlingSummary(query: RangeQuery): Promise<ThrottleRow[]> {
    return this.dataSource.query(
      `SELECT t.org_id, o.name AS org_name, o.openai_org_id, t.feature_id, f.slug AS feature_slug, NULL AS model, ${THROTTLE_SUMS}
       FROM throttle_minutes t JOIN orgs o ON o.id = t.org_id LEFT JOIN features f ON f.id = t.feature_id
       WHERE t.minute >= date_trunc('minute', $4::timestamptz, 'UTC') AND t.minute < $5
         AND ${ORG_FILTER} AND ${FEATURE_FILTER} AND ${MODEL_FILTER('t.model')}
       GROUP BY t.org_id, o.name, o.openai_org_id, t.feature_id, f.slug`,
      [query.org ?? null, query.feature ?? null, query.model ?? null, query.from, query.to],
    ) as Promise<ThrottleRow[]>;
  }

  /** Adds counts per minute and reason (parallel arrays). */
  async addAnonymous(minutes: string[], reasons: string[], counts: string[]): Promise<void> {
    await this.dataSource.query(ANONYMOUS_UPSERT_SQL, [minutes, reasons, counts]);
  }

  async pruneAnonymous(days: number): Promise<void> {
    await this.dataSource.query(`DELETE FROM anonymous_minutes WHERE minute < now() - make_interval(days => $1)`, [days]);
  }

  anonymousMinutes(from: Date, to: Date): Promise<Array<{ minute: Date; reason: string; requests: string }>> {
    return this.dataSource.query(`SELECT minute, reason, requests FROM anonymous_minutes WHERE minute >= $1 AND minute < $2 ORDER BY minute, reason`, [
      from,
      to,
    ]) as Promise<Array<{ minute: Date; reason: string; requests: string }>>;
  }
}
