import { resolve } from 'node:path';
import type { AppConfig } from '../config/config.js';
import { ensureDatabase, startEmbeddedPostgres } from './embedded-postgres.js';

export interface DatabaseHandle {
  url: string;
  embedded: boolean;
  stop(): Promise<void>;
}

/** DATABASE_URL when given; otherwise an embedded Postgres kept under DATA_DIR/pg. */
export async function openDatabase(config: AppConfig): Promise<DatabaseHandle> {
  if (config.DATABASE_URL) return { url: config.DATABASE_URL, embedded: false, stop: async () => {} };
  const pg = await startEmbeddedPostgres(resolve(config.DATA_DIR, 'pg'), config.EMBEDDED_PG_PORT);
  const url = await ensureDatabase(pg.serverUrl, 'tallygate');
  return { url, embedded: true, stop: pg.stop };
}
