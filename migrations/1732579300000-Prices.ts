import { MigrationInterface, QueryRunner } from 'typeorm';

/** Effective-dated unit prices, exact decimals in USD as published (per 1M tokens, per audio minute). */
export class Prices1732579300000 implements MigrationInterface {
  name = 'Prices1732579300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE prices (
        id serial PRIMARY KEY,
        model text NOT NULL,
        service_tier text NOT NULL DEFAULT 'default' CHECK (service_tier IN ('default', 'flex', 'priority', 'batch')),
        effective_from timestamptz NOT NULL,
        input_per_mtok numeric(14, 6),
        cached_input_per_mtok numeric(14, 6),
        output_per_mtok numeric(14, 6),
        audio_input_per_mtok numeric(14, 6),
        per_audio_minute numeric(14, 6),
        source text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (model, service_tier, effective_from)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE prices`);
  }
}
