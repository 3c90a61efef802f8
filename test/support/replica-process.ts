// A gateway replica in its own process, started from the sources (`npm start`'s server/main.ts, no
// build: ./ts-register.mjs compiles on load), on a stack's database with its configuration, so
// tests of what replicas share see exactly what two machines would: nothing but Postgres and Redis.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../server/database/embedded-postgres.js';
import type { Stack } from './stack.js';

export interface ReplicaProcess {
  /** Gateway root, e.g. http://127.0.0.1:PORT */
  url: string;
  /** SIGTERM: drains and flushes its ledger, as on a rolling deploy. */
  stop(): Promise<void>;
  /** What it printed (for a failing test's message). */
  output(): string;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let started = 0;

export async function startReplicaProcess(stack: Stack, env: Record<string, string> = {}): Promise<ReplicaProcess> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, ['--import', './test/support/ts-register.mjs', 'server/main.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...stack.env,
      DATA_DIR: `${stack.env.DATA_DIR}-process-${++started}`,
      DATABASE_URL: stack.databaseUrl,
      HOST: '127.0.0.1',
      PORT: String(port),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let printed = '';
  const keep = (chunk: Buffer) => (printed = (printed + String(chunk)).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`replica exited with ${child.exitCode}:\n${printed}`);
    const ready = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`replica not ready within 60 s:\n${printed}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    output: () => printed,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killer);
    },
  };
}
