import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What each call was priced on beyond text tokens, kept so it can be re-priced and shown:
 * speech characters, images by count and `size/quality`, built-in tool calls per kind, and the
 * audio and image parts of the token counts. Zero and NULL mean "none" for every row written before.
 * The usage rollups sum them too, so statements show each component per line without reading events.
 */
const ROLLUPS = ['usage_hourly', 'usage_daily'];

export class UsageComponents1733700000000 implements MigrationInterface {
  name = 'UsageComponents1733700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE usage_events
        ADD COLUMN audio_output_tokens integer NOT NULL DEFAULT 0,
        ADD COLUMN image_input_tokens integer NOT NULL DEFAULT 0,
        ADD COLUMN image_output_tokens integer NOT NULL DEFAULT 0,
        ADD COLUMN characters integer,
        ADD COLUMN image_count integer,
        ADD COLUMN image_spec text,
        ADD COLUMN web_search_calls integer NOT NULL DEFAULT 0,
        ADD COLUMN web_search_preview_calls integer NOT NULL DEFAULT 0,
        ADD COLUMN file_search_calls integer NOT NULL DEFAULT 0`);
    for (const table of ROLLUPS) {
      await q.query(`
        ALTER TABLE ${table}
          ADD COLUMN audio_output_tokens bigint NOT NULL DEFAULT 0,
          ADD COLUMN image_input_tokens bigint NOT NULL DEFAULT 0,
          ADD COLUMN image_output_tokens bigint NOT NULL DEFAULT 0,
          ADD COLUMN characters bigint NOT NULL DEFAULT 0,
          ADD COLUMN images bigint NOT NULL DEFAULT 0,
          ADD COLUMN web_search_calls bigint NOT NULL DEFAULT 0,
          ADD COLUMN web_search_preview_calls bigint NOT NULL DEFAULT 0,
          ADD COLUMN file_search_calls bigint NOT NULL DEFAULT 0`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ROLLUPS) {
      await q.query(`
        ALTER TABLE ${table}
          DROP COLUMN audio_output_tokens, DROP COLUMN image_input_tokens, DROP COLUMN image_output_tokens, DROP COLUMN characters,
          DROP COLUMN images, DROP COLUMN web_search_calls, DROP COLUMN web_search_preview_calls, DROP COLUMN file_search_calls`);
    }
    await q.query(`
      ALTER TABLE usage_events
        DROP COLUMN audio_output_tokens, DROP COLUMN image_input_tokens, DROP COLUMN image_output_tokens,
        DROP COLUMN characters, DROP COLUMN image_count, DROP COLUMN image_spec,
        DROP COLUMN web_search_calls, DROP COLUMN web_search_preview_calls, DROP COLUMN file_search_calls`);
  }
}
