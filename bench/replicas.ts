// npm run bench, section 7: what sharing state through Redis costs. The same open-loop load, on
// the same Postgres and simulator, through three set-ups whose only difference is Redis:
//   one replica alone; one replica with Redis; two replicas with Redis (requests alternate).
// Every gateway paces the org and enforces a hard budget (never reached), so each request does
// the Redis work a paced, budgeted call does (a pacing take and release, a budget increment),
// besides the background sharing (headroom every 0.5 s, counters every second). Reported: added
// latency against the one replica alone, Redis commands and CPU per request, and the ledger check.
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import type pg from 'pg';
import { freePort } from '../server/database/embedded-postgres.js';
import { adminPost, cpuMs, start } from './support.js';

type OpenLoop = (origins: string[], key: string, rate: number, seconds: number) => Promise<number[]>;

export interface ReplicasSetup {
  /** Environment of the bench's gateway (database, master key, admin token...). */
  gatewayEnv: Record<string, string>;
  openaiOrgId: string;
  adminToken: string;
  /** The bench's gateway, to seed through (all replicas share its database). */
  gateway: string;
  orgId: string;
  featureId: string;
  key: string;
  db: pg.Pool;
  openLoop: OpenLoop;
  rate: number;
  seconds: number;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const fmt = (n: number, digits = 2) => n.toFixed(digits);

/** A redis-server of our own (no persistence), or REDIS_URL's; undefined when neither is there. */
async function redisServer(): Promise<{ url: string; pid?: number; stop(): void } | undefined> {
  const port = await freePort();
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const ready = await new Promise<boolean>((resolve) => {
    child.once('error', () => resolve(false));
    child.once('exit', () => resolve(false));
    child.stdout!.on('data', (chunk: Buffer) => String(chunk).includes('Ready to accept connections') && resolve(true));
  });
  if (ready) return { url: `redis://127.0.0.1:${port}`, pid: child.pid, stop: () => child.kill('SIGKILL') };
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, stop: () => undefined };
  return undefined;
}

/** Commands Redis has run, by name (INFO commandstats). */
async function commandsRun(redis: Redis): Promise<Map<string, number>> {
  const info = await redis.info('commandstats');
  return new Map([...info.matchAll(/cmdstat_([a-z|_-]+):calls=(\d+)/g)].map((m) => [m[1], Number(m[2])]));
}

function commandsSince(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, calls] of after) if (calls > (before.get(name) ?? 0)) out.set(name, calls - (before.get(name) ?? 0));
  out.set('info', (out.get('info') ?? 1) - 1); // this reading's own INFO
  return out;
}

export async function replicasSection(setup: ReplicasSetup, heading: string): Promise<void> {
  const redis = await redisServer();
  console.log(`${heading}. Replicas sharing state through Redis at ${setup.rate} req/s (open loop, ${setup.seconds} s per run, alternating)`);
  if (!redis) {
    console.log('   skipped: no redis-server on PATH and no REDIS_URL\n');
    return;
  }
  const prefix = `bench-${Date.now()}:`;
  const paced = { PACING_ORGS: setup.openaiOrgId, PACING_MAX_QUEUE: '100000' };
  const startGateway = async (withRedis: boolean) => {
    const port = await freePort();
    const env = { ...setup.gatewayEnv, ...paced, PORT: String(port), DATA_DIR: `${setup.gatewayEnv.DATA_DIR}/replica-${port}`, ...(withRedis ? { REDIS_URL: redis.url, REDIS_PREFIX: prefix } : {}) };
    return { process: await start('dist/server/main.js', env, /listening/), url: `http://127.0.0.1:${port}` };
  };
  const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  const gateways: Array<Awaited<ReturnType<typeof startGateway>>> = [];
  try {
    // A hard budget on the feature far above what the bench spends: every call is checked and counted.
    await adminPost(setup.gateway, setup.adminToken, '/api/budgets', { name: 'bench hard', featureId: setup.featureId, amountUsd: '1000000', enforcement: 'hard', forecastPercent: null, timeZone: 'UTC' });
    const [alone, sharedA, sharedB] = [await startGateway(false), await startGateway(true), await startGateway(true)];
    gateways.push(alone, sharedA, sharedB);
    const setups = [
      { name: 'one replica, no Redis ', origins: [alone.url], pids: [alone.process.pid!] },
      { name: 'one replica + Redis   ', origins: [sharedA.url], pids: [sharedA.process.pid!] },
      { name: 'two replicas + Redis  ', origins: [sharedA.url, sharedB.url], pids: [sharedA.process.pid!, sharedB.process.pid!] },
    ];
    for (const s of setups) await setup.openLoop(s.origins, setup.key, Math.min(setup.rate, 200), 1); // warm-up: JIT, pools, the budget loaded
    const rows = async () => Number((await setup.db.query('SELECT count(*) AS n FROM usage_events')).rows[0].n);
    await new Promise((r) => setTimeout(r, 1000));
    const rowsBefore = await rows();
    const results: Array<{ byName: Map<string, number>; scripts: number; name: string; p50: number; p99: number; commands: number; gatewayUs: number; redisUs: number; requests: number }> = [];
    for (const round of [1, 2]) {
      for (const s of setups) {
        const commandsBefore = await commandsRun(client);
        const cpuBefore = s.pids.map(cpuMs);
        const redisBefore = redis.pid ? cpuMs(redis.pid) : 0;
        const latencies = await setup.openLoop(s.origins, setup.key, setup.rate, setup.seconds);
        // Counted after the load: the background sharing of the run is the run's too.
        const byName = commandsSince(commandsBefore, await commandsRun(client));
        const commands = [...byName.values()].reduce((a, b) => a + b, 0);
        const gatewayMs = s.pids.reduce((sum, pid, i) => sum + cpuMs(pid) - cpuBefore[i], 0);
        const redisMs = redis.pid ? cpuMs(redis.pid) - redisBefore : 0;
        const r = { byName, name: s.name.trim(), p50: percentile(latencies, 50), p99: percentile(latencies, 99), commands: commands / latencies.length, scripts: ((byName.get('evalsha') ?? 0) + (byName.get('eval') ?? 0)) / latencies.length, gatewayUs: (gatewayMs * 1000) / latencies.length, redisUs: (redisMs * 1000) / latencies.length, requests: latencies.length };
        results.push(r);
        console.log(
          `   round ${round} ${s.name}: p50 ${fmt(r.p50)} ms   p99 ${fmt(r.p99)} ms   Redis commands/request ${fmt(r.commands)}   CPU/request: gateways ${fmt(r.gatewayUs, 0)} µs, redis ${fmt(r.redisUs, 0)} µs   (${r.requests} requests)`,
        );
      }
    }
    const mean = (name: string, k: 'p50' | 'p99' | 'commands' | 'scripts' | 'gatewayUs' | 'redisUs') => {
      const runs = results.filter((r) => r.name === name);
      return runs.reduce((sum, r) => sum + r[k], 0) / runs.length;
    };
    const base = setups[0].name.trim();
    for (const s of setups.slice(1)) {
      const name = s.name.trim();
      console.log(
        `   ${name} vs one replica alone: p50 ${fmt(mean(name, 'p50') - mean(base, 'p50'))} ms   p99 ${fmt(mean(name, 'p99') - mean(base, 'p99'))} ms   gateway CPU ${fmt(mean(name, 'gatewayUs') - mean(base, 'gatewayUs'), 0)} µs/request   Redis ${fmt(mean(name, 'scripts'))} round trips (scripts), ${fmt(mean(name, 'commands'))} commands run and ${fmt(mean(name, 'redisUs'), 0)} µs CPU per request`,
      );
    }
    const last = results.at(-1)!;
    console.log(`   commands run in Redis per request (${last.name}, round 2; inside scripts included): ${[...last.byName].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]).map(([name, n]) => `${name} ${fmt(n / last.requests)}`).join(', ')}`);
    const expected = results.reduce((sum, r) => sum + r.requests, 0);
    let written = 0;
    for (let i = 0; i < 40 && written < expected; i++) {
      written = (await rows()) - rowsBefore;
      if (written < expected) await new Promise((r) => setTimeout(r, 250));
    }
    console.log(`   ledger: ${expected} requests, ${written} rows (${written === expected ? 'one each' : 'MISMATCH'})\n`);
  } finally {
    for (const g of gateways) g.process.kill('SIGTERM');
    await Promise.all(gateways.map((g) => new Promise((r) => (g.process.exitCode !== null ? r(undefined) : g.process.once('exit', r)))));
    client.disconnect();
    redis.stop();
  }
}
