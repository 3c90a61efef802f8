// Anonymous callers cannot grow the gateway's memory: a string that cannot be a Tallygate key is
// refused with 401 without a database lookup or a cache entry, and well-formed keys Tallygate never
// issued are cached in a bounded map (measured before: +208 MB from 14,000 requests of 15 KB keys).
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { RouteResolver } from '../../server/orgs/route-resolver.js';
import { RoutesRepository } from '../../server/orgs/routes.repository.js';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
let lookups = 0;
const agent = new Agent({ connections: 16 });

beforeAll(async () => {
  stack = await startStack({ env: { KEY_CACHE_TTL_MS: '600000' } });
  const routes = stack.app.get(RoutesRepository);
  const lookup = routes.routesFor.bind(routes);
  vi.spyOn(routes, 'routesFor').mockImplementation((hash) => {
    lookups++;
    return lookup(hash);
  });
});
afterAll(async () => {
  await agent.close();
  await stack?.close();
});

/** Sends `count` requests, `concurrency` at a time, each with the key `keyFor(i)`; returns the statuses seen. */
async function flood(count: number, concurrency: number, keyFor: (i: number) => string): Promise<Set<number>> {
  const statuses = new Set<number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const res = await request(`${stack.url}/v1/models`, { dispatcher: agent, headers: { authorization: `Bearer ${keyFor(i)}` } });
        await res.body.dump();
        statuses.add(res.statusCode);
      }
    }),
  );
  return statuses;
}

it('refuses 14,000 big malformed keys with 401, without a lookup or a cache entry', async () => {
  const resolver = stack.app.get(RouteResolver);
  lookups = 0;
  const junk = randomBytes(7_500).toString('hex'); // 15 KB
  const statuses = await flood(14_000, 32, (i) => `${junk}${i}`);
  expect([...statuses]).toEqual([401]);
  expect(lookups).toBe(0);
  expect(resolver.cacheSize()).toEqual({ known: 0, unknown: 0 });

  // Near misses too: the right prefix with the wrong length or characters.
  for (const key of ['tg-short', `tg-${'a'.repeat(44)}`, `tg-${'!'.repeat(43)}`, `sk-${'a'.repeat(43)}`]) {
    expect((await flood(1, 1, () => key)).has(401)).toBe(true);
  }
  expect(lookups).toBe(0);
}, 120_000);

it('bounds the cache of well-formed keys it never issued, and still serves real keys', async () => {
  const resolver = stack.app.get(RouteResolver);
  lookups = 0;
  const statuses = await flood(10_500, 32, () => `tg-${randomBytes(32).toString('base64url')}`);
  expect([...statuses]).toEqual([401]);
  expect(lookups).toBe(10_500); // well-formed: each had to be looked up once
  expect(resolver.cacheSize().unknown).toBeLessThanOrEqual(10_000);
  // A repeated unknown key is answered from the cache.
  const repeated = `tg-${randomBytes(32).toString('base64url')}`;
  await flood(5, 1, () => repeated);
  expect(lookups).toBe(10_501);
  await expect(stack.client().models.list()).resolves.toBeTruthy();
}, 120_000);
