// The Realtime relay's bounds (frame size, idle timeout, sessions per feature, longest session) and
// a gateway shutdown with sessions open: each ends cleanly for the client and loses no usage.
import { connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { shutdown } from '../../server/app.js';
import { RealtimeRelay } from '../../server/realtime/realtime.relay.js';
import { startStack, type Stack } from '../support/stack.js';

type Events = Array<Record<string, unknown>>;

function connect(stack: Stack, featureIndex = 0): Promise<{ ws: WebSocket; seen: Events }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${stack.url.replace(/^http/, 'ws')}/v1/realtime?model=gpt-realtime-mini`, { headers: { authorization: `Bearer ${stack.features[featureIndex].gatewayKey}` } });
    const seen: Events = [];
    ws.on('message', (data, binary) => !binary && seen.push(JSON.parse(data.toString()) as Record<string, unknown>));
    ws.once('open', () => resolve({ ws, seen }));
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, headers: res.headers, body: JSON.parse(Buffer.concat(chunks).toString()) })));
    });
    ws.once('error', reject);
  });
}

const closed = (ws: WebSocket) => new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));

const waitFor = (seen: Events, type: string, ms = 5_000) =>
  new Promise<void>((resolve, reject) => {
    const until = Date.now() + ms;
    const poll = () => (seen.some((e) => e.type === type) ? resolve() : Date.now() > until ? reject(new Error(`no ${type}`)) : setTimeout(poll, 5));
    poll();
  });

async function sessionRows(stack: Stack, count: number) {
  const until = Date.now() + 5_000;
  for (;;) {
    const rows = (await stack.db.query('SELECT * FROM realtime_sessions WHERE closed_at IS NOT NULL ORDER BY opened_at')).rows;
    if (rows.length >= count || Date.now() > until) return rows;
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('bounds', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { REALTIME_MAX_FRAME_BYTES: '4096', REALTIME_IDLE_TIMEOUT_MS: '400', REALTIME_MAX_SESSIONS_PER_FEATURE: '2', REALTIME_MAX_SESSION_MS: '1500' },
    });
  });
  afterAll(() => stack?.close());
  beforeEach(() => stack.db.query('TRUNCATE realtime_sessions'));

  it('closes a session whose client sends a message over REALTIME_MAX_FRAME_BYTES with 1009', async () => {
    const { ws, seen } = await connect(stack);
    await waitFor(seen, 'session.created');
    const end = closed(ws);
    ws.send(JSON.stringify({ type: 'input_audio_buffer.append', audio: Buffer.alloc(6_000).toString('base64') }));
    expect((await end).code).toBe(1009);
    const [row] = await sessionRows(stack, 1);
    expect(row).toMatchObject({ closed_by: 'frame_too_large', close_code: 1009 });
  });

  it('closes an idle session with 1001 after REALTIME_IDLE_TIMEOUT_MS', async () => {
    const { ws, seen } = await connect(stack);
    await waitFor(seen, 'session.created');
    const started = Date.now();
    const { code, reason } = await closed(ws);
    expect(code).toBe(1001);
    expect(reason).toContain('REALTIME_IDLE_TIMEOUT_MS');
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    const [row] = await sessionRows(stack, 1);
    expect(row).toMatchObject({ closed_by: 'idle_timeout', close_code: 1001 });
  });

  it('ends a session at REALTIME_MAX_SESSION_MS however busy it is', async () => {
    const { ws, seen } = await connect(stack);
    await waitFor(seen, 'session.created');
    // Busy: a message every 100 ms keeps the idle timer away.
    const chatter = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type: 'input_audio_buffer.append', audio: 'AAAA' })), 100);
    const { code, reason } = await closed(ws);
    clearInterval(chatter);
    expect(code).toBe(1001);
    expect(reason).toContain('REALTIME_MAX_SESSION_MS');
    const [row] = await sessionRows(stack, 1);
    expect(row).toMatchObject({ closed_by: 'max_duration' });
    expect(row.duration_ms).toBeGreaterThanOrEqual(1400);
  });

  it('refuses a feature’s third concurrent session with 429, other features unaffected, and admits again once one closes', async () => {
    await stack.resetUsage();
    const a = await connect(stack);
    const b = await connect(stack);
    const refused = await connect(stack).catch((e: { status: number; headers: Record<string, string>; body: unknown }) => e);
    expect(refused).toMatchObject({ status: 429, body: { error: { code: 'realtime_session_limit', type: 'requests' } } });
    expect((refused as { headers: Record<string, string> }).headers['retry-after']).toBe('1');
    const other = await connect(stack, 1);
    const end = closed(a.ws);
    a.ws.close(1000);
    await end;
    await new Promise((r) => setTimeout(r, 50));
    const again = await connect(stack);
    for (const ws of [b.ws, other.ws, again.ws]) ws.close(1000);
    const refusals = (await stack.events()).filter((e) => e.endpoint === 'realtime' && e.status === 429);
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toMatchObject({ feature_id: stack.features[0].id, error_code: 'realtime_session_limit', cost_nanos: '0' });
    const metrics = await (await fetch(`${stack.url}/metrics`)).text();
    expect(metrics).toMatch(/tallygate_realtime_sessions_refused_total 1\b/);
    expect(metrics).toMatch(/tallygate_realtime_sessions_opened_total [4-9]\b/);
  });

  it('answers a malformed upgrade 400 before opening anything upstream', async () => {
    const before = stack.sim.received().length;
    const { port } = new URL(stack.url);
    const answer = await new Promise<string>((resolve) => {
      const socket = tcpConnect(Number(port), '127.0.0.1', () =>
        socket.write(`GET /v1/realtime?model=gpt-realtime HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nAuthorization: Bearer ${stack.features[0].gatewayKey}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: nope\r\n\r\n`),
      );
      let text = '';
      socket.on('data', (c) => (text += c.toString()));
      socket.on('close', () => resolve(text));
    });
    expect(answer).toMatch(/^HTTP\/1.1 400 /);
    expect(answer).toContain('Not a WebSocket upgrade');
    expect(stack.sim.received().length).toBe(before);
  });
});

describe('gateway shutdown', () => {
  it('ends idle sessions at once and busy ones after their response, with 1012, keeping every response metered', async () => {
    const stack = await startStack({ simulator: { latency: { perTokenMs: 15 } } });
    try {
      const idle = await connect(stack);
      const busy = await connect(stack);
      await waitFor(busy.seen, 'session.created');
      await waitFor(idle.seen, 'session.created');
      busy.ws.send(JSON.stringify({ type: 'response.create', response: { output_modalities: ['text'] } }));
      await waitFor(busy.seen, 'response.output_text.delta');
      const idleEnd = closed(idle.ws);
      const busyEnd = closed(busy.ws);
      const stopped = shutdown(stack.app, 5_000);
      expect((await idleEnd).code).toBe(1012);
      // The busy session got its whole response before its close.
      expect((await busyEnd).code).toBe(1012);
      expect(busy.seen.at(-1)).toMatchObject({ type: 'response.done', response: { status: 'completed' } });
      await stopped;
      const rows = (await stack.db.query("SELECT * FROM usage_events WHERE endpoint = 'realtime'")).rows;
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ outcome: 'ok', usage_source: 'reported' });
      expect(BigInt(rows[0].cost_nanos as string)).toBeGreaterThan(0n);
      const sessions = (await stack.db.query('SELECT closed_by, close_code, responses FROM realtime_sessions ORDER BY responses')).rows;
      expect(sessions).toEqual([
        { closed_by: 'shutdown', close_code: 1012, responses: 0 },
        { closed_by: 'shutdown', close_code: 1012, responses: 1 },
      ]);
    } finally {
      await stack.db.end();
      await stack.sim.close();
    }
  });

  it('at the deadline, cancels a response still running and records what it generated as cut by the shutdown', async () => {
    const stack = await startStack({ simulator: { latency: { perTokenMs: 15 } } });
    try {
      const busy = await connect(stack);
      await waitFor(busy.seen, 'session.created');
      // A response that never ends on its own.
      busy.ws.send(JSON.stringify({ type: 'response.create', response: { metadata: { sim_fault: 'stall' } } }));
      await waitFor(busy.seen, 'response.output_audio.delta');
      const end = closed(busy.ws);
      const relay = stack.app.get(RealtimeRelay);
      expect(relay.snapshot().open).toBe(1);
      await shutdown(stack.app, 300);
      expect((await end).code).toBe(1012);
      const rows = (await stack.db.query("SELECT * FROM usage_events WHERE endpoint = 'realtime'")).rows;
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ outcome: 'shutdown', usage_source: 'reported' });
      expect(rows[0].output_tokens).toBeGreaterThan(0);
    } finally {
      await stack.db.end();
      await stack.sim.close();
    }
  });
});
