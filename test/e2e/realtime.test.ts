// Realtime through the gateway over wss (a self-signed certificate the test generates): the official
// SDK's realtime client and a plain WebSocket, every response metered exactly at the realtime rates,
// sessions recorded, cuts by either side, refusals before the upgrade.
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { shippedPriceList } from '../../server/pricing/pricing.service.js';
import { ADMIN_TOKEN, startStack, type Stack } from '../support/stack.js';
import { selfSignedCertificate } from '../support/tls.js';

let stack: Stack;
let ca: string;
let wss: string;

beforeAll(async () => {
  const cert = await selfSignedCertificate();
  ca = cert.ca;
  // Each word takes a few ms, so a response is in progress long enough to be cut.
  stack = await startStack({ env: cert.env, simulator: { latency: { perTokenMs: 4 } } });
  wss = stack.url.replace(/^https/, 'wss');
});
afterAll(() => stack?.close());
beforeEach(async () => {
  await stack.resetUsage();
  await stack.db.query('TRUNCATE realtime_sessions');
});

interface DoneUsage {
  input_tokens: number;
  output_tokens: number;
  input_token_details: { audio_tokens: number; cached_tokens: number; image_tokens: number; cached_tokens_details: { audio_tokens: number; image_tokens: number } };
  output_token_details: { audio_tokens: number; text_tokens: number };
}
interface Done {
  type: 'response.done';
  response: { id: string; status: string; usage: DoneUsage };
}

/** USD per 1M tokens → pico-dollars per token, from the decimal string itself. */
const pico = (usd: string | undefined) => {
  const [whole, fraction = ''] = (usd ?? '0').split('.');
  return BigInt(whole + fraction.padEnd(6, '0'));
};

/** The cost of one response by hand, from the shipped price row: each part at its rate, rounded once, half up. */
function handCost(model: string, u: DoneUsage): bigint {
  const row = shippedPriceList().find((p) => p.model === model && !p.service_tier)!;
  const d = u.input_token_details;
  const cachedAudio = d.cached_tokens_details.audio_tokens;
  const textIn = u.input_tokens - d.audio_tokens - d.image_tokens - (d.cached_tokens - cachedAudio);
  const picos =
    BigInt(textIn) * pico(row.input) +
    BigInt(d.cached_tokens - cachedAudio) * pico(row.cached_input) +
    BigInt(d.audio_tokens - cachedAudio) * pico(row.audio_input) +
    BigInt(cachedAudio) * pico(row.cached_audio_input) +
    BigInt(u.output_token_details.text_tokens) * pico(row.output) +
    BigInt(u.output_token_details.audio_tokens) * pico(row.audio_output);
  return (picos + 500n) / 1000n;
}

/** One second of pcm16 at 24 kHz, base64 (what a microphone sends in chunks). */
const SECOND_OF_AUDIO = Buffer.alloc(48_000, 1).toString('base64');

function sdkClient(key = stack.features[0].gatewayKey): OpenAI {
  return new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: key, maxRetries: 0 });
}

async function sessions() {
  return (await stack.db.query('SELECT * FROM realtime_sessions ORDER BY opened_at')).rows;
}

/** Waits until `check` holds (rows are written asynchronously after a close). */
async function eventually<T>(read: () => Promise<T>, check: (value: T) => boolean, ms = 5_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (check(value) || Date.now() > until) return value;
    await new Promise((r) => setTimeout(r, 25));
  }
}

const realtimeEvents = async () => (await stack.events()).filter((e) => e.endpoint === 'realtime');

/** A plain ws client; resolves once open (or rejects with the HTTP status of a refusal and its body). */
function connect(url: string, options: ConstructorParameters<typeof WebSocket>[2] = {}, protocols: string[] = []): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { ca, ...options });
    // Listening from the start: session.created can arrive with the upgrade's answer.
    collected.set(ws, collectFrom(ws));
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body: JSON.parse(Buffer.concat(chunks).toString() || '{}') })));
    });
    ws.once('error', reject);
  });
}

const collected = new WeakMap<WebSocket, Array<Record<string, unknown>>>();
/** The text events a client opened by connect() received. */
const collect = (ws: WebSocket) => collected.get(ws)!;

function collectFrom(ws: WebSocket): Array<Record<string, unknown>> {
  const seen: Array<Record<string, unknown>> = [];
  ws.on('message', (data, binary) => {
    if (!binary) seen.push(JSON.parse(data.toString()) as Record<string, unknown>);
  });
  return seen;
}

const waitFor = (ws: WebSocket, seen: Array<Record<string, unknown>>, type: string, count = 1): Promise<void> =>
  new Promise((resolve, reject) => {
    const check = () => {
      if (seen.filter((e) => e.type === type).length >= count) {
        ws.off('message', check);
        resolve();
      }
    };
    ws.on('message', check);
    ws.once('close', () => reject(new Error(`closed before ${count} × ${type}`)));
    check();
  });

const closed = (ws: WebSocket) => new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));

describe('official SDK realtime client over wss', () => {
  it('relays a session with several responses and meters each one exactly at gpt-realtime rates', async () => {
    const rt = new OpenAIRealtimeWS({ model: 'gpt-realtime', options: { ca } }, sdkClient());
    const dones: Done[] = [];
    const errors: string[] = [];
    rt.on('error', (e) => errors.push(e.message));
    rt.on('response.done', (e) => dones.push(e as unknown as Done));
    const nextDone = (n: number) => new Promise<void>((resolve) => rt.on('response.done', () => dones.length >= n && resolve()));
    const created = new Promise<{ session: { id: string } }>((resolve) => rt.on('session.created', (e) => resolve(e as unknown as { session: { id: string } })));
    await new Promise((r) => rt.socket.once('open', r));
    const session = await created;

    rt.send({ type: 'session.update', session: { type: 'realtime', instructions: 'You are a friendly support agent for a bicycle shop. Keep answers short.' } });
    rt.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Hello, my chain keeps slipping on the big cog.' }] } });
    rt.send({ type: 'input_audio_buffer.append', audio: SECOND_OF_AUDIO });
    rt.send({ type: 'input_audio_buffer.append', audio: SECOND_OF_AUDIO });
    rt.send({ type: 'input_audio_buffer.commit' });
    rt.send({ type: 'response.create' });
    await nextDone(1);
    rt.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'And how often should I oil it?' }] } });
    rt.send({ type: 'response.create', response: { output_modalities: ['text'] } });
    await nextDone(2);
    rt.send({ type: 'input_audio_buffer.append', audio: SECOND_OF_AUDIO });
    rt.send({ type: 'input_audio_buffer.commit' });
    rt.send({ type: 'response.create' });
    await nextDone(3);
    rt.close();
    await new Promise((r) => rt.socket.once('close', r));
    expect(errors).toEqual([]);

    const events = await eventually(realtimeEvents, (e) => e.length >= 3);
    expect(events).toHaveLength(3);
    let total = 0n;
    for (const done of dones) {
      const row = events.find((e) => e.upstream_request_id === done.response.id)!;
      const u = done.response.usage;
      expect(row).toMatchObject({
        model: 'gpt-realtime',
        feature_id: stack.features[0].id,
        org_id: stack.orgs[0].id,
        status: 200,
        outcome: 'ok',
        usage_source: 'reported',
        input_tokens: u.input_tokens,
        cached_tokens: u.input_token_details.cached_tokens,
        audio_input_tokens: u.input_token_details.audio_tokens,
        output_tokens: u.output_tokens,
        audio_output_tokens: u.output_token_details.audio_tokens,
      });
      expect(BigInt(row.cost_nanos as string)).toBe(handCost('gpt-realtime', u));
      total += BigInt(row.cost_nanos as string);
    }
    expect(total).toBeGreaterThan(0n);
    // The later responses read the conversation again: part of it (audio too) is cached.
    expect(dones[2].response.usage.input_token_details.cached_tokens_details.audio_tokens).toBeGreaterThan(0);
    expect(dones[1].response.usage.output_token_details.audio_tokens).toBe(0);

    const [row] = await eventually(sessions, (s) => s[0]?.closed_at !== null);
    expect(row).toMatchObject({ feature_id: stack.features[0].id, model: 'gpt-realtime', responses: 3, closed_by: 'client', close_code: 1000, upstream_session_id: session.session.id });
    expect(row.duration_ms).toBeGreaterThan(0);

    // Upstream: the org's own key and org, never the gateway key.
    const upstream = stack.sim.received().filter((r) => r.url.startsWith('/v1/realtime')).at(-1)!;
    expect(upstream.url).toBe('/v1/realtime?model=gpt-realtime');
    expect(upstream.headers.authorization).toBe(`Bearer ${stack.orgs[0].upstreamKey}`);
    expect(upstream.headers['openai-organization']).toBe(stack.orgs[0].openaiOrgId);
  });

  it('refuses a revoked gateway key before the upgrade, in OpenAI’s shape, with a ledger row', async () => {
    const issued = await stack.orgsService.issueGatewayKey(stack.features[1].id, 'to revoke');
    await stack.orgsService.revokeGatewayKey(issued.record.id);
    const rt = new OpenAIRealtimeWS({ model: 'gpt-realtime', options: { ca } }, sdkClient(issued.key));
    const error = await new Promise<Error>((resolve) => rt.on('error', resolve));
    expect(error.message).toContain('401');
    const refused = await connect(`${wss}/v1/realtime?model=gpt-realtime`, { headers: { authorization: `Bearer ${issued.key}` } }).catch((e: { status: number; body: { error: { code: string } } }) => e);
    expect(refused).toMatchObject({ status: 401, body: { error: { code: 'invalid_api_key', type: 'invalid_request_error' } } });
    const rows = await eventually(realtimeEvents, (e) => e.length >= 2);
    expect(rows.map((r) => [r.status, r.feature_id, r.error_kind, r.cost_nanos])).toEqual([
      [401, stack.features[1].id, 'auth', '0'],
      [401, stack.features[1].id, 'auth', '0'],
    ]);
    expect(await sessions()).toEqual([]);
  });
});

describe('hard budgets', () => {
  it("counts a session's spend against its feature's hard budget as it is made, and refuses the next session once spent", async () => {
    const feature = stack.features[0];
    const dispatcher = new Agent({ connect: { ca } });
    const created = await undiciFetch(`${stack.url}/api/budgets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'realtime hard', featureId: feature.id, amountUsd: '0.000001', enforcement: 'hard', forecastPercent: null, timeZone: 'UTC' }),
      dispatcher,
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    try {
      const ws = await connect(`${wss}/v1/realtime?model=gpt-realtime`, { headers: { authorization: `Bearer ${feature.gatewayKey}` } });
      const seen = collect(ws);
      ws.send(JSON.stringify({ type: 'response.create' }));
      await waitFor(ws, seen, 'response.done');
      const [row] = await eventually(realtimeEvents, (e) => e.some((r) => r.status === 200));
      expect(BigInt(row.cost_nanos as string)).toBeGreaterThan(1000n); // over the budget's $0.000001
      ws.close();
      const refused = await connect(`${wss}/v1/realtime?model=gpt-realtime`, { headers: { authorization: `Bearer ${feature.gatewayKey}` } }).catch((e: unknown) => e);
      expect(refused).toMatchObject({ status: 429, body: { error: { type: 'insufficient_quota', code: 'feature_budget_exceeded' } } });
    } finally {
      await undiciFetch(`${stack.url}/api/budgets/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, dispatcher });
    }
  });
});

describe('plain WebSocket client', () => {
  it('authenticates with the browser subprotocol, answers `realtime`, and relays text and binary frames in order', async () => {
    const key = stack.features[0].gatewayKey;
    const script = async (ws: WebSocket) => {
      const seen = collect(ws);
      await waitFor(ws, seen, 'session.created');
      ws.send(JSON.stringify({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Tell me a short story.' }] } }));
      ws.send(Buffer.from([1, 2, 3]), { binary: true });
      ws.send(JSON.stringify({ type: 'response.create', response: { output_modalities: ['text'] } }));
      await waitFor(ws, seen, 'response.done');
      ws.close();
      await closed(ws);
      return seen;
    };
    const viaGateway = await connect(`${wss}/v1/realtime?model=gpt-realtime-mini`, {}, ['realtime', `openai-insecure-api-key.${key}`]);
    expect(viaGateway.protocol).toBe('realtime');
    const relayed = await script(viaGateway);
    // The key went no further than the gateway.
    const upstream = stack.sim.received().filter((r) => r.url.startsWith('/v1/realtime')).at(-1)!;
    expect(String(upstream.headers['sec-websocket-protocol'])).toBe('realtime');
    const direct = await script(await connect(`${stack.sim.url.replace(/^http/, 'ws')}/realtime?model=gpt-realtime-mini`, { headers: { authorization: `Bearer ${stack.orgs[0].upstreamKey}` } }));
    expect(relayed.map((e) => e.type)).toEqual(direct.map((e) => e.type));
    // The binary frame reached the simulator as binary (it refuses those with an error event).
    expect(relayed.find((e) => e.type === 'error')).toMatchObject({ error: { message: expect.stringContaining('Binary') } });
    const text = relayed.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('');
    expect(relayed.find((e) => e.type === 'response.output_text.done')).toMatchObject({ text });
    const rows = await eventually(realtimeEvents, (e) => e.length >= 1);
    expect(rows[0]).toMatchObject({ model: 'gpt-realtime-mini', outcome: 'ok' });
    const done = relayed.find((e) => e.type === 'response.done') as unknown as Done;
    expect(BigInt(rows[0].cost_nanos as string)).toBe(handCost('gpt-realtime-mini', done.response.usage));
  });

  it('refuses a missing model and a missing key with 400 and 401', async () => {
    const noModel = await connect(`${wss}/v1/realtime`, { headers: { authorization: `Bearer ${stack.features[0].gatewayKey}` } }).catch((e: { status: number; body: unknown }) => e);
    expect(noModel).toMatchObject({ status: 400, body: { error: { param: 'model', code: 'missing_required_parameter' } } });
    const noKey = await connect(`${wss}/v1/realtime?model=gpt-realtime`).catch((e: { status: number; body: unknown }) => e);
    expect(noKey).toMatchObject({ status: 401, body: { error: { code: 'missing_api_key' } } });
    const elsewhere = await connect(`${wss}/v1/chat/completions`).catch((e: { status: number }) => e);
    expect(elsewhere).toMatchObject({ status: 404 });
    // The key-less attempt leaves no row (as on HTTP); the issued key's 400 does.
    const rows = await eventually(realtimeEvents, (e) => e.length >= 1);
    expect(rows.map((r) => [r.status, r.feature_id, r.error_code])).toEqual([[400, stack.features[0].id, 'missing_required_parameter']]);
  });
});

describe('sessions cut mid-response', () => {
  const open = async () => {
    const ws = await connect(`${wss}/v1/realtime?model=gpt-realtime`, { headers: { authorization: `Bearer ${stack.features[0].gatewayKey}` } });
    const seen = collect(ws);
    await waitFor(ws, seen, 'session.created');
    ws.send(JSON.stringify({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Read me the full warranty terms.' }] } }));
    return { ws, seen };
  };

  it('by the client: the response is cancelled upstream and what it generated is still metered', async () => {
    const { ws, seen } = await open();
    ws.send(JSON.stringify({ type: 'response.create' }));
    await waitFor(ws, seen, 'response.output_audio_transcript.delta', 2);
    ws.terminate(); // the app crashed, the phone lost signal: no close frame
    const [row] = await eventually(realtimeEvents, (e) => e.length >= 1);
    expect(row).toMatchObject({ outcome: 'client_aborted', usage_source: 'reported', status: 200 });
    expect(row.output_tokens).toBeGreaterThan(0);
    expect(BigInt(row.cost_nanos as string)).toBeGreaterThan(0n);
    // Billed by the simulator for exactly what the ledger recorded.
    const billed = stack.sim.stats().orgs[stack.orgs[0].openaiOrgId].usage;
    expect(billed.completionTokens).toBe(row.output_tokens);
    expect(billed.promptTokens).toBe(row.input_tokens);
    const [session] = await eventually(sessions, (s) => s[0]?.closed_at !== null);
    expect(session).toMatchObject({ closed_by: 'client', responses: 1 });
  });

  it('by the upstream: earlier responses stay metered, the cut one is recorded as unknown cost, the client gets a clean close', async () => {
    const { ws, seen } = await open();
    ws.send(JSON.stringify({ type: 'response.create', response: { output_modalities: ['text'] } }));
    await waitFor(ws, seen, 'response.done');
    const end = closed(ws);
    ws.send(JSON.stringify({ type: 'response.create', response: { metadata: { sim_fault: 'drop' } } }));
    expect((await end).code).toBe(1011);
    const rows = await eventually(realtimeEvents, (e) => e.length >= 2);
    const [ok, cut] = rows;
    expect(ok).toMatchObject({ outcome: 'ok', usage_source: 'reported' });
    expect(BigInt(ok.cost_nanos as string)).toBe(handCost('gpt-realtime', (seen.find((e) => e.type === 'response.done') as unknown as Done).response.usage));
    expect(cut).toMatchObject({ outcome: 'upstream_aborted', usage_source: 'none', cost_nanos: null, error_kind: 'upstream_aborted' });
    const [session] = await eventually(sessions, (s) => s[0]?.closed_at !== null);
    expect(session).toMatchObject({ closed_by: 'upstream', responses: 1 });
  });
});

describe('realtime HTTP routes', () => {
  it('client secrets and call control for WebRTC/SIP are forwarded over HTTPS, labelled, and counted per feature beside WebSocket sessions', async () => {
    const dispatcher = new Agent({ connect: { ca } });
    const client = new OpenAI({
      baseURL: `${stack.url}/v1`,
      apiKey: stack.features[0].gatewayKey,
      maxRetries: 0,
      fetch: ((url: string, init: RequestInit) => undiciFetch(url, { ...(init as object), dispatcher })) as unknown as typeof fetch,
    });
    const secret = await client.realtime.clientSecrets.create({ session: { type: 'realtime', model: 'gpt-realtime' } });
    expect(secret.value).toBeTruthy();
    const [row] = (await stack.events()).filter((e) => e.endpoint === 'realtime.client_secrets');
    expect(row).toMatchObject({ status: 200, feature_id: stack.features[0].id, usage_source: 'not_metered' });
    // SIP/WebRTC call control: forwarded, labelled by action.
    await client.realtime.calls.accept('rtc_test_call', { type: 'realtime', model: 'gpt-realtime' });
    await client.realtime.calls.hangup('rtc_test_call');
    const calls = (await stack.events()).filter((e) => String(e.endpoint).startsWith('realtime.calls.')).map((e) => [e.endpoint, e.status]);
    expect(calls).toEqual([
      ['realtime.calls.accept', 200],
      ['realtime.calls.hangup', 200],
    ]);

    // And a WebSocket session beside it: the activity API counts both, per feature, without money.
    const ws = await connect(`${wss}/v1/realtime?model=gpt-realtime`, { headers: { authorization: `Bearer ${stack.features[0].gatewayKey}` } });
    const seen = collect(ws);
    await waitFor(ws, seen, 'session.created');
    ws.send(JSON.stringify({ type: 'response.create', response: { output_modalities: ['text'] } }));
    await waitFor(ws, seen, 'response.done');
    ws.close(1000);
    await closed(ws);
    await eventually(sessions, (s) => s[0]?.closed_at !== null);
    const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
    const res = await undiciFetch(`${stack.url}/api/analytics/realtime?from=${day(0)}&to=${day(1)}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, dispatcher });
    expect(res.status).toBe(200);
    const activity = (await res.json()) as { features: Array<Record<string, unknown>> };
    expect(activity.features).toEqual([
      expect.objectContaining({ featureId: stack.features[0].id, sessions: 1, openSessions: 0, responses: 1, clientSecrets: 1, callsAccepted: 1, endedByGateway: 0 }),
    ]);
    const bad = await undiciFetch(`${stack.url}/api/analytics/realtime?from=yesterday&to=${day(1)}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, dispatcher });
    expect(bad.status).toBe(400);
  });
});
