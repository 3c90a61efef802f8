import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Price components for today's models: cached and output audio, image tokens in and out, speech
 * per character, images by size and quality, built-in tool calls, and long-context rates. The
 * keyed ones are jsonb of decimal strings (exact, like numeric) because their keys vary by model.
 */
export class PriceComponents1733300000000 implements MigrationInterface {
  name = 'PriceComponents1733300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE prices
        ADD COLUMN cached_audio_input_per_mtok numeric(14, 6),
        ADD COLUMN audio_output_per_mtok numeric(14, 6),
        ADD COLUMN image_input_per_mtok numeric(14, 6),
        ADD COLUMN cached_image_input_per_mtok numeric(14, 6),
        ADD COLUMN image_output_per_mtok numeric(14, 6),
        ADD COLUMN per_million_characters numeric(14, 6),
        ADD COLUMN per_image jsonb,
        ADD COLUMN per_thousand_calls jsonb,
        ADD COLUMN long_context jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE prices
        DROP COLUMN cached_audio_input_per_mtok, DROP COLUMN audio_output_per_mtok, DROP COLUMN image_input_per_mtok,
        DROP COLUMN cached_image_input_per_mtok, DROP COLUMN image_output_per_mtok, DROP COLUMN per_million_characters,
        DROP COLUMN per_image, DROP COLUMN per_thousand_calls, DROP COLUMN long_context`);
  }
}
