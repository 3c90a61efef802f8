// The gateway-key cache under load: when an entry expires, one lookup refreshes it for every
// request (which keep being served meanwhile), and a key revoked elsewhere (another replica, so
// this process is not told) stops working within the TTL plus that one lookup.
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';

// Long enough that the 40 requests below resolve within one TTL even on a loaded machine (at 300 ms
// they sometimes did not, and a second refresh was counted).
const TTL_MS = 1_000;
let stack: Stack;
let lookups = 0;

beforeAll(async () => {
  stack = await startStack({ env: { KEY_CACHE_TTL_MS: String(TTL_MS) } });
  const dataSource = stack.app.get(DataSource);
  const query = dataSource.query.bind(dataSource);
  // Counts key lookups, and makes each take 100 ms (a busy database) so that requests overlap it.
  dataSource.query = (async (sql: string, ...rest: unknown[]) => {
    if (sql.includes('FROM gateway_keys gk')) {
      lookups++;
      await sleep(100);
    }
    return (query as (...args: unknown[]) => Promise<unknown>)(sql, ...rest);
  }) as typeof dataSource.query;
});
afterAll(() => stack?.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const chat = (feature = stack.features[0]) =>
  stack.client(feature).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'key cache' }] });

it('refreshes an expired key with one lookup while the requests that need it keep going', async () => {
  await chat();
  await sleep(TTL_MS + 50); // expired, but recently
  lookups = 0;
  const results = await Promise.allSettled(Array.from({ length: 40 }, () => chat()));
  expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
  expect(lookups).toBe(1);
});

it('waits for the lookup when the entry expired long ago', async () => {
  await chat();
  await sleep(2 * TTL_MS + 100);
  lookups = 0;
  await Promise.all(Array.from({ length: 10 }, () => chat()));
  expect(lookups).toBe(1);
});

it('stops a key revoked on another replica within the TTL plus one lookup', async () => {
  const feature = stack.features[1];
  await chat(feature);
  // Another replica revokes it: this process's OrgsService never hears of it.
  await stack.db.query('UPDATE gateway_keys SET revoked_at = now() WHERE feature_id = $1', [feature.id]);
  await sleep(TTL_MS + 50);
  await chat(feature).catch(() => undefined); // may still pass on the entry being refreshed
  await sleep(300); // the refresh (100 ms here) has landed
  await expect(chat(feature)).rejects.toMatchObject({ status: 401 });

  // Long after: no stale entry is served at all.
  await sleep(2 * TTL_MS + 100);
  await expect(chat(feature)).rejects.toMatchObject({ status: 401 });
});

it('does not serve a cached key once it is revoked in this process', async () => {
  const feature = stack.features[2];
  await stack.client(feature).models.list();
  const [key] = (await stack.db.query('SELECT id FROM gateway_keys WHERE feature_id = $1 AND revoked_at IS NULL', [feature.id])).rows;
  await stack.orgsService.revokeGatewayKey(key.id as string);
  await expect(stack.client(feature).models.list()).rejects.toMatchObject({ status: 401 });
});
