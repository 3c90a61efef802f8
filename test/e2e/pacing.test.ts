// Pacing: a burst above an org's RPM through the official SDK. Two orgs with the same limits, one
// paced (PACING_ORGS) and one not, so the same run shows upstream 429s with pacing off vs on.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';

const METRICS_TOKEN = 'metrics-token-0123456789';
const RPM = 120; // refills one request every 500 ms
const BURST = RPM + 10;

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    orgs: [
      { id: 'org-paced', limits: { 'gpt-4o-mini': { rpm: RPM, tpm: 10_000_000 } } },
      { id: 'org-unpaced', limits: { 'gpt-4o-mini': { rpm: RPM, tpm: 10_000_000 } } },
      // One request every 30 s: past the wait bound, the gateway answers 429 itself.
      { id: 'org-slow', limits: { 'gpt-4o-mini': { rpm: 2, tpm: 10_000_000 } } },
    ],
    env: { PACING_ORGS: 'org-paced,org-slow', PACING_MAX_WAIT_MS: '15000', PACING_MAX_QUEUE: '500', METRICS_TOKEN },
  });
});
afterAll(() => stack?.close());

type Result = { status: number; code?: string | null; headers?: Headers };

async function burst(client: OpenAI, n: number): Promise<Result[]> {
  return Promise.all(
    Array.from({ length: n }, (_, i) =>
      client.chat.completions
        .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `Burst ${i}` }], max_tokens: 5 })
        .withResponse()
        .then(({ response }): Result => ({ status: response.status }))
        .catch((error: unknown): Result => {
          if (!(error instanceof OpenAI.APIError)) throw error;
          return { status: error.status ?? 0, code: error.code, headers: error.headers };
        }),
    ),
  );
}

const upstream429s = (org: string) => {
  const stats = stack.sim.stats().orgs[org];
  return stats ? stats.rateLimited.requests + stats.rateLimited.tokens : 0;
};

describe('pacing', () => {
  it('without pacing, a burst above the RPM limit spends calls on certain 429s', async () => {
    // 30 over the limit: on a loaded machine a burst spreads over seconds, and the window refills
    // one request per 500 ms, so a smaller excess could all fit.
    const results = await burst(stack.client(stack.features[1]), BURST + 20);
    const refused = results.filter((r) => r.status === 429).length;
    console.log(`pacing off: ${BURST + 20} requests at ${RPM} RPM -> ${upstream429s('org-unpaced')} upstream 429s`);
    expect(refused).toBeGreaterThan(0);
    expect(upstream429s('org-unpaced')).toBe(refused);
  });

  it('with pacing, the same burst gets zero upstream 429s and every request completes', async () => {
    const started = Date.now();
    const results = await burst(stack.client(stack.features[0]), BURST);
    const elapsed = Date.now() - started;
    console.log(`pacing on: ${BURST} requests at ${RPM} RPM -> ${upstream429s('org-paced')} upstream 429s, all done in ${elapsed} ms`);
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    expect(upstream429s('org-paced')).toBe(0);
    expect(stack.sim.stats().orgs['org-paced'].requests).toBe(BURST);
    // The extra 10 had to wait for the window to refill (500 ms each): it really held them.
    expect(elapsed).toBeGreaterThan(3_000);
  }, 30_000);

  it('past the wait bound answers 429 in OpenAI shape with retry-after from the reset, without calling OpenAI', async () => {
    const results = await burst(stack.client(stack.features[2]), 5);
    const ok = results.filter((r) => r.status === 200);
    const paced = results.filter((r) => r.code === 'gateway_paced');
    expect(ok).toHaveLength(2);
    expect(paced).toHaveLength(3);
    expect(upstream429s('org-slow')).toBe(0);
    expect(stack.sim.stats().orgs['org-slow'].requests).toBe(2);
    for (const r of paced) {
      expect(r.status).toBe(429);
      // 2 RPM: the next request fits about 30 s after the last one went out.
      const after = Number(r.headers!.get('retry-after'));
      expect(after).toBeGreaterThanOrEqual(20);
      expect(after).toBeLessThanOrEqual(61);
      expect(Number(r.headers!.get('retry-after-ms'))).toBeGreaterThan(19_000);
      expect(r.headers!.get('x-should-retry')).toBe('true');
    }

    const events = await stack.events();
    const pacedEvents = events.filter((e) => e.error_kind === 'paced');
    expect(pacedEvents).toHaveLength(3);
    expect(pacedEvents.every((e) => e.status === 429 && e.upstream_request_id === null)).toBe(true);
    const { rows } = await stack.db.query(`SELECT sum(paced)::int AS paced, sum(rate_limit_requests)::int AS rl FROM throttle_minutes WHERE org_id = $1`, [stack.orgs[2].id]);
    expect(rows[0]).toEqual({ paced: 3, rl: 0 });
  });

  it('reports the waits and the gateway\'s own 429s on /metrics, which asks for METRICS_TOKEN when one is set', async () => {
    expect((await fetch(`${stack.url}/metrics`)).status).toBe(401);
    const res = await fetch(`${stack.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(res.status).toBe(200);
    const text = await res.text();
    const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1]);
    expect(value(/^tallygate_pacing_wait_seconds_count (\d+)$/m)).toBeGreaterThanOrEqual(10);
    expect(value(/^tallygate_429_total\{[^}]*kind="paced"[^}]*\} (\d+)$/m)).toBe(3);
    expect(value(/^tallygate_pacing_queued_requests (\d+)$/m)).toBe(0);
  });
});
