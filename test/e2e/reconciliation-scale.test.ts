// How long a first sync of 90 days × 3 orgs takes against the simulator (docs/reconciliation.md), and that
// it stores every bucket the simulator billed exactly once, to the nano-dollar.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SyncService } from '../../server/reconciliation/sync.service.js';
import { simulatedKeyId } from '../../server/simulator/simulator.js';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
const DAYS = 90;
const HOUR = 3_600_000;

beforeAll(async () => {
  stack = await startStack({ env: { RECON_SYNC_INTERVAL_MS: '0', RECON_BACKFILL_DAYS: String(DAYS) } });
  for (const org of stack.orgs) {
    stack.sim.setOrg({ id: org.openaiOrgId, keys: [org.upstreamKey], adminKeys: [`sk-admin-${org.openaiOrgId}-scale-0123456789`] });
    await stack.orgsService.setAdminKey(org.id, `sk-admin-${org.openaiOrgId}-scale-0123456789`);
    // Every hour of 90 days: two models, two keys (Tallygate's and another), and an embedding.
    const now = Date.now();
    for (let hour = DAYS * 24 - 1; hour >= 1; hour--) {
      const at = now - hour * HOUR;
      for (const [model, apiKeyId] of [
        ['gpt-4o-mini-2024-07-18', simulatedKeyId(org.upstreamKey)],
        ['gpt-4o-2024-08-06', simulatedKeyId(org.upstreamKey)],
        ['gpt-4o-mini-2024-07-18', 'key_outside0000000'],
      ] as const) {
        stack.sim.bill({ at, orgId: org.openaiOrgId, apiKeyId, projectId: null, endpoint: 'completions', model, requests: 7, inputTokens: 900, cachedTokens: 100, outputTokens: 210, audioInputTokens: 0, seconds: 0 });
      }
      stack.sim.bill({ at, orgId: org.openaiOrgId, apiKeyId: simulatedKeyId(org.upstreamKey), projectId: null, endpoint: 'embeddings', model: 'text-embedding-3-small', requests: 3, inputTokens: 400, cachedTokens: 0, outputTokens: 0, audioInputTokens: 0, seconds: 0 });
    }
  }
}, 60_000);
afterAll(() => stack?.close());

it('syncs 90 days of hourly usage and daily costs for 3 orgs', async () => {
  const started = performance.now();
  const outcomes = await stack.app.get(SyncService).syncDue(0);
  const ms = performance.now() - started;
  expect(outcomes.map((o) => o.result)).toEqual(['synced', 'synced', 'synced']);
  const pages = outcomes.reduce((n, o) => n + o.pages, 0);
  const rows = (await stack.db.query('SELECT count(*)::int AS n FROM recon_usage_buckets')).rows[0].n;
  console.log(`sync of ${DAYS} days x 3 orgs: ${Math.round(ms)} ms, ${pages} pages, ${rows} usage rows`);
  // 3 groups of completions and 1 of embeddings per hour, per org.
  expect(rows).toBe(3 * (DAYS * 24 - 1) * 4);
  const requests = (await stack.db.query(`SELECT sum(requests)::int AS n FROM recon_usage_buckets WHERE endpoint = 'completions'`)).rows[0].n;
  expect(requests).toBe(3 * (DAYS * 24 - 1) * 3 * 7);
  // The costs stored add up to what the simulator billed, exactly.
  const billed = (await stack.db.query(`SELECT trim_scale(sum(amount))::text AS s FROM recon_cost_buckets`)).rows[0].s;
  const expected = await expectedCostUsd();
  expect(billed).toBe(expected);
  expect(ms).toBeLessThan(120_000);

  // The scheduled sync after it: from each watermark, the last hour (or day) again.
  const again = performance.now();
  const incremental = await stack.app.get(SyncService).syncDue(0);
  console.log(`next sync of 3 orgs: ${Math.round(performance.now() - again)} ms, ${incremental.reduce((n, o) => n + o.pages, 0)} pages`);
  expect((await stack.db.query('SELECT count(*)::int AS n FROM recon_usage_buckets')).rows[0].n).toBe(rows);
}, 180_000);

/** What the simulator billed, summed from its answer to one costs query per org (independent of the sync's paging). */
async function expectedCostUsd(): Promise<string> {
  let nanos = 0n;
  for (const org of stack.orgs) {
    const start = Math.floor((Date.now() - DAYS * 86_400_000) / 86_400_000) * 86_400;
    const res = await fetch(`${stack.sim.url}/organization/costs?start_time=${start}&limit=180`, { headers: { authorization: `Bearer sk-admin-${org.openaiOrgId}-scale-0123456789` } });
    const text = await res.text();
    for (const m of text.matchAll(/"value":(\d+)\.(\d+)/g)) nanos += BigInt(m[1]) * 1_000_000_000n + BigInt(m[2].padEnd(9, '0'));
  }
  const fraction = (nanos % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${nanos / 1_000_000_000n}${fraction ? `.${fraction}` : ''}`;
}
