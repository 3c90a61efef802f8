// The gateway-key cache under load: when an entry expires, one lookup refreshes it for every
// request (which keep being served meanwhile), and a key revoked elsewhere (another replica, so
// this process is not told) stops working within the TTL plus that one lookup. The app's clock is
// a ManualClock: expiry is reached by moving it, so a slow machine cannot age an entry mid-test.
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { ManualClock } from '../../server/config/clock.js';
import { RoutesRepository } from '../../server/orgs/routes.repository.js';
import { startStack, type Stack } from '../support/stack.js';

const TTL_MS = 1_000;
const clock = new ManualClock();
let stack: Stack;
let lookups = 0;
/** Lookups still running: a refresh in the background lands when this is back to 0. */
let running = 0;

beforeAll(async () => {
  stack = await startStack({ env: { KEY_CACHE_TTL_MS: String(TTL_MS) }, clock });
  const routes = stack.app.get(RoutesRepository);
  const lookup = routes.routesFor.bind(routes);
  // Counts key lookups, and makes each take 100 ms (a busy database) so that requests overlap it.
  vi.spyOn(routes, 'routesFor').mockImplementation(async (hash) => {
    lookups++;
    running++;
    try {
      await sleep(100);
      return await lookup(hash);
    } finally {
      running--;
    }
  });
});
afterAll(() => stack?.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const settled = async () => {
  while (running > 0) await sleep(10);
};
const chat = (feature = stack.features[0]) =>
  stack.client(feature).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'key cache' }] });

it('refreshes an expired key with one lookup while the requests that need it keep going', async () => {
  await chat();
  clock.advance(TTL_MS + 50); // expired, but recently
  lookups = 0;
  const results = await Promise.allSettled(Array.from({ length: 40 }, () => chat()));
  expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
  expect(lookups).toBe(1);
});

it('waits for the lookup when the entry expired long ago', async () => {
  await chat();
  await settled();
  clock.advance(2 * TTL_MS + 100);
  lookups = 0;
  await Promise.all(Array.from({ length: 10 }, () => chat()));
  expect(lookups).toBe(1);
});

it('counts the TTL from when the lookup answered, not from when it started', async () => {
  await settled();
  clock.advance(2 * TTL_MS + 100);
  lookups = 0;
  // The lookup takes 100 ms of real time; meanwhile the clock moves most of a TTL.
  const waiting = chat();
  await sleep(20);
  clock.advance(TTL_MS - 100);
  await waiting;
  expect(lookups).toBe(1);
  clock.advance(150); // past the TTL counted from the start, within the TTL counted from the answer
  await chat();
  await settled();
  expect(lookups).toBe(1);
});

it('stops a key revoked on another replica within the TTL plus one lookup', async () => {
  const feature = stack.features[1];
  await chat(feature);
  await settled();
  // Another replica revokes it: this process's OrgsService never hears of it.
  await stack.db.query('UPDATE gateway_keys SET revoked_at = now() WHERE feature_id = $1', [feature.id]);
  await expect(chat(feature)).resolves.toBeDefined(); // within the TTL this process does not know yet
  clock.advance(TTL_MS + 50);
  await chat(feature).catch(() => undefined); // may still pass on the entry being refreshed
  await settled(); // the refresh has landed
  await expect(chat(feature)).rejects.toMatchObject({ status: 401 });

  // Long after: no stale entry is served at all.
  clock.advance(2 * TTL_MS + 100);
  await expect(chat(feature)).rejects.toMatchObject({ status: 401 });
});

it('does not serve a cached key once it is revoked in this process', async () => {
  const feature = stack.features[2];
  await stack.client(feature).models.list();
  const [key] = (await stack.db.query('SELECT id FROM gateway_keys WHERE feature_id = $1 AND revoked_at IS NULL', [feature.id])).rows;
  await stack.orgsService.revokeGatewayKey(key.id as string);
  await expect(stack.client(feature).models.list()).rejects.toMatchObject({ status: 401 });
});
