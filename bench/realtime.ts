// The realtime section of `npm run bench`: what relaying a Realtime WebSocket costs against
// connecting to the simulator directly, alternating direct and gateway runs.
//  a. frames/s: sessions each ask for one long spoken response (audio deltas of 100 ms, a transcript
//     delta per word) as fast as the simulator makes them; frames received by the clients per second;
//  b. added latency per frame: an event the simulator answers at once (input_audio_buffer.clear →
//     cleared), sent at a fixed rate (open loop), timed from when it was due to its answer: two
//     hops through the relay, so the figure is per round trip;
//  c. gateway RSS with the sessions open.
import { WebSocket } from 'ws';
import { rssMb } from './support.js';

const SESSIONS = Number(process.env.BENCH_REALTIME_SESSIONS ?? 20);
const WORDS = Number(process.env.BENCH_REALTIME_WORDS ?? 300);
const PING_RATE = Number(process.env.BENCH_REALTIME_RATE ?? 1000);
const PING_SECONDS = Number(process.env.BENCH_REALTIME_SECONDS ?? 5);

export interface RealtimeTarget {
  name: string;
  /** ws(s)://host:port/v1 */
  base: string;
  key: string;
}

const fmt = (n: number, digits = 2) => n.toFixed(digits);
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

function openSessions(target: RealtimeTarget, count: number): Promise<WebSocket[]> {
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<WebSocket>((resolve, reject) => {
          const ws = new WebSocket(`${target.base}/realtime?model=gpt-realtime-mini`, { headers: { authorization: `Bearer ${target.key}` }, perMessageDeflate: false });
          ws.once('message', () => resolve(ws)); // session.created
          ws.once('error', reject);
        }),
    ),
  );
}

const closeAll = (sockets: WebSocket[]) => Promise.all(sockets.map((ws) => new Promise((r) => (ws.once('close', r), ws.close(1000)))));

/** Every session asks for one long audio response; frames counted until the last response.done. */
async function throughput(target: RealtimeTarget): Promise<{ frames: number; bytes: number; seconds: number }> {
  const sockets = await openSessions(target, SESSIONS);
  let frames = 0;
  let bytes = 0;
  const started = performance.now();
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          ws.on('message', (data: Buffer) => {
            frames++;
            bytes += data.length;
            // A cheap look at the type: the frame is not parsed (as the relay does not).
            if (data.indexOf('"response.done"') >= 0) resolve();
          });
          ws.send(JSON.stringify({ type: 'response.create', response: { output_modalities: ['audio'], max_output_tokens: WORDS } }));
        }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  await closeAll(sockets);
  return { frames, bytes, seconds };
}

/** Open loop: frame i is sent at t0 + i/rate on session i % n; each timed from when it was due to its answer. */
async function latency(target: RealtimeTarget): Promise<number[]> {
  const sockets = await openSessions(target, SESSIONS);
  const pending = sockets.map(() => [] as number[]);
  const latencies: number[] = [];
  sockets.forEach((ws, i) =>
    ws.on('message', (data: Buffer) => {
      if (data.indexOf('"input_audio_buffer.cleared"') >= 0) latencies.push(performance.now() - pending[i].shift()!);
    }),
  );
  const total = PING_RATE * PING_SECONDS;
  const frame = JSON.stringify({ type: 'input_audio_buffer.clear' });
  const t0 = performance.now() + 50;
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / PING_RATE;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    pending[i % sockets.length].push(due);
    sockets[i % sockets.length].send(frame);
  }
  const until = Date.now() + 10_000;
  while (latencies.length < total && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  await closeAll(sockets);
  return latencies.sort((a, b) => a - b);
}

export async function benchRealtime(direct: RealtimeTarget, gateway: RealtimeTarget, gatewayPid: number, section: string): Promise<void> {
  console.log(`${section}. Realtime WebSocket relay (${SESSIONS} sessions, alternating direct and gateway)`);
  const rates: Record<string, number[]> = { direct: [], gateway: [] };
  for (const round of [1, 2]) {
    for (const target of [direct, gateway]) {
      const r = await throughput(target);
      rates[target.name].push(r.frames / r.seconds);
      console.log(
        `   round ${round} ${target.name.padEnd(7)}: ${fmt(r.frames / r.seconds, 0).padStart(7)} frames/s relayed to the clients   (${r.frames} frames, ${fmt(r.bytes / 1024 / 1024, 1)} MB in ${fmt(r.seconds, 2)} s)`,
      );
    }
  }
  const best = (name: string) => Math.max(...rates[name]);
  console.log(`   best run: gateway ${fmt(best('gateway'), 0)} frames/s, direct ${fmt(best('direct'), 0)} frames/s, ratio ${fmt(best('gateway') / best('direct'))}`);
  const runs: Array<{ name: string; p50: number; p99: number }> = [];
  for (const round of [1, 2]) {
    for (const target of [direct, gateway]) {
      const l = await latency(target);
      runs.push({ name: target.name, p50: percentile(l, 50), p99: percentile(l, 99) });
      console.log(`   round ${round} ${target.name.padEnd(7)}: round trip at ${PING_RATE} frames/s p50 ${fmt(percentile(l, 50))} ms   p99 ${fmt(percentile(l, 99))} ms   (${l.length} frames)`);
    }
  }
  const mean = (name: string, k: 'p50' | 'p99') => runs.filter((r) => r.name === name).reduce((s, r) => s + r[k], 0) / 2;
  console.log(`   added by the relay per round trip (two frames relayed): p50 ${fmt(mean('gateway', 'p50') - mean('direct', 'p50'))} ms   p99 ${fmt(mean('gateway', 'p99') - mean('direct', 'p99'))} ms`);
  const idle = rssMb(gatewayPid);
  const sockets = await openSessions(gateway, 200);
  const held = rssMb(gatewayPid);
  await closeAll(sockets);
  console.log(`   gateway RSS ${fmt(idle, 1)} MB before, ${fmt(held, 1)} MB with 200 sessions open (+${fmt(((held - idle) * 1024) / 200, 1)} KB per session)\n`);
}
