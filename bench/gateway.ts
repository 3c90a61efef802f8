// `npm run bench`: how much the gateway costs against calling the upstream directly.
// The simulator (zero latency, limits out of the way) and the gateway run as separate processes,
// like in production; the load comes from this process. Prints, for the same load:
//  1. closed-loop max throughput (autocannon, fixed concurrency): direct vs through the gateway;
//  2. open-loop latency at a fixed rate (each request timed from when it was due), alternating
//     direct and gateway, so "added latency" is measured under the same conditions;
//  3. the ledger check: exactly one usage_events row per request the gateway answered;
//  4. gateway memory (RSS) while a 25 MB audio upload streams through;
//  5. what a moderation guardrail adds (bench/guardrail.ts);
//  6. the Realtime WebSocket relay: frames/s, added latency per frame, RSS per session (bench/realtime.ts);
//  7. replicas: one alone vs one and two sharing state through Redis, what Redis adds per request (bench/replicas.ts).
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { Pool } from 'undici';
import { ensureDatabase, freePort, startScratchPostgres } from '../server/database/embedded-postgres.js';
import { guardrailSection } from './guardrail.js';
import { benchRealtime } from './realtime.js';
import { replicasSection } from './replicas.js';
import { cpuMs, rssMb, seedFeature, start } from './support.js';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const RATE = Number(process.env.BENCH_RATE ?? 1000);
const UPSTREAM_KEY = 'sk-bench-0123456789abcdef';
const ADMIN_TOKEN = randomBytes(24).toString('base64url');
const BODY = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Benchmark: say something short.' }], max_tokens: 16 });
/**
 * BENCH_TAGS=1: every round also runs "gateway+tags", the same calls attributed (docs/attribution.md):
 * two x-tallygate-tag-* headers (one of 500 customers, an env) and the body's `user` (one of 2,000).
 */
const TAGS = process.env.BENCH_TAGS === '1' || process.argv.includes('--tags');
const TAGGED_BODY = (i: number) => JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Benchmark: say something short.' }], max_tokens: 16, user: `user-${i % 2000}` });
const tagHeaders = (i: number): Record<string, string> => ({ 'x-tallygate-tag-customer': `cust-${i % 500}`, 'x-tallygate-tag-env': 'prod' });

/** Every Postgres process on the machine (the server the bench uses, backends included). */
function postgresPids(): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return [];
  }
  return entries.filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('postgres');
    } catch {
      return false; // exited meanwhile
    }
  }).map(Number);
}

/**
 * Runs `load` and reports the CPU each process spent per request: on a shared machine throughput
 * moves with whatever else runs, the CPU a request costs much less. A process that exits during
 * the run (an idle Postgres backend) is left out.
 */
async function withCpu<T extends { requests: { total: number } }>(processes: Record<string, () => number[]>, load: () => Promise<T>) {
  const sample = () => new Map(Object.entries(processes).map(([name, pids]) => [name, new Map(pids().map((pid) => [pid, cpuMs(pid)]))]));
  const before = sample();
  const result = await load();
  const after = sample();
  const cpu = [...after].map(([name, pids]) => {
    let ms = 0;
    for (const [pid, used] of pids) ms += used - (before.get(name)!.get(pid) ?? 0);
    return `${name} ${fmt((ms * 1000) / Math.max(1, result.requests.total), 0)} µs`;
  });
  return { result, cpu: cpu.join(', ') };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const fmt = (n: number, digits = 2) => n.toFixed(digits);

async function closedLoop(url: string, key: string, tagged = false) {
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  if (!tagged) return autocannon({ url, connections: CONNECTIONS, duration: SECONDS, method: 'POST', headers, body: BODY });
  // Tagged: a different customer and end user per request (the cardinality caps' bookkeeping is exercised).
  let i = 0;
  return autocannon({
    url,
    connections: CONNECTIONS,
    duration: SECONDS,
    method: 'POST',
    headers,
    body: BODY,
    requests: [{ setupRequest: (req: Record<string, unknown>) => ({ ...req, headers: { ...headers, ...tagHeaders(i) }, body: TAGGED_BODY(i++) }) }],
  });
}

/** Sends request i at t0 + i/rate for `seconds` (to the origins in turn), timing each from when it was due. */
async function openLoop(origin: string | string[], key: string, rate: number, seconds: number, tagged = false): Promise<number[]> {
  const pools = (Array.isArray(origin) ? origin : [origin]).map((o) => new Pool(o, { connections: 64 }));
  const latencies: number[] = [];
  const total = rate * seconds;
  const t0 = performance.now() + 50;
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    inflight.push(
      pools[i % pools.length]
        .request({
          path: '/v1/chat/completions',
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(tagged ? tagHeaders(i) : {}) },
          body: tagged ? TAGGED_BODY(i) : BODY,
        })
        .then(async (res) => {
          await res.body.dump();
          latencies.push(performance.now() - due);
        }),
    );
  }
  await Promise.all(inflight);
  await Promise.all(pools.map((pool) => pool.close()));
  return latencies.sort((a, b) => a - b);
}

async function main(): Promise<void> {
  const postgres = await startScratchPostgres();
  const databaseUrl = await ensureDatabase(postgres.serverUrl, `tallygate_bench_${randomBytes(4).toString('hex')}`);
  const dir = await mkdtemp(join(tmpdir(), 'tallygate-bench-'));
  const simPort = await freePort();
  const gwPort = await freePort();
  await writeFile(join(dir, 'sim.json'), JSON.stringify({ orgs: [{ id: 'org-bench', keys: [UPSTREAM_KEY], limits: { 'gpt-4o-mini': { rpm: 1e9, tpm: 1e12 } } }] }));
  const simulator = await start('dist/server/simulator/main.js', { SIM_PORT: String(simPort), SIM_CONFIG: join(dir, 'sim.json') }, /listening/);
  const gatewayEnv = { DATABASE_URL: databaseUrl, HOST: '127.0.0.1', MASTER_KEY: randomBytes(32).toString('base64'), ADMIN_TOKEN, LOG_LEVEL: 'warn', DATA_DIR: dir };
  const gateway = await start('dist/server/main.js', { ...gatewayEnv, PORT: String(gwPort), AUDIO_LIMIT_BYTES: String(26 * 1024 * 1024), REALTIME_MAX_SESSIONS_PER_FEATURE: '0' }, /listening/);
  const sim = `http://127.0.0.1:${simPort}`;
  const gw = `http://127.0.0.1:${gwPort}`;
  try {
    const { key, orgId, featureId } = await seedFeature(gw, ADMIN_TOKEN, 'bench', { url: `${sim}/v1`, openaiOrgId: 'org-bench', apiKey: UPSTREAM_KEY });

    console.log(`Tallygate gateway benchmark — ${CONNECTIONS} connections, ${SECONDS} s per run, POST /v1/chat/completions (gpt-4o-mini, non-streamed)`);
    console.log(`Node ${process.version}, ${(await import('node:os')).cpus().length} CPUs; simulator, gateway and load generator share them.\n`);
    await closedLoop(`${sim}/v1/chat/completions`, UPSTREAM_KEY); // warm-up, not reported
    await closedLoop(`${gw}/v1/chat/completions`, key);
    const db = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    const rows = async () => Number((await db.query('SELECT count(*) AS n FROM usage_events')).rows[0].n);
    const before = await rows().then(async (n) => {
      await new Promise((r) => setTimeout(r, 1500)); // let the warm-up's events land
      return Math.max(n, await rows());
    });

    // 1. Alternating rounds: the machine's speed drifts over minutes, so compare runs side by side.
    const processes = { gateway: () => [gateway.pid!], simulator: () => [simulator.pid!], postgres: postgresPids, 'load generator': () => [process.pid] };
    console.log('1. Max throughput (closed loop, alternating)');
    const directRuns: number[] = [];
    const gatewayRuns: number[] = [];
    const taggedRuns: number[] = [];
    let answered = 0;
    type Contender = readonly [name: string, url: string, key: string, runs: number[], tagged: boolean];
    const contenders: Contender[] = [
      ['direct ', `${sim}/v1/chat/completions`, UPSTREAM_KEY, directRuns, false],
      ['gateway', `${gw}/v1/chat/completions`, key, gatewayRuns, false],
      ...(TAGS ? [['gateway+tags', `${gw}/v1/chat/completions`, key, taggedRuns, true] as const] : []),
    ];
    for (const round of [1, 2]) {
      for (const [name, url, k, runs, tagged] of contenders) {
        const { result: r, cpu } = await withCpu(processes, () => closedLoop(url, k, tagged));
        runs.push(r.requests.average);
        if (name.startsWith('gateway')) answered += r['2xx'] + r.non2xx;
        console.log(`   round ${round} ${name}: ${fmt(r.requests.average, 0).padStart(6)} req/s   p50 ${r.latency.p50} ms   p99 ${r.latency.p99} ms   non-2xx ${r.non2xx}   errors ${r.errors}`);
        console.log(`                  CPU per request: ${cpu}`);
      }
    }
    const best = (runs: number[]) => Math.max(...runs);
    console.log(`   best run: gateway ${fmt(best(gatewayRuns), 0)} req/s, direct ${fmt(best(directRuns), 0)} req/s, ratio ${fmt(best(gatewayRuns) / best(directRuns))}   (target: >= 5,000 req/s through the gateway)`);
    if (TAGS) console.log(`   with tags: best ${fmt(best(taggedRuns), 0)} req/s (${fmt(best(taggedRuns) / best(gatewayRuns))} of untagged)`);
    console.log('');

    // 3. Ledger: every request the gateway answered during the measured runs is exactly one row.
    let written = 0;
    for (let i = 0; i < 60; i++) {
      written = (await rows()) - before;
      if (written >= answered) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const duplicates = Number((await db.query('SELECT count(*) - count(DISTINCT id) AS n FROM usage_events')).rows[0].n);

    console.log(`2. Added latency at ${RATE} req/s (open loop, ${SECONDS} s per run, alternating)`);
    const runs: Array<{ name: string; p50: number; p99: number }> = [];
    for (const round of [1, 2]) {
      for (const [name, origin, k, tagged] of [['direct ', sim, UPSTREAM_KEY, false], ['gateway', gw, key, false], ...(TAGS ? [['gateway+tags', gw, key, true] as const] : [])] as const) {
        const l = await openLoop(origin, k, RATE, SECONDS, tagged);
        runs.push({ name, p50: percentile(l, 50), p99: percentile(l, 99) });
        console.log(`   round ${round} ${name}: p50 ${fmt(percentile(l, 50))} ms   p99 ${fmt(percentile(l, 99))} ms   (${l.length} requests)`);
      }
    }
    const med = (name: string, k: 'p50' | 'p99') => runs.filter((r) => r.name.trim() === name).reduce((s, r) => s + r[k], 0) / 2;
    console.log(`   added by the gateway: p50 ${fmt(med('gateway', 'p50') - med('direct', 'p50'))} ms   p99 ${fmt(med('gateway', 'p99') - med('direct', 'p99'))} ms   (target: p50 < 1 ms)`);
    if (TAGS) console.log(`   added with tags: p50 ${fmt(med('gateway+tags', 'p50') - med('direct', 'p50'))} ms   p99 ${fmt(med('gateway+tags', 'p99') - med('direct', 'p99'))} ms`);
    console.log('');

    const openLoopAnswered = (TAGS ? 4 : 2) * RATE * SECONDS;
    for (let i = 0; i < 60 && (await rows()) - before < answered + openLoopAnswered; i++) await new Promise((r) => setTimeout(r, 250));
    const total = (await rows()) - before;
    console.log('3. Ledger');
    // Requests still in flight when autocannon stops are cut off: the gateway records those too
    // (outcome client_aborted), so rows = answered + cut off, at most one per connection and run.
    const cutOff = written - answered;
    const ok = cutOff >= 0 && cutOff <= (TAGS ? 4 : 2) * CONNECTIONS; // one per connection and gateway run at most
    console.log(`   closed-loop runs: ${answered} requests answered + ${cutOff} cut off by the load generator = ${written} ledger rows (${ok ? 'one each' : 'MISMATCH'})`);
    console.log(`   with the open-loop runs: ${answered + openLoopAnswered} requests, ${total} rows; duplicate ids: ${duplicates}\n`);

    // 4. Memory while a 25 MB upload streams through (WAV generated on the fly, never in memory whole).
    const idle = rssMb(gateway.pid!);
    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(gateway.pid!))), 10);
    const seconds = 780;
    const boundary = 'bench-boundary';
    const header = Buffer.alloc(44);
    header.write('RIFF', 0);
    header.writeUInt32LE(36 + seconds * 32000, 4);
    header.write('WAVEfmt ', 8);
    header.writeUInt32LE(16, 16);
    header.writeUInt16LE(1, 20);
    header.writeUInt16LE(1, 22);
    header.writeUInt32LE(16000, 24);
    header.writeUInt32LE(32000, 28);
    header.writeUInt16LE(2, 32);
    header.writeUInt16LE(16, 34);
    header.write('data', 36);
    header.writeUInt32LE(seconds * 32000, 40);
    const parts: Buffer[] = [
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--${boundary}\r\nContent-Disposition: form-data; name="response_format"\r\n\r\ntext\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n`),
      header,
    ];
    let left = seconds * 32000;
    const chunk = Buffer.alloc(64 * 1024);
    const res = await fetch(`${gw}/v1/audio/transcriptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
      duplex: 'half',
      body: new ReadableStream<Uint8Array>({
        pull(c) {
          const next = parts.shift();
          if (next) return c.enqueue(next);
          if (left <= 0) {
            c.enqueue(Buffer.from(`\r\n--${boundary}--\r\n`));
            return c.close();
          }
          const n = Math.min(left, chunk.length);
          left -= n;
          c.enqueue(chunk.subarray(0, n));
        },
      }),
    } as RequestInit);
    await res.arrayBuffer();
    clearInterval(sampler);
    console.log('4. Gateway memory');
    console.log(`   RSS idle after the load runs ${fmt(idle, 1)} MB; peak while a 25.0 MB upload streamed through ${fmt(peak, 1)} MB (+${fmt(peak - idle, 1)} MB); upload status ${res.status}\n`);
    await guardrailSection(gw, ADMIN_TOKEN, orgId, key, openLoop, Math.min(RATE, 300), Math.min(SECONDS, 5));

    // 6. Realtime: frames relayed per second and latency added per frame.
    if (process.env.BENCH_REALTIME !== 'false') {
      await benchRealtime({ name: 'direct', base: `${sim.replace(/^http/, 'ws')}/v1`, key: UPSTREAM_KEY }, { name: 'gateway', base: `${gw.replace(/^http/, 'ws')}/v1`, key }, gateway.pid!, '6');
    }
    // 7. Replicas: what Redis adds per request (after the others: it adds a hard budget and pacing).
    if (process.env.BENCH_REPLICAS !== 'false') {
      await replicasSection({ gatewayEnv, openaiOrgId: 'org-bench', adminToken: ADMIN_TOKEN, gateway: gw, orgId, featureId, key, db, openLoop, rate: Math.min(RATE, 500), seconds: Math.min(SECONDS, 5) }, '7');
    }
    await db.end();
  } finally {
    gateway.kill('SIGTERM');
    simulator.kill('SIGTERM');
    await new Promise((r) => gateway.once('exit', r));
    await postgres.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
