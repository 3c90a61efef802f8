// Once per test run: a Postgres (DATABASE_URL's server, or an embedded one in a temp dir) and a
// migrated template database that every test file clones (CREATE DATABASE … TEMPLATE), so files
// run in parallel on isolated, real databases.
import pg from 'pg';
import { DataSource } from 'typeorm';
import type { TestProject } from 'vitest/node';
import { dataSourceOptions } from '../../server/database/data-source.js';
import { ensureDatabase, startScratchPostgres } from '../../server/database/embedded-postgres.js';
import { migrate } from '../../server/database/migrate.js';

export const TEMPLATE = 'tallygate_test_template';

declare module 'vitest' {
  export interface ProvidedContext {
    pgServerUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const { serverUrl, stop } = await startScratchPostgres();
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
