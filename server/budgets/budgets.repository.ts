// Every query of budgets: the rows, and each budget's spend in its current period (from the hourly
// rollup, which every replica's ledger writes to). A period starts at midnight in the budget's zone.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface BudgetRow {
  id: string;
  name: string;
  org_id: string | null;
  org_name: string | null;
  feature_id: string | null;
  feature_slug: string | null;
  feature_name: string | null;
  scope: string | null;
  period: 'monthly' | 'custom';
  time_zone: string;
  origin: 'feature' | null;
  amount_nanos: string;
  thresholds: number[];
  forecast_percent: number | null;
  enforcement: 'soft' | 'hard';
  period_start: Date;
  period_end: Date;
  now: Date;
  spent_nanos: string;
  /**
   * The first hour replicas count in Redis (./hard-budgets.ts), and the spend before it:
   * hours that ended over two minutes ago, whose ledger rows every replica has written.
   */
  open_from: Date;
  spent_closed_nanos: string;
  /** The start of the current hour and the spend in it so far (the seed of its shared counter). */
  hour_start: Date;
  spent_hour_nanos: string;
  /** Spend over the last 7 days (or since the first spend, if later), and that window's length in ms: the pace. */
  recent_nanos: string;
  recent_ms: string;
}

export interface BudgetWrite {
  name: string;
  orgId: string | null;
  featureId: string | null;
  scope: string | null;
  period: 'monthly' | 'custom';
  timeZone: string;
  startsAt: string | null;
  endsAt: string | null;
  amountNanos: bigint;
  thresholds: number[];
  forecastPercent: number | null;
  enforcement: 'soft' | 'hard';
}

/** The first open hour: the current one, and the one before during its first two minutes. */
const OPEN_FROM = `date_trunc('hour', now() - interval '2 minutes')`;

const STATUS = `
  WITH b AS (
    SELECT b.*, o.name AS org_name, f.slug AS feature_slug, f.name AS feature_name,
      CASE WHEN b.period = 'monthly' THEN date_trunc('month', now() AT TIME ZONE b.time_zone) AT TIME ZONE b.time_zone ELSE b.starts_at END AS period_start,
      CASE WHEN b.period = 'monthly' THEN (date_trunc('month', now() AT TIME ZONE b.time_zone) + interval '1 month') AT TIME ZONE b.time_zone ELSE b.ends_at END AS period_end
    FROM budgets b LEFT JOIN orgs o ON o.id = b.org_id LEFT JOIN features f ON f.id = b.feature_id
    WHERE ($1::uuid[] IS NULL OR b.id = ANY($1))
  ), w AS (
    SELECT b.*, least(now(), b.period_end) AS recent_end FROM b
  )
  SELECT w.id, w.name, w.org_id, w.org_name, w.feature_id, w.feature_slug, w.feature_name, w.scope, w.period, w.time_zone, w.origin,
    w.amount_nanos::text, w.thresholds, w.forecast_percent, w.enforcement, w.period_start, w.period_end, now() AS now,
    coalesce(s.spent, 0)::text AS spent_nanos, coalesce(r.recent, 0)::text AS recent_nanos,
    ${OPEN_FROM} AS open_from, coalesce(s.closed, 0)::text AS spent_closed_nanos,
    date_trunc('hour', now()) AS hour_start, coalesce(s.this_hour, 0)::text AS spent_hour_nanos,
    greatest(0, floor(extract(epoch FROM (w.recent_end - greatest(w.recent_end - interval '7 days', coalesce(r.first_hour, w.recent_end)))) * 1000))::bigint::text AS recent_ms
  FROM w
  LEFT JOIN LATERAL (
    SELECT sum(h.cost_nanos) AS spent, sum(h.cost_nanos) FILTER (WHERE h.hour < ${OPEN_FROM}) AS closed,
      sum(h.cost_nanos) FILTER (WHERE h.hour = date_trunc('hour', now())) AS this_hour
    FROM usage_hourly h
    WHERE h.hour >= w.period_start AND h.hour < w.period_end
      AND (w.feature_id IS NULL OR h.feature_id = w.feature_id)
      AND (w.org_id IS NULL OR h.org_id = w.org_id)
  ) s ON true
  -- The pace: the last 7 days before now (across the period's start: on the 1st the month so far says
  -- little), or since the first spend when the history is shorter.
  LEFT JOIN LATERAL (
    SELECT sum(h.cost_nanos) AS recent, min(h.hour) AS first_hour
    FROM usage_hourly h
    WHERE h.hour >= date_trunc('hour', w.recent_end - interval '7 days') AND h.hour < w.recent_end
      AND (w.feature_id IS NULL OR h.feature_id = w.feature_id)
      AND (w.org_id IS NULL OR h.org_id = w.org_id)
  ) r ON true
  ORDER BY coalesce(w.feature_slug, w.org_name), w.name`;

export interface FeatureMonthRow {
  id: string;
  slug: string;
  name: string;
  org_name: string;
  period_start: Date;
  period_end: Date;
  now: Date;
  spent_nanos: string;
  recent_nanos: string;
  recent_ms: string;
}

@Injectable()
export class BudgetsRepository {
  /** Every feature's month to date in `tz` and its pace over the last 7 days (or since its first spend). */
  featureMonths(tz: string): Promise<FeatureMonthRow[]> {
    return this.dataSource.query(
      `WITH w AS (
         SELECT date_trunc('month', now() AT TIME ZONE $1) AT TIME ZONE $1 AS period_start,
                (date_trunc('month', now() AT TIME ZONE $1) + interval '1 month') AT TIME ZONE $1 AS period_end
       )
       SELECT f.id, f.slug, f.name, o.name AS org_name, w.period_start, w.period_end, now() AS now,
         coalesce(s.spent, 0)::text AS spent_nanos, coalesce(p.recent, 0)::text AS recent_nanos,
         greatest(0, floor(extract(epoch FROM (now() - greatest(now() - interval '7 days', coalesce(p.first_hour, now())))) * 1000))::bigint::text AS recent_ms
       FROM features f JOIN orgs o ON o.id = f.default_org_id CROSS JOIN w
       LEFT JOIN LATERAL (
         SELECT sum(h.cost_nanos) AS spent FROM usage_hourly h WHERE h.feature_id = f.id AND h.hour >= w.period_start AND h.hour < w.period_end
       ) s ON true
       LEFT JOIN LATERAL (
         SELECT sum(h.cost_nanos) AS recent, min(h.hour) AS first_hour FROM usage_hourly h
         WHERE h.feature_id = f.id AND h.hour >= date_trunc('hour', now() - interval '7 days') AND h.hour < now()
       ) p ON true
       ORDER BY f.slug`,
      [tz],
    );
  }

  constructor(private readonly dataSource: DataSource) {}

  /** Every budget (or the given ones) with its spend in the current period. */
  status(ids?: string[]): Promise<BudgetRow[]> {
    return this.dataSource.query(STATUS, [ids ?? null]);
  }

  async create(b: BudgetWrite): Promise<string> {
    const [row] = (await this.dataSource.query(
      `INSERT INTO budgets (name, org_id, feature_id, scope, period, time_zone, starts_at, ends_at, amount_nanos, thresholds, forecast_percent, enforcement)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
      [b.name, b.orgId, b.featureId, b.scope, b.period, b.timeZone, b.startsAt, b.endsAt, b.amountNanos.toString(), b.thresholds, b.forecastPercent, b.enforcement],
    )) as Array<{ id: string }>;
    return row.id;
  }

  /** Changes a budget; the feature's own budget writes its amount back to the feature, so the admin page and CLI agree. */
  async update(id: string, patch: Partial<Pick<BudgetWrite, 'name' | 'timeZone' | 'amountNanos' | 'thresholds' | 'forecastPercent' | 'enforcement'>>): Promise<boolean> {
    return this.dataSource.transaction(async (m) => {
      const [rows] = (await m.query(
        `UPDATE budgets SET name = coalesce($2, name), time_zone = coalesce($3, time_zone), amount_nanos = coalesce($4::bigint, amount_nanos),
           thresholds = coalesce($5, thresholds), forecast_percent = CASE WHEN $6::boolean THEN $7::smallint ELSE forecast_percent END,
           enforcement = coalesce($8, enforcement), updated_at = now()
         WHERE id = $1 RETURNING feature_id, origin, amount_nanos::text`,
        [id, patch.name ?? null, patch.timeZone ?? null, patch.amountNanos?.toString() ?? null, patch.thresholds ?? null, patch.forecastPercent !== undefined, patch.forecastPercent ?? null, patch.enforcement ?? null],
      )) as [Array<{ feature_id: string | null; origin: string | null; amount_nanos: string }>, number];
      const row = rows[0];
      if (!row) return false;
      if (row.origin === 'feature' && patch.amountNanos !== undefined) {
        await m.query(`UPDATE features SET monthly_budget_nanos = $2, updated_at = now() WHERE id = $1`, [row.feature_id, row.amount_nanos]);
      }
      return true;
    });
  }

  async remove(id: string): Promise<boolean> {
    return this.dataSource.transaction(async (m) => {
      const [rows] = (await m.query(`DELETE FROM budgets WHERE id = $1 RETURNING feature_id, origin`, [id])) as [Array<{ feature_id: string | null; origin: string | null }>, number];
      if (!rows[0]) return false;
      if (rows[0].origin === 'feature') await m.query(`UPDATE features SET monthly_budget_nanos = NULL, updated_at = now() WHERE id = $1`, [rows[0].feature_id]);
      return true;
    });
  }
}
