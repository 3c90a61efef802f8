// 200 Realtime sessions open at once through one gateway: all relayed, every response metered, and
// the process's memory per open session measured (the gateway shares the process with the
// simulator and the clients here, so the figure is an upper bound for the relay).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { RealtimeRelay } from '../../server/realtime/realtime.relay.js';
import { startStack, type Stack } from '../support/stack.js';

const SESSIONS = 200;
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { REALTIME_MAX_SESSIONS_PER_FEATURE: '0' } });
});
afterAll(() => stack?.close());

function open(): Promise<{ ws: WebSocket; done: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${stack.url.replace(/^http/, 'ws')}/v1/realtime?model=gpt-realtime-mini`, { headers: { authorization: `Bearer ${stack.features[0].gatewayKey}` } });
    let finish!: () => void;
    const done = new Promise<void>((r) => (finish = r));
    ws.on('message', (data) => {
      const type = (JSON.parse(data.toString()) as { type: string }).type;
      if (type === 'response.done') finish();
    });
    ws.once('open', () => resolve({ ws, done }));
    ws.once('error', reject);
  });
}

it(`holds ${SESSIONS} concurrent sessions, meters every response, and reports the memory they take`, async () => {
  global.gc?.();
  const before = process.memoryUsage().rss;
  const started = performance.now();
  const sessions = await Promise.all(Array.from({ length: SESSIONS }, () => open()));
  const opened = performance.now() - started;
  expect(stack.app.get(RealtimeRelay).snapshot().open).toBe(SESSIONS);
  const held = process.memoryUsage().rss;
  for (const { ws } of sessions) {
    ws.send(JSON.stringify({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Where is my order?' }] } }));
    ws.send(JSON.stringify({ type: 'response.create', response: { output_modalities: ['audio'], max_output_tokens: 8 } }));
  }
  await Promise.all(sessions.map((s) => s.done));
  const responded = performance.now() - started;
  const peak = process.memoryUsage().rss;
  await Promise.all(sessions.map(({ ws }) => new Promise((r) => (ws.once('close', r), ws.close(1000)))));
  const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
  console.log(
    `${SESSIONS} realtime sessions: opened in ${opened.toFixed(0)} ms, all responded in ${responded.toFixed(0)} ms; ` +
      `RSS ${mb(before)} MB before, ${mb(held)} MB with all open (+${((held - before) / SESSIONS / 1024).toFixed(1)} KB per session, gateway + simulator + clients), ${mb(peak)} MB at peak`,
  );
  const rows = await (async () => {
    const until = Date.now() + 10_000;
    for (;;) {
      const events = (await stack.events()).filter((e) => e.endpoint === 'realtime');
      if (events.length >= SESSIONS || Date.now() > until) return events;
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  expect(rows).toHaveLength(SESSIONS);
  expect(rows.every((r) => r.outcome === 'ok' && BigInt(r.cost_nanos as string) > 0n)).toBe(true);
  const closedSessions = async () => (await stack.db.query('SELECT count(*)::int AS n FROM realtime_sessions WHERE closed_at IS NOT NULL AND responses = 1')).rows[0].n as number;
  const until = Date.now() + 5_000;
  while ((await closedSessions()) < SESSIONS && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  expect(await closedSessions()).toBe(SESSIONS);
}, 20_000);
