import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Attribution below the feature: end user and tags on each usage event, the tags an admin declares,
 * each feature's default and required tags, and a rollup per tag value.
 *
 * Events keep `end_user text` and `tags jsonb` (a small object, at most ATTRIBUTION_MAX_TAGS keys):
 * one column, no join, read only by the CSV export. Grouping never reads them: the dashboard reads
 * usage_tag_hourly/daily, the usage rollups with (tag, value) added to the key (the end user is the
 * tag ''), written by the same batched insert. A 90-day "spend by customer" reads ~90 x values x
 * models rows through (tag, day), whatever the number of events; a normalised event_tags table
 * would have to be joined and grouped over every event of the range (10M rows at the benchmark's
 * scale). A value past its tag's cap is stored as JSON null / SQL NULL: "other".
 */
const ROLLUPS = [
  ['usage_tag_hourly', 'usage_hourly', 'hour'],
  ['usage_tag_daily', 'usage_daily', 'day'],
] as const;

export class Attribution1734400000000 implements MigrationInterface {
  name = 'Attribution1734400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE usage_events ADD COLUMN end_user text, ADD COLUMN tags jsonb`);
    await q.query(`
      CREATE TABLE attribution_tags (
        name text PRIMARY KEY,
        description text NOT NULL DEFAULT '',
        max_values integer NOT NULL,
        max_length integer NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`
      CREATE TABLE feature_attribution (
        feature_id uuid PRIMARY KEY REFERENCES features(id) ON DELETE CASCADE,
        default_tags jsonb NOT NULL DEFAULT '{}',
        required_tags text[] NOT NULL DEFAULT '{}',
        updated_at timestamptz NOT NULL DEFAULT now())`);
    for (const [table, like, time] of ROLLUPS) {
      await q.query(`CREATE TABLE ${table} (LIKE ${like} INCLUDING DEFAULTS, tag text NOT NULL, value text)`);
      await q.query(`
        CREATE UNIQUE INDEX ${table}_key ON ${table} (${time}, org_id, feature_id, model, endpoint, price_id, tag, value) NULLS NOT DISTINCT`);
      // Long ranges read the daily rows of one tag; the hourly rows are read only for the hours at a
      // time-zone bucket's edges, through the key's leading hour. One index less to maintain per write.
      if (time === 'day') await q.query(`CREATE INDEX ${table}_tag ON ${table} (tag, day)`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const [table] of ROLLUPS) await q.query(`DROP TABLE ${table}`);
    await q.query(`DROP TABLE feature_attribution`);
    await q.query(`DROP TABLE attribution_tags`);
    await q.query(`ALTER TABLE usage_events DROP COLUMN end_user, DROP COLUMN tags`);
  }
}
