import { resolve } from 'node:path';
import pg from 'pg';
import type { AppConfig } from '../config/config.js';
import { ensureDatabase, startEmbeddedPostgres } from './embedded-postgres.js';

export interface DatabaseHandle {
  url: string;
  embedded: boolean;
  /** The embedded cluster's directory (empty with DATABASE_URL or when one already running was shared). */
  databaseDir: string;
  /** One line for the user when the embedded cluster had to be put elsewhere (the demo only). */
  relocated?: string;
  stop(): Promise<void>;
}

/**
 * DATABASE_URL when given; otherwise the embedded Postgres under DATA_DIR/pg. If that one is
 * already running (the demo or the server is up and the CLI is called), it is shared, not restarted.
 * `relocate`: see EmbeddedPostgresOptions (the demo's data may go elsewhere; the product's may not).
 */
export async function openDatabase(config: AppConfig, { relocate = false } = {}): Promise<DatabaseHandle> {
  if (config.DATABASE_URL) return { url: config.DATABASE_URL, embedded: false, databaseDir: '', stop: async () => {} };
  const serverUrl = `postgres://postgres:postgres@127.0.0.1:${config.EMBEDDED_PG_PORT}`;
  if (await answers(serverUrl)) {
    return { url: await ensureDatabase(serverUrl, 'tallygate'), embedded: true, databaseDir: '', stop: async () => {} };
  }
  const server = await startEmbeddedPostgres(resolve(config.DATA_DIR, 'pg'), config.EMBEDDED_PG_PORT, { relocate });
  return { url: await ensureDatabase(server.serverUrl, 'tallygate'), embedded: true, databaseDir: server.databaseDir, relocated: server.relocated, stop: server.stop };
}

async function answers(serverUrl: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: `${serverUrl}/postgres`, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}
