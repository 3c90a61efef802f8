// Once per test run: a Postgres (DATABASE_URL's server, or an embedded one in a temp dir) and a
// migrated template database that every test file clones (CREATE DATABASE … TEMPLATE), so files
// run in parallel on isolated, real databases.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import pg from 'pg';
import { DataSource } from 'typeorm';
import type { TestProject } from 'vitest/node';
import { dataSourceOptions } from '../../server/database/data-source.js';
import { ensureDatabase, startEmbeddedPostgres } from '../../server/database/embedded-postgres.js';
import { migrate } from '../../server/database/migrate.js';

export const TEMPLATE = 'tallygate_test_template';

declare module 'vitest' {
  export interface ProvidedContext {
    pgServerUrl: string;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export default async function setup(project: TestProject) {
  let serverUrl: string;
  let stop = async () => {};
  if (process.env.DATABASE_URL) {
    const url = new URL(process.env.DATABASE_URL);
    url.pathname = '';
    serverUrl = url.toString().replace(/\/$/, '');
  } else {
    const dir = await mkdtemp(join(tmpdir(), 'tallygate-pg-'));
    await chmod(dir, 0o755); // as root, embedded-postgres runs the server as a 'postgres' user
    const pgServer = await startEmbeddedPostgres(join(dir, 'pg'), await freePort());
    serverUrl = pgServer.serverUrl;
    stop = async () => {
      await pgServer.stop();
      await rm(dir, { recursive: true, force: true });
    };
  }
  const admin = new pg.Client({ connectionString: `${serverUrl}/postgres` });
  await admin.connect();
  // Drop leftovers of earlier runs (their clones first: a template in use cannot be dropped).
  const stale = await admin.query(`SELECT datname FROM pg_database WHERE datname LIKE 'tallygate_test_%'`);
  for (const { datname } of stale.rows as { datname: string }[]) {
    await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  }
  await admin.end();
  const templateUrl = await ensureDatabase(serverUrl, TEMPLATE);
  const dataSource = await new DataSource(dataSourceOptions(templateUrl)).initialize();
  await migrate(dataSource);
  await dataSource.destroy();

  project.provide('pgServerUrl', serverUrl);
  return stop;
}
