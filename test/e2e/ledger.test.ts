// The ledger's promises: a request never waits for Postgres, no event is lost while Postgres is
// unavailable (they wait, then spill to disk), none is written twice, and shutdown flushes all.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shutdown } from '../../server/app.js';
import { LedgerWriter } from '../../server/ledger/ledger.writer.js';
import { usageEvent, type Outcome, type UsageEvent } from '../../server/ledger/usage-event.js';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  // No flush timer: the tests tick the writer themselves (a timer firing on a loaded machine would race them).
  stack = await startStack({ env: { LEDGER_MAX_QUEUE: '5', LEDGER_BATCH_SIZE: '3', LEDGER_FLUSH_INTERVAL_MS: '3600000' } });
});
afterAll(() => stack?.close());

const chat = () => stack.client().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'ledger test' }] });
const count = async (table: string) => Number((await stack.db.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);

describe('ledger writer', () => {
  it('keeps serving while Postgres refuses writes, spills past the bound, and catches up exactly once', async () => {
    await stack.ledger.flush();
    await stack.db.query('TRUNCATE usage_events, usage_hourly');
    // Make every insert fail, as a Postgres outage would.
    await stack.db.query('ALTER TABLE usage_events RENAME TO usage_events_offline');
    const calls = 12;
    for (let i = 0; i < calls; i++) await chat(); // every call still answers
    await stack.ledger.flush();
    const dataDir = stack.app.get(LedgerWriter).spillDir;
    const spilled = (await readdir(dataDir).catch(() => [])).filter((f) => f.endsWith('.jsonl'));
    expect(spilled.length).toBeGreaterThan(0);
    expect(stack.ledger.snapshot().spilled).toBeGreaterThan(0);

    await stack.db.query('ALTER TABLE usage_events_offline RENAME TO usage_events');
    for (let i = 0; i < 50 && (await count('usage_events')) < calls; i++) {
      await new Promise((r) => setTimeout(r, 100));
      await stack.ledger.flush();
    }
    expect(await count('usage_events')).toBe(calls);
    expect((await stack.db.query('SELECT sum(requests)::int AS n FROM usage_hourly')).rows[0].n).toBe(calls);
    expect((await readdir(dataDir)).filter((f) => f.endsWith('.jsonl'))).toHaveLength(0);
  });

  it('writes full batches on the timer and leaves a partial one that arrived meanwhile for the next tick', async () => {
    await stack.ledger.flush();
    await stack.db.query('TRUNCATE usage_events');
    const ledger = stack.ledger;
    const record = (n: number) => {
      for (let i = 0; i < n; i++) stack.ledger.record(usageEvent({ createdAt: new Date() }));
    };
    record(2); // under a batch (3): waits for the timer
    const writing = ledger.tick()!;
    record(2); // arrives during the write: less than a batch, so no second statement for it
    await writing;
    expect(stack.ledger.snapshot().queued).toBe(2);
    expect(await count('usage_events')).toBe(2);

    const next = ledger.tick()!; // writes those 2
    record(4); // a full batch arrives during the write: written in the same drain, 1 left over
    await next;
    expect(stack.ledger.snapshot().queued).toBe(1);
    expect(await count('usage_events')).toBe(7);
    await stack.ledger.flush(); // flush() writes everything
    expect(stack.ledger.snapshot().queued).toBe(0);
    expect(await count('usage_events')).toBe(8);
  });

  it('folds rate-limit observations per org, model family and minute: latest values, minimums, count', async () => {
    await stack.resetUsage();
    const orgId = stack.orgs[0].id;
    const minute = Date.UTC(2026, 10, 26, 12, 0);
    const at = (s: number) => new Date(minute + s * 1000);
    const seen = (s: number, model: string | null, remainingRequests: number, remainingTokens: number) =>
      usageEvent({ createdAt: at(s), ttfbMs: 0, orgId, model, rateLimits: { limitRequests: 100, remainingRequests, resetRequestsMs: s, limitTokens: 1000, remainingTokens, resetTokensMs: s } });
    // One batch, dated snapshot and alias mixed, the latest observation not last; one event without a model.
    for (const e of [seen(10, 'gpt-4o-mini-2024-07-18', 50, 400), seen(40, 'gpt-4o-mini', 70, 900), seen(20, 'gpt-4o-mini', 30, 800), seen(30, null, 1, 1)]) stack.ledger.record(e);
    await stack.ledger.flush();
    // A later batch with an older observation adds to the count and minimums but not to "latest".
    stack.ledger.record(seen(5, 'gpt-4o-mini', 10, 950));
    await stack.ledger.flush();

    const { rows } = await stack.db.query('SELECT model, remaining_requests, remaining_tokens, reset_requests_ms, min_remaining_requests, min_remaining_tokens, observations FROM ratelimit_minutes');
    expect(rows).toEqual([
      { model: 'gpt-4o-mini', remaining_requests: 70, remaining_tokens: '900', reset_requests_ms: 40, min_remaining_requests: 10, min_remaining_tokens: '400', observations: 4 },
    ]);
    const throttle = await stack.db.query('SELECT model, requests FROM throttle_minutes ORDER BY model NULLS LAST');
    expect(throttle.rows).toEqual([{ model: 'gpt-4o-mini', requests: 4 }, { model: null, requests: 1 }]);
  });

  it('stores text exactly, whatever it contains', async () => {
    await stack.resetUsage();
    const texts = ['NULL', 'a "quoted", {braced} value', 'back\\slash \\"', 'line\nbreak\ttab', 'ünïcödé ✓', '', ' padded '];
    const at = (i: number) => new Date(Date.now() + i); // distinct times: rows come back in this order
    texts.forEach((text, i) => stack.ledger.record(usageEvent({ createdAt: at(i), errorCode: text, upstreamRequestId: text, model: `m-${text}` })));
    stack.ledger.record(usageEvent({ createdAt: at(texts.length), errorCode: null, upstreamRequestId: null }));
    const rows = await stack.events();
    expect(rows.map((r) => r.error_code)).toEqual([...texts, null]);
    expect(rows.map((r) => r.upstream_request_id)).toEqual([...texts, null]);
    expect(rows.map((r) => r.model)).toEqual([...texts.map((t) => `m-${t}`), 'gpt-4o-mini']);
  });

  it('sets aside a row Postgres refuses instead of retrying its batch forever; stores NUL as U+FFFD', async () => {
    await stack.resetUsage();
    const rejectedBefore = stack.ledger.snapshot().rejected;
    const at = (i: number) => new Date(Date.now() + i);
    const good = [0, 1, 2].map((i) => usageEvent({ createdAt: at(i), model: i === 1 ? 'nul\u0000model' : 'gpt-4o-mini' }));
    // Violates usage_events_outcome_check (SQLSTATE 23514, not class 22): refused whatever the batch.
    const bad = usageEvent({ createdAt: at(3), outcome: 'bogus' as Outcome });
    for (const e of [good[0], bad, good[1], good[2]]) stack.ledger.record(e);
    const rows = await stack.events();
    expect(rows.map((r) => r.id)).toEqual(good.map((e) => e.id));
    expect(rows[1].model).toBe('nul\uFFFDmodel');
    expect(stack.ledger.snapshot()).toMatchObject({ queued: 0, rejected: rejectedBefore + 1 });
    const dir = stack.ledger.rejectDir;
    const kept = await readFile(join(dir, (await readdir(dir))[0]), 'utf8');
    expect(kept).toContain(bad.id);
  });

  it('ignores a batch written twice (same event ids): no duplicate rows, rollups counted once', async () => {
    await stack.ledger.flush();
    await stack.db.query('TRUNCATE usage_events, usage_hourly');
    await chat();
    const [row] = await stack.events();
    // The row as read back (pg's types), written again as the event it was.
    const replay = {
      id: row.id, createdAt: row.created_at, orgId: row.org_id, featureId: row.feature_id, gatewayKeyId: row.gateway_key_id,
      endpoint: row.endpoint, model: row.model, serviceTier: row.service_tier, streamed: row.streamed, status: row.status,
      outcome: row.outcome, errorKind: null, errorType: null, errorCode: null, inputTokens: row.input_tokens, cachedTokens: 0,
      outputTokens: row.output_tokens, reasoningTokens: 0, audioInputTokens: 0, audioSeconds: null, audioSource: null,
      usageSource: 'reported', costNanos: row.cost_nanos, priceId: row.price_id, latencyMs: row.latency_ms, ttfbMs: row.ttfb_ms,
      upstreamRequestId: row.upstream_request_id, retryCount: 0, rateLimits: {},
    } as unknown as UsageEvent;
    await stack.ledger.write([replay]);
    expect(await count('usage_events')).toBe(1);
    expect((await stack.db.query('SELECT sum(requests)::int AS n FROM usage_hourly')).rows[0].n).toBe(1);
  });
});

describe('shutdown', () => {
  it('lets an in-flight stream finish, then records it', async () => {
    const own = await startStack();
    const stream = await own.client().chat.completions.create(
      { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'a slow answer' }] },
      { headers: { 'x-sim-token-ms': '20' } },
    );
    let finish: string | null = null;
    let stopping: Promise<void> | undefined;
    for await (const chunk of stream) {
      stopping ??= shutdown(own.app, 5_000); // SIGTERM arrives mid-stream
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    await stopping;
    expect(finish).toBe('stop');
    const rows = (await own.db.query('SELECT outcome, streamed FROM usage_events')).rows;
    expect(rows).toEqual([{ outcome: 'ok', streamed: true }]);
    await own.db.end();
    await own.sim.close();
  });

  it('flushes every queued event before the process lets go of Postgres', async () => {
    const own = await startStack({ env: { LEDGER_FLUSH_INTERVAL_MS: '60000', LEDGER_BATCH_SIZE: '1000' } });
    for (let i = 0; i < 7; i++) await own.client().embeddings.create({ model: 'text-embedding-3-small', input: 'x' });
    expect(own.ledger.snapshot().queued).toBe(7); // nothing written yet: the timer is a minute away
    const db = own.db;
    await own.app.close();
    expect(Number((await db.query('SELECT count(*) AS n FROM usage_events')).rows[0].n)).toBe(7);
    await db.end();
    await own.sim.close();
  });
});
