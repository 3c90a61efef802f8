// The gateway's own store (Postgres) goes away: keys already seen keep working from the cache, an
// unknown key is told the gateway's store is down (503, retryable) instead of a 502 blaming OpenAI,
// and a revocation made meanwhile applies once Postgres is back. The outage is real: the test
// database stops accepting connections and every session on it is terminated, as a Postgres
// restart or failover does to the gateway's pool.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';

const TTL_MS = 200;
let stack: Stack;
/** A session on the test database kept open through the outage: "another replica". */
let operator: pg.Client;
/** On the server's own database: turns the test database's connections off and on. */
let admin: pg.Client;
let database: string;
let operatorPid: number;

beforeAll(async () => {
  stack = await startStack({ env: { KEY_CACHE_TTL_MS: String(TTL_MS), KEY_CACHE_OUTAGE_MS: '60000' } });
  operator = new pg.Client({ connectionString: stack.db.options.connectionString });
  await operator.connect();
  const [me] = (await operator.query('SELECT current_database() AS name, pg_backend_pid() AS pid')).rows as Array<{ name: string; pid: number }>;
  [database, operatorPid] = [me.name, me.pid];
  const url = new URL(stack.db.options.connectionString!);
  url.pathname = '/postgres';
  admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
});
afterAll(async () => {
  await admin?.query(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS true`).catch(() => undefined);
  await admin?.end();
  await operator?.end();
  await stack?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const chat = (apiKey: string) =>
  fetch(`${stack.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'outage' }] }),
  });

async function stopPostgres(): Promise<void> {
  await admin.query(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS false`);
  await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> $2', [database, operatorPid]);
}
const startPostgres = () => admin.query(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS true`);

it('keeps known keys working through a Postgres outage, tells unknown keys the store is down, and applies a revocation once it is back', async () => {
  const [kept, revoked] = stack.features;
  // A budget too: its month-to-date check must not stall the calls during the outage either.
  await operator.query('UPDATE features SET monthly_budget_nanos = 1000000000000 WHERE id = $1', [kept.id]);
  for (const feature of [kept, revoked]) expect((await chat(feature.gatewayKey)).status).toBe(200);

  await stopPostgres();
  try {
    await sleep(TTL_MS + 1_200); // both entries expired long ago (past the stale-refresh window)
    const started = performance.now();
    const during = await Promise.all(Array.from({ length: 20 }, () => chat(kept.gatewayKey)));
    expect(during.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(performance.now() - started).toBeLessThan(3_000);

    const stranger = await chat(`tg-${randomBytes(32).toString('base64url')}`);
    expect(stranger.status).toBe(503);
    expect(stranger.headers.get('x-should-retry')).toBe('true');
    expect(Number(stranger.headers.get('retry-after'))).toBeGreaterThan(0);
    const body = (await stranger.json()) as { error: { code: string; type: string; message: string } };
    expect(body.error).toMatchObject({ code: 'gateway_store_unavailable', type: 'server_error' });
    expect(body.error.message).toMatch(/not an OpenAI outage/);
    expect(body.error.message).not.toContain(database); // no database details in a client's answer

    // Another replica (whose connection survived) revokes a key meanwhile: this one cannot know yet.
    await operator.query('UPDATE gateway_keys SET revoked_at = now() WHERE feature_id = $1', [revoked.id]);
    expect((await chat(revoked.gatewayKey)).status).toBe(200);
  } finally {
    await startPostgres();
  }

  // Back: the next successful lookup replaces the entry, so the revocation applies within a probe.
  const deadline = Date.now() + 5_000;
  let status = 200;
  while (Date.now() < deadline && (status = (await chat(revoked.gatewayKey)).status) === 200) await sleep(100);
  expect(status).toBe(401);
  expect((await chat(kept.gatewayKey)).status).toBe(200);

  // The ledger writes what waited through the outage on its own retry schedule: the 2 calls before,
  // the 20 and the revoked key's call during it, and those after (the revocation probe polls).
  let events = await stack.events();
  for (let i = 0; i < 50 && events.filter((e) => e.status === 200).length < 24; i++) await sleep(100), (events = await stack.events());
  expect(events.filter((e) => e.status === 200).length).toBeGreaterThanOrEqual(24);
  // Whose key the stranger's was could not be checked: it is counted, not written as a row.
  expect(events.filter((e) => e.status === 503)).toEqual([]);
  const metrics = await (await fetch(`${stack.url}/metrics`)).text();
  expect(metrics).toMatch(/tallygate_anonymous_requests_total\{reason="key_unverified"\} 1\b/);
  expect(events.filter((e) => e.error_kind === 'upstream_unreachable')).toEqual([]);
}, 30_000);
