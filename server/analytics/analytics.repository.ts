// The analytics reads that are not rollup sums: time zone arithmetic done by Postgres (so it
// matches the rollups' bucketing), org and feature references, the filter catalog and labels,
// and the prices a statement shows.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Catalog } from './catalog.types.js';

export interface MonthBounds {
  month_start: Date;
  month_end: Date;
  prev_start: Date;
  through: Date;
}

const REF_LOOKUPS = {
  org: `SELECT id::text, name AS ref FROM orgs WHERE name = ANY($1::text[]) UNION ALL SELECT id::text, openai_org_id FROM orgs WHERE openai_org_id = ANY($1::text[])`,
  feature: `SELECT id::text, slug AS ref FROM features WHERE slug = ANY($1::text[])`,
} as const;

@Injectable()
export class AnalyticsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * The two instants: an absolute text (with Z or an offset) as is, a local one in `tz`. Throws
   * Postgres's error for an unknown zone or an invalid date (the probe checks the zone even when
   * both are absolute).
   */
  async instants(fromText: string, fromAbsolute: boolean, toText: string, toAbsolute: boolean, tz: string): Promise<{ from: Date; to: Date }> {
    const cast = (i: number, absolute: boolean) => (absolute ? `$${i}::timestamptz` : `($${i}::timestamp AT TIME ZONE $3)`);
    const [row] = (await this.dataSource.query(`SELECT ${cast(1, fromAbsolute)} AS "from", ${cast(2, toAbsolute)} AS "to", now() AT TIME ZONE $3 AS probe`, [
      fromText,
      toText,
      tz,
    ])) as [{ from: Date; to: Date }];
    return row;
  }

  /** The month of `asOf` in `tz`, the month before, and the end of `asOf`'s UTC hour. */
  async monthBounds(asOf: Date, tz: string): Promise<MonthBounds> {
    const [bounds] = (await this.dataSource.query(
      `SELECT date_trunc('month', $1::timestamptz AT TIME ZONE $2) AT TIME ZONE $2 AS month_start,
        (date_trunc('month', $1::timestamptz AT TIME ZONE $2) + interval '1 month') AT TIME ZONE $2 AS month_end,
        (date_trunc('month', $1::timestamptz AT TIME ZONE $2) - interval '1 month') AT TIME ZONE $2 AS prev_start,
        date_trunc('hour', $1::timestamptz, 'UTC') + interval '1 hour' AS through`,
      [asOf.toISOString(), tz],
    )) as [MonthBounds];
    return bounds;
  }

  /** Ids by reference: an org's name or OpenAI org id, a feature's slug. */
  idsByRef(dimension: keyof typeof REF_LOOKUPS, refs: string[]): Promise<Array<{ id: string; ref: string }>> {
    return this.dataSource.query(REF_LOOKUPS[dimension], [refs]) as Promise<Array<{ id: string; ref: string }>>;
  }

  async catalog(): Promise<Catalog> {
    const [orgs, features, models, [first]] = (await Promise.all([
      this.dataSource.query(`SELECT id, name, openai_org_id AS "openaiOrgId", status FROM orgs ORDER BY lower(name)`),
      this.dataSource.query(`SELECT id, slug, name, default_org_id AS "defaultOrgId" FROM features ORDER BY slug`),
      // usage_daily has one row per day and key, far fewer than events; an open dashboard reads
      // the catalog at most every 30 s, not per chart.
      this.dataSource.query(`SELECT model AS id FROM prices UNION SELECT model FROM usage_daily WHERE model IS NOT NULL ORDER BY id`),
      // The rollup's unique index leads with the hour: min() is one index probe.
      this.dataSource.query(`SELECT min(hour) AS since FROM usage_hourly`),
    ])) as [Catalog['orgs'], Catalog['features'], Catalog['models'], Array<{ since: Date | null }>];
    return { orgs, features, models, historySince: first?.since ? first.since.toISOString() : null };
  }

  /** Org names and feature slugs by id. */
  async names(): Promise<{ orgs: Array<{ id: string; name: string }>; features: Array<{ id: string; name: string }> }> {
    const [orgs, features] = (await Promise.all([
      this.dataSource.query(`SELECT id, name FROM orgs`),
      this.dataSource.query(`SELECT id, slug AS name FROM features`),
    ])) as [Array<{ id: string; name: string }>, Array<{ id: string; name: string }>];
    return { orgs, features };
  }

  async org(id: string): Promise<{ id: string; name: string } | undefined> {
    const [org] = (await this.dataSource.query(`SELECT id, name FROM orgs WHERE id = $1`, [id])) as Array<{ id: string; name: string }>;
    return org;
  }

  /** Price rows by id, as stored (a statement line shows the unit prices it was charged at). */
  pricesByIds(ids: number[]): Promise<Array<Record<string, unknown>>> {
    return this.dataSource.query(
      `SELECT id, service_tier, effective_from, input_per_mtok, cached_input_per_mtok, output_per_mtok, audio_input_per_mtok,
         per_audio_minute, cached_audio_input_per_mtok, audio_output_per_mtok, image_input_per_mtok, cached_image_input_per_mtok,
         image_output_per_mtok, per_million_characters, per_image, per_thousand_calls, retired_at FROM prices WHERE id = ANY($1::int[])`,
      [ids],
    ) as Promise<Array<Record<string, unknown>>>;
  }
}
