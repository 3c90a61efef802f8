// Batch API through the gateway with the official SDK: batches metered at batch prices from their output
// files, exactly once across two replicas and a restart mid-file; cancelled batches billed for the lines
// they completed; error-file lines recorded failed at no cost; the admin trigger; what each role sees.
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../server/app.js';
import { UsersService } from '../../server/auth/users.service.js';
import { lineEventId } from '../../server/batches/batch-lines.js';
import { BatchesService } from '../../server/batches/batches.service.js';
import { APP_CONFIG, loadConfig, type AppConfig } from '../../server/config/config.js';
import { LedgerWriter } from '../../server/ledger/ledger.writer.js';
import { ADMIN_TOKEN, startStack, type Stack } from '../support/stack.js';

const WATCH = { BATCH_WATCH_INTERVAL_MS: '50', BATCH_POLL_MIN_MS: '50', BATCH_POLL_MAX_MS: '200', BATCH_METER_CHUNK_LINES: '10' };
const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

let stack: Stack;
let client: OpenAI;
const replicas: NestFastifyApplication[] = [];

/** Another gateway process on the same database (a replica, or the same one restarted), with its watcher on. */
async function replica(env: Record<string, string> = {}): Promise<NestFastifyApplication> {
  const base = stack.app.get<AppConfig>(APP_CONFIG);
  const config = loadConfig({
    MASTER_KEY: base.MASTER_KEY,
    ADMIN_TOKEN,
    LOG_LEVEL: 'warn',
    LEDGER_FLUSH_INTERVAL_MS: '50',
    DATA_DIR: await mkdtemp(join(tmpdir(), 'tallygate-replica-')),
    ...WATCH,
    ...env,
  });
  const app = await createApp(config, stack.databaseUrl);
  replicas.push(app);
  return app;
}

const chatLine = (i: number, model = 'gpt-4o-mini') =>
  JSON.stringify({ custom_id: `req-${i}`, method: 'POST', url: '/v1/chat/completions', body: { model, messages: [{ role: 'user', content: `Summarise ticket ${i} ${'in detail '.repeat(i % 7)}` }], max_tokens: 20 + (i % 30) } });

async function createBatch(lines: string[], api = client): Promise<OpenAI.Batches.Batch> {
  const file = await api.files.create({ file: await toFile(Buffer.from(lines.join('\n') + '\n'), 'nightly.jsonl'), purpose: 'batch' });
  return api.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000, everyMs = 25): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > end) throw new Error(`timed out; last value: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

interface Row {
  status: string;
  output_lines_metered: number;
  error_lines_metered: number;
  cost_nanos: string;
  metered_at: Date | null;
  lease_owner: string | null;
  feature_id: string | null;
  request_completed: number;
}
const row = async (id: string): Promise<Row> => (await stack.db.query('SELECT * FROM batches WHERE id = $1', [id])).rows[0];

/** The batch tier's unit prices of a model, as pico-dollars per token, from the price rows themselves. */
async function batchPrice(model: string): Promise<{ input: bigint; cached: bigint; output: bigint }> {
  const { rows } = await stack.db.query(
    `SELECT input_per_mtok::text AS i, cached_input_per_mtok::text AS c, output_per_mtok::text AS o FROM prices
     WHERE model = $1 AND service_tier = 'batch' AND retired_at IS NULL ORDER BY effective_from DESC LIMIT 1`,
    [model],
  );
  const pico = (usd: string) => BigInt(usd.replace('.', '').replace(/^0+(?=\d)/, '')) * 10n ** BigInt(6 - (usd.split('.')[1]?.length ?? 0));
  return { input: pico(rows[0].i), cached: pico(rows[0].c), output: pico(rows[0].o) };
}

/** What the output file's lines cost at batch prices, computed here: per line in pico-dollars, rounded once, half up. */
async function expectedCost(outputFileId: string): Promise<{ nanos: bigint; lines: number; customIds: string[] }> {
  const text = await (await client.files.content(outputFileId)).text();
  const price = await batchPrice('gpt-4o-mini');
  let nanos = 0n;
  const customIds: string[] = [];
  for (const line of text.split('\n').filter(Boolean)) {
    const entry = JSON.parse(line) as { custom_id: string; response: { body: { usage: { prompt_tokens: number; completion_tokens: number; prompt_tokens_details?: { cached_tokens?: number } } } } };
    const u = entry.response.body.usage;
    const cached = BigInt(u.prompt_tokens_details?.cached_tokens ?? 0);
    const picos = (BigInt(u.prompt_tokens) - cached) * price.input + cached * price.cached + BigInt(u.completion_tokens) * price.output;
    nanos += (picos + 500n) / 1000n;
    customIds.push(entry.custom_id);
  }
  return { nanos, lines: customIds.length, customIds };
}

async function ledgerOf(batchId: string, customIds: string[]) {
  await stack.ledger.flush();
  for (const app of replicas) await app.get(LedgerWriter).flush();
  const ids = customIds.map((c) => lineEventId(batchId, c));
  const { rows } = await stack.db.query(
    `SELECT count(*)::int AS n, count(*) FILTER (WHERE outcome = 'ok')::int AS ok, coalesce(sum(cost_nanos), 0)::text AS nanos,
            count(*) FILTER (WHERE cost_nanos IS NULL)::int AS unpriced, count(DISTINCT feature_id)::int AS features, min(feature_id::text) AS feature,
            bool_and(endpoint = 'batch' AND service_tier = 'batch') AS batch_rows
     FROM usage_events WHERE id = ANY($1::uuid[])`,
    [ids],
  );
  return rows[0] as { n: number; ok: number; nanos: string; unpriced: number; features: number; feature: string; batch_rows: boolean };
}

beforeAll(async () => {
  // The stack serves the SDK's calls with its watcher off; the replicas below do the watching.
  stack = await startStack({ env: { ...WATCH, BATCH_WATCH_INTERVAL_MS: '0' }, simulator: { jobPhaseMs: 50, batchLineMs: 1 } });
  client = stack.client();
  stack.sim.setOrg({ id: stack.orgs[0].openaiOrgId, keys: [stack.orgs[0].upstreamKey], adminKeys: [SIM_ADMIN_KEY] });
});

const SIM_ADMIN_KEY = 'sk-admin-batch-test-0123456789abcdef';
/** What the simulator (the upstream, keeping its own books) billed the first org today, in nano-dollars. */
async function upstreamCostToday(): Promise<bigint> {
  const start = Math.floor(Date.now() / 86_400_000) * 86_400;
  const text = await (await fetch(`${stack.sim.url}/organization/costs?start_time=${start}&bucket_width=1d&limit=1`, { headers: { authorization: `Bearer ${SIM_ADMIN_KEY}` } })).text();
  let nanos = 0n;
  for (const [, value] of text.matchAll(/"value"\s*:\s*(-?\d+(?:\.\d+)?)/g)) {
    const [whole, fraction = ''] = value.split('.');
    nanos += BigInt(whole + fraction.padEnd(9, '0').slice(0, 9));
  }
  return nanos;
}
afterAll(async () => {
  for (const app of replicas) await app.close().catch(() => undefined);
  await stack?.close();
});

describe('a nightly batch of 1,000 lines', () => {
  it('is metered exactly at batch prices, once, across two replicas and a restart mid-file', async () => {
    const lines = Array.from({ length: 1000 }, (_, i) => chatLine(i));
    const first = await replica();
    const second = await replica();
    const batch = await createBatch(lines);
    // The creator was remembered from the gateway's own answer.
    // (recorded beside the create call, not before it was answered)
    expect((await until(() => row(batch.id), (r) => !!r, 5_000)).feature_id).toBe(stack.features[0].id);

    // Metering under way: stop the replica holding the batch in the middle of the file.
    const during = await until(() => row(batch.id), (r) => !!r && r.output_lines_metered > 0, 60_000, 5);
    expect(during.metered_at).toBeNull();
    const holder = [first, second].find((app) => app.get(BatchesService).owner === during.lease_owner);
    expect(holder).toBeDefined();
    const stoppedOwner = holder!.get(BatchesService).owner;
    await holder!.close();
    replicas.splice(replicas.indexOf(holder!), 1);
    const stoppedAt = (await row(batch.id))!;
    expect(stoppedAt.output_lines_metered).toBeGreaterThan(0);
    expect(stoppedAt.output_lines_metered).toBeLessThan(1000);
    // The stopped replica let go of it (the other one may already have taken it over).
    expect(stoppedAt.lease_owner).not.toBe(stoppedOwner);

    // The other replica, and a restarted one, carry on from the saved progress.
    await replica();
    const done = await until(() => row(batch.id), (r) => !!r?.metered_at, 60_000);
    const final = await client.batches.retrieve(batch.id);
    expect(final.status).toBe('completed');
    expect(done.output_lines_metered).toBe(1000);

    const expected = await expectedCost(final.output_file_id!);
    expect(expected.lines).toBe(1000);
    const ledger = await ledgerOf(batch.id, expected.customIds);
    expect(ledger).toMatchObject({ n: 1000, ok: 1000, unpriced: 0, features: 1, feature: stack.features[0].id, batch_rows: true });
    expect(BigInt(ledger.nanos)).toBe(expected.nanos);
    expect(BigInt(done.cost_nanos)).toBe(expected.nanos);
    // The upstream billed the same lines at its batch prices: reconciliation finds no gap.
    expect(await upstreamCostToday()).toBe(expected.nanos);
    const { rows: all } = await stack.db.query(`SELECT count(*)::int AS n FROM usage_events WHERE endpoint = 'batch'`);
    expect(all[0].n).toBe(1000);

    // Metered again from scratch (as if every save had been lost): the ledger gains nothing. The watchers
    // stop first, so the admin trigger is the one that meters it (else it answers 409 while they hold it).
    for (const app of replicas.splice(0)) await app.close();
    await stack.db.query(`UPDATE batches SET output_lines_metered = 0, cost_nanos = 0, metered_at = NULL WHERE id = $1`, [batch.id]);
    const again = await fetch(`${stack.url}/api/admin/batches/${batch.id}/meter`, { method: 'POST', headers: admin, body: '{}' });
    expect(again.status).toBe(200);
    const view = (await again.json()) as { linesMetered: number; costNanos: string; status: string; meteredAt: string | null };
    expect(view).toMatchObject({ linesMetered: 1000, status: 'completed' });
    expect(view.meteredAt).not.toBeNull();
    expect(BigInt(view.costNanos)).toBe(expected.nanos);
    const after = await ledgerOf(batch.id, expected.customIds);
    expect(after.n).toBe(1000);
    expect(BigInt(after.nanos)).toBe(expected.nanos);
    // The hourly rollups counted each line once too.
    const { rows: rollup } = await stack.db.query(`SELECT sum(requests)::int AS n, sum(cost_nanos)::text AS nanos FROM usage_hourly WHERE endpoint = 'batch'`);
    expect(rollup[0].n).toBe(1000);
    expect(BigInt(rollup[0].nanos)).toBe(expected.nanos);
  }, 120_000);
});

describe('batches that end early or fail lines', () => {
  it('bills a cancelled batch for the lines it completed, and only those', async () => {
    if (replicas.length === 0) await replica();
    const batch = await createBatch(Array.from({ length: 400 }, (_, i) => chatLine(i)));
    await until(() => client.batches.retrieve(batch.id), (b) => (b.request_counts?.completed ?? 0) >= 20);
    expect((await client.batches.cancel(batch.id)).status).toBe('cancelling');
    const cancelled = await until(() => client.batches.retrieve(batch.id), (b) => b.status === 'cancelled');
    const completed = cancelled.request_counts!.completed;
    expect(completed).toBeGreaterThanOrEqual(20);
    expect(completed).toBeLessThan(400);
    const done = await until(() => row(batch.id), (r) => !!r?.metered_at);
    expect(done.status).toBe('cancelled');
    const expected = await expectedCost(cancelled.output_file_id!);
    expect(expected.lines).toBe(completed);
    const ledger = await ledgerOf(batch.id, expected.customIds);
    expect(ledger.n).toBe(completed);
    expect(BigInt(ledger.nanos)).toBe(expected.nanos);
    expect(BigInt(done.cost_nanos)).toBe(expected.nanos);
  }, 60_000);

  it('records the lines of the error file as failed, at no cost', async () => {
    const lines = [
      chatLine(1),
      JSON.stringify({ custom_id: 'wrong-url', method: 'POST', url: '/v1/embeddings', body: { model: 'text-embedding-3-small', input: 'x' } }),
      JSON.stringify({ custom_id: 'no-messages', method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-4o-mini', messages: [] } }),
      chatLine(2),
    ];
    const batch = await createBatch(lines);
    const final = await until(() => client.batches.retrieve(batch.id), (b) => b.status === 'completed');
    expect(final.request_counts).toMatchObject({ completed: 2, failed: 2 });
    const done = await until(() => row(batch.id), (r) => !!r?.metered_at);
    expect(done).toMatchObject({ output_lines_metered: 2, error_lines_metered: 2 });
    await stack.ledger.flush();
    const failed = (
      await stack.db.query(`SELECT outcome, cost_nanos::text AS cost, status, error_code FROM usage_events WHERE id = ANY($1::uuid[]) ORDER BY error_code`, [
        ['wrong-url', 'no-messages'].map((c) => lineEventId(batch.id, c)),
      ])
    ).rows;
    expect(failed).toEqual([
      { outcome: 'error', cost: '0', status: 400, error_code: 'invalid_url' },
      { outcome: 'error', cost: '0', status: 400, error_code: null },
    ]);
    const expected = await expectedCost(final.output_file_id!);
    expect(BigInt(done.cost_nanos)).toBe(expected.nanos);
    expect(expected.nanos).toBeGreaterThan(0n);
  }, 60_000);
});

describe('the admin trigger and who sees what', () => {
  it('meters by id a batch created outside the gateway when told its org; refuses without it', async () => {
    // Straight to the simulator with the org's own key: the gateway never saw this batch.
    const direct = new OpenAI({ baseURL: stack.sim.url, apiKey: stack.orgs[0].upstreamKey, maxRetries: 0 });
    const batch = await createBatch([chatLine(7), chatLine(8), chatLine(9)], direct);
    await until(() => direct.batches.retrieve(batch.id), (b) => b.status === 'completed');
    const unknown = await fetch(`${stack.url}/api/admin/batches/${batch.id}/meter`, { method: 'POST', headers: admin, body: '{}' });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { message: string } }).error.message).toMatch(/give its org/);
    const metered = await fetch(`${stack.url}/api/admin/batches/${batch.id}/meter`, { method: 'POST', headers: admin, body: JSON.stringify({ org: stack.orgs[0].id }) });
    expect(metered.status).toBe(200);
    const view = (await metered.json()) as { linesMetered: number; featureId: string | null; costNanos: string };
    expect(view).toMatchObject({ linesMetered: 3, featureId: null });
    expect(BigInt(view.costNanos)).toBeGreaterThan(0n);
  });

  it('lists batches with cost for finance and without money for engineers; only admins trigger metering', async () => {
    const users = stack.app.get(UsersService);
    const sessions: Record<string, string> = {};
    const csrf: Record<string, string> = {};
    for (const role of ['finance', 'engineer'] as const) {
      const password = `batch test password ${randomBytes(4).toString('hex')}`;
      await users.create({ email: `${role}@batch.test`, password, role });
      const response = await fetch(`${stack.url}/api/auth/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: `${role}@batch.test`, password }) });
      sessions[role] = response.headers.get('set-cookie')!.split(';')[0];
      csrf[role] = ((await response.json()) as { csrfToken: string }).csrfToken;
    }
    const list = async (role: string) => (await (await fetch(`${stack.url}/api/batches`, { headers: { cookie: sessions[role] } })).json()) as { batches: Array<Record<string, unknown>> };
    const finance = await list('finance');
    const engineer = await list('engineer');
    expect(finance.batches.length).toBeGreaterThanOrEqual(4);
    expect(finance.batches.every((b) => typeof b.costNanos === 'string')).toBe(true);
    expect(engineer.batches.length).toBe(finance.batches.length);
    expect(engineer.batches.some((b) => 'costNanos' in b)).toBe(false);
    expect(engineer.batches[0]).toMatchObject({ status: expect.any(String), linesMetered: expect.any(Number), requestTotal: expect.any(Number) });
    const refused = await fetch(`${stack.url}/api/admin/batches/batch_x/meter`, { method: 'POST', headers: { cookie: sessions.finance, 'x-csrf-token': csrf.finance, 'content-type': 'application/json' }, body: '{}' });
    expect(refused.status).toBe(403);
  });
});
