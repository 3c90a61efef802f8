import { MigrationInterface, QueryRunner } from 'typeorm';

/** "No org" (server/ledger/no-org.ts, NO_ORG): written out here so this migration stays as it ran. */
const NO_ORG = '00000000-0000-0000-0000-000000000000';

/** What the spend rollups sum (usage_hourly/daily and the tag rollups made LIKE them), as of this migration. */
const USAGE_SUMS = [
  'requests', 'errors', 'input_tokens', 'cached_tokens', 'output_tokens', 'reasoning_tokens', 'audio_input_tokens', 'audio_seconds',
  'cost_nanos', 'estimated_cost_nanos', 'estimated_requests', 'unpriced_requests', 'latency_ms_sum', 'not_metered_requests',
  'audio_output_tokens', 'image_input_tokens', 'image_output_tokens', 'characters', 'images', 'web_search_calls',
  'web_search_preview_calls', 'file_search_calls',
];
const LATENCY_SUMS = ['latency_count', 'ttfb_count'];

/** Each rollup with a nullable org_id: its unique key (the writer's ON CONFLICT target) and what it sums. In the writer's lock order. */
const ROLLUPS = [
  { table: 'usage_hourly', key: ['hour', 'org_id', 'feature_id', 'model', 'endpoint', 'price_id'], sums: USAGE_SUMS },
  { table: 'usage_daily', key: ['day', 'org_id', 'feature_id', 'model', 'endpoint', 'price_id'], sums: USAGE_SUMS },
  { table: 'usage_tag_hourly', key: ['hour', 'org_id', 'feature_id', 'model', 'endpoint', 'price_id', 'tag', 'value'], sums: USAGE_SUMS },
  { table: 'usage_tag_daily', key: ['day', 'org_id', 'feature_id', 'model', 'endpoint', 'price_id', 'tag', 'value'], sums: USAGE_SUMS },
  { table: 'usage_latency_hourly', key: ['hour', 'org_id', 'feature_id', 'model', 'endpoint', 'bucket'], sums: LATENCY_SUMS },
  { table: 'usage_latency_daily', key: ['day', 'org_id', 'feature_id', 'model', 'endpoint', 'bucket'], sums: LATENCY_SUMS },
] as const;

/**
 * The usage rollups keyed for distribution by org, co-located with usage_events (docs/replicas.md
 * "Past one Postgres"): their org_id becomes NOT NULL, and a row for calls that name no org stores
 * NO_ORG, as the ledger does since 1734600000000-LedgerOrgKey; the analytics queries read it back as NULL.
 *
 * Existing NULL-org rows are folded into the NO_ORG row of the same key (added to it when one exists,
 * which nothing writes before this migration; then deleted), not updated in place: an UPDATE would
 * fail on the unique key if a NO_ORG row were there. The unique keys stay as they are: org_id is in
 * each, and NULLS NOT DISTINCT still matters for feature_id, model, price_id and value.
 * The tables are locked first, all at once and in the writer's order (ALTER would take the same lock
 * one table at a time, and could deadlock with a dashboard read holding the next), so no NULL row
 * slips in before SET NOT NULL. The writer's events and the dashboard wait meanwhile: one pass over
 * each rollup's NULL-org rows and one scan of each table for NOT NULL.
 */
export class RollupOrgKey1734700000000 implements MigrationInterface {
  name = 'RollupOrgKey1734700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`LOCK TABLE ${ROLLUPS.map((r) => r.table).join(', ')} IN ACCESS EXCLUSIVE MODE`);
    for (const { table, key, sums } of ROLLUPS) {
      const rest = key.filter((c) => c !== 'org_id');
      await q.query(
        `INSERT INTO ${table} AS h (org_id, ${[...rest, ...sums].join(', ')})
         SELECT $1::uuid, ${[...rest, ...sums].join(', ')} FROM ${table} WHERE org_id IS NULL
         ON CONFLICT (${key.join(', ')}) DO UPDATE SET ${sums.map((c) => `${c} = h.${c} + excluded.${c}`).join(', ')}`,
        [NO_ORG],
      );
      await q.query(`DELETE FROM ${table} WHERE org_id IS NULL`);
      await q.query(`ALTER TABLE ${table} ALTER COLUMN org_id SET DEFAULT '${NO_ORG}', ALTER COLUMN org_id SET NOT NULL`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const { table } of ROLLUPS) {
      await q.query(`ALTER TABLE ${table} ALTER COLUMN org_id DROP NOT NULL, ALTER COLUMN org_id DROP DEFAULT`);
      // No NULL-org row exists while org_id is NOT NULL, so this cannot collide on the unique key.
      await q.query(`UPDATE ${table} SET org_id = NULL WHERE org_id = $1`, [NO_ORG]);
    }
  }
}
