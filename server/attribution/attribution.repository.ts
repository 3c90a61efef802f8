// Every query of attribution: tag declarations, feature tag settings, and the values a tag was
// given this month (read back from the tag rollup, so the cardinality caps survive a restart).
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface TagRow {
  name: string;
  description: string;
  max_values: number;
  max_length: number;
  created_at: Date;
  updated_at: Date;
}

export interface FeatureAttributionRow {
  feature_id: string;
  default_tags: Record<string, string>;
  required_tags: string[];
}

@Injectable()
export class AttributionRepository {
  constructor(private readonly dataSource: DataSource) {}

  tags(): Promise<TagRow[]> {
    return this.dataSource.query(`SELECT name, description, max_values, max_length, created_at, updated_at FROM attribution_tags ORDER BY name`);
  }

  async insertTag(tag: { name: string; description: string; maxValues: number; maxLength: number }): Promise<TagRow | undefined> {
    const rows = (await this.dataSource.query(
      `INSERT INTO attribution_tags (name, description, max_values, max_length) VALUES ($1, $2, $3, $4)
       ON CONFLICT (name) DO NOTHING RETURNING name, description, max_values, max_length, created_at, updated_at`,
      [tag.name, tag.description, tag.maxValues, tag.maxLength],
    )) as TagRow[];
    return rows[0];
  }

  async updateTag(name: string, patch: { description?: string; maxValues?: number; maxLength?: number }): Promise<TagRow | undefined> {
    const rows = (await this.dataSource.query(
      `UPDATE attribution_tags SET description = coalesce($2, description), max_values = coalesce($3, max_values),
         max_length = coalesce($4, max_length), updated_at = now()
       WHERE name = $1 RETURNING name, description, max_values, max_length, created_at, updated_at`,
      [name, patch.description ?? null, patch.maxValues ?? null, patch.maxLength ?? null],
    )) as [TagRow[], number];
    return rows[0][0];
  }

  async deleteTag(name: string): Promise<boolean> {
    const [, count] = (await this.dataSource.query(`DELETE FROM attribution_tags WHERE name = $1`, [name])) as [unknown, number];
    return count > 0;
  }

  featureSettings(): Promise<FeatureAttributionRow[]> {
    return this.dataSource.query(`SELECT feature_id, default_tags, required_tags FROM feature_attribution`);
  }

  async featureExists(id: string): Promise<{ id: string; slug: string } | undefined> {
    const rows = (await this.dataSource.query(`SELECT id, slug FROM features WHERE id::text = $1 OR slug = $1`, [id])) as Array<{ id: string; slug: string }>;
    return rows[0];
  }

  async upsertFeatureSettings(featureId: string, defaultTags: Record<string, string>, requiredTags: string[]): Promise<FeatureAttributionRow> {
    const [row] = (await this.dataSource.query(
      `INSERT INTO feature_attribution (feature_id, default_tags, required_tags) VALUES ($1, $2, $3)
       ON CONFLICT (feature_id) DO UPDATE SET default_tags = excluded.default_tags, required_tags = excluded.required_tags, updated_at = now()
       RETURNING feature_id, default_tags, required_tags`,
      [featureId, JSON.stringify(defaultTags), requiredTags],
    )) as FeatureAttributionRow[];
    return row;
  }

  /**
   * The values each tag (and the end user, tag '') was given since `monthStart`, at most `cap(tag)`
   * per tag, the most expensive first (then the busiest): after a restart, or when a cap was lowered,
   * the values kept are the top ones. Reads the daily tag rollup (one row per day, value and model).
   */
  async admittedValues(monthStart: Date, caps: { names: string[]; limits: number[]; fallback: number; endUsers: number }): Promise<Array<{ tag: string; value: string }>> {
    return this.dataSource.query(
      `SELECT tag, value FROM (
         SELECT tag, value, row_number() OVER (PARTITION BY tag ORDER BY sum(cost_nanos) DESC, sum(requests) DESC, value) AS rank
         FROM usage_tag_daily WHERE day >= $1 AND value IS NOT NULL GROUP BY tag, value) v
       LEFT JOIN unnest($2::text[], $3::int[]) AS c(name, cap) ON c.name = v.tag
       WHERE v.rank <= CASE WHEN v.tag = '' THEN $5 ELSE coalesce(c.cap, $4) END`,
      [monthStart.toISOString(), caps.names, caps.limits, caps.fallback, caps.endUsers],
    );
  }
}

/** The tags seen in a range (from the daily tag rollup) and their values, busiest first, at most `limit` each. */
export async function tagsSeen(db: Pick<DataSource, 'query'>, from: Date, to: Date, limit: number): Promise<Array<{ tag: string; values: string[] }>> {
  return db.query(
    `SELECT tag, (array_agg(value ORDER BY requests DESC, value) FILTER (WHERE value IS NOT NULL))[1:$3] AS values FROM (
       SELECT tag, value, sum(requests) AS requests FROM usage_tag_daily WHERE day >= $1 AND day < $2 GROUP BY tag, value) v
     GROUP BY tag ORDER BY tag`,
    [from.toISOString(), to.toISOString(), limit],
  );
}
