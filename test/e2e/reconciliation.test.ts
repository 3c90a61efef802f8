// Reconciliation against the simulator, which keeps its own bill and answers OpenAI's admin Usage and Costs
// API from it: the ledger beside OpenAI's numbers, each gap explained, and a sync that pages, resumes at its
// watermark after a restart and stores each bucket once when two replicas sync together.
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../server/app.js';
import { APP_CONFIG, type AppConfig } from '../../server/config/config.js';
import { StatementService } from '../../server/analytics/statement.service.js';
import type { Statement } from '../../server/analytics/statement.types.js';
import type { OrgDayLine, ReconciliationReport } from '../../server/reconciliation/reconciliation.dto.js';
import { ReconciliationService } from '../../server/reconciliation/reconciliation.service.js';
import { SyncService } from '../../server/reconciliation/sync.service.js';
import { simulatedKeyId } from '../../server/simulator/simulator.js';
import { ADMIN_TOKEN, startStack, type Stack, type StackOrg } from '../support/stack.js';

const today = () => new Date().toISOString().slice(0, 10);
const adminKeyOf = (org: StackOrg) => `sk-admin-${org.openaiOrgId}-0123456789abcdef`;
/** A second key of the org, never given to Tallygate: what a team uses when it goes around the gateway. */
const directKeyOf = (org: StackOrg) => `sk-direct-${org.openaiOrgId}-0123456789abcdef`;

let stack: Stack;
let alpha: StackOrg;

async function api(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${stack.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function report(): Promise<ReconciliationReport> {
  const response = await api('GET', `/api/analytics/reconciliation?from=${today()}&to=${today()}&org=${alpha.id}`);
  expect(response.status).toBe(200);
  return (await response.json()) as ReconciliationReport;
}

async function alphaToday(): Promise<OrgDayLine> {
  const line = (await report()).days.find((d) => d.orgId === alpha.id && d.day === today());
  if (!line) throw new Error('no reconciliation line for alpha today');
  return line;
}

async function sync(): Promise<void> {
  await stack.ledger.flush();
  const outcome = await stack.app.get(SyncService).syncOrg(alpha.id);
  expect(outcome.result).toBe('synced');
}

const chat = (client: OpenAI, model = 'gpt-4o-mini', content = 'reconcile me') =>
  client.chat.completions.create({ model, messages: [{ role: 'user', content }] });

beforeAll(async () => {
  stack = await startStack({ env: { RECON_SYNC_INTERVAL_MS: '0', RECON_BACKFILL_DAYS: '2' } });
  alpha = stack.orgs[0];
  // The org's admin key and a second key the simulator knows but Tallygate does not.
  stack.sim.setOrg({ id: alpha.openaiOrgId, keys: [alpha.upstreamKey, directKeyOf(alpha)], adminKeys: [adminKeyOf(alpha)] });
  expect((await api('PUT', `/api/admin/orgs/${alpha.id}/admin-key`, { adminKey: adminKeyOf(alpha) })).status).toBe(200);
  const [key] = (await stack.orgsService.getOrg(alpha.id)).upstreamKeys;
  expect((await api('PATCH', `/api/admin/orgs/${alpha.id}/keys/${key.id}`, { openaiKeyId: simulatedKeyId(alpha.upstreamKey) })).status).toBe(200);
});

afterAll(async () => {
  await stack?.close();
});

beforeEach(async () => {
  await stack.resetUsage();
  await stack.db.query('TRUNCATE recon_usage_buckets, recon_cost_buckets, recon_sync_state, recon_leases');
});

describe('the admin key', () => {
  it('is masked everywhere, audited, rotatable, and its absence turns reconciliation off', async () => {
    const org = (await (await api('GET', `/api/admin/orgs/${alpha.id}`)).json()) as { adminKey: { masked: string } | null };
    expect(org.adminKey?.masked).toBe(`sk-…${adminKeyOf(alpha).slice(-4)}`);
    const everything = JSON.stringify(await (await api('GET', '/api/admin/orgs')).json());
    expect(everything).not.toContain(adminKeyOf(alpha));
    const audit = (await stack.db.query(`SELECT action, details::text FROM audit_log WHERE action LIKE 'admin_key.%'`)).rows;
    expect(audit.map((a) => a.action)).toContain('admin_key.set');
    expect(JSON.stringify(audit)).not.toContain(adminKeyOf(alpha));

    const beta = stack.orgs[1];
    const states = (await (await api('GET', '/api/analytics/reconciliation/status')).json()) as Array<{ orgId: string; enabled: boolean }>;
    expect(states.find((s) => s.orgId === beta.id)?.enabled).toBe(false);
    expect(states.find((s) => s.orgId === alpha.id)?.enabled).toBe(true);
    expect((await stack.app.get(SyncService).syncOrg(beta.id)).result).toBe('skipped');

    // On demand: answered at once, the sync's end shows in the status.
    const started = await api('POST', '/api/admin/reconciliation/sync', { orgId: alpha.id });
    expect(started.status).toBe(202);
    await expect
      .poll(async () => ((await (await api('GET', '/api/analytics/reconciliation/status')).json()) as Array<{ orgId: string; sync: { lastSuccessAt: string | null } }>).find((s) => s.orgId === alpha.id)?.sync.lastSuccessAt, { timeout: 20_000 })
      .not.toBeNull();

    // Rotation: the new key replaces the old one, and the rotation is audited.
    stack.sim.setOrg({ id: alpha.openaiOrgId, keys: [alpha.upstreamKey, directKeyOf(alpha)], adminKeys: [adminKeyOf(alpha), `${adminKeyOf(alpha)}-2`] });
    expect((await api('PUT', `/api/admin/orgs/${alpha.id}/admin-key`, { adminKey: `${adminKeyOf(alpha)}-2` })).status).toBe(200);
    expect((await stack.db.query(`SELECT count(*)::int AS n FROM audit_log WHERE action = 'admin_key.rotate'`)).rows[0].n).toBe(1);
    expect(await stack.orgsService.openAdminKey(alpha.id)).toBe(`${adminKeyOf(alpha)}-2`);
    await api('PUT', `/api/admin/orgs/${alpha.id}/admin-key`, { adminKey: adminKeyOf(alpha) });
  });
});

describe('the report', () => {
  it('reconciles gateway-only traffic to a zero difference, exactly', async () => {
    const client = stack.client();
    for (let i = 0; i < 5; i++) await chat(client, 'gpt-4o-mini', `question ${i} about the invoice`);
    await chat(client, 'gpt-4o', 'a longer question for a larger model');
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'stream it' }] });
    for await (const _ of stream) void _;
    await client.embeddings.create({ model: 'text-embedding-3-small', input: 'embed this sentence' });
    await sync();

    const line = await alphaToday();
    expect(line.gaps, JSON.stringify(line, null, 1)).toEqual([]);
    expect(BigInt(line.ledger.costNanos)).toBeGreaterThan(0n);
    expect(line.openai.costNanos).toBe(line.ledger.costNanos);
    expect(line.differenceNanos).toBe('0');
    expect(line.differencePercent).toBe('0.00');
    expect(line.gaps).toEqual([]);
    expect(line.openai.requests).toBe(8);
    expect(line.ledger.requests).toBe(8);
    expect(line.openai.inputTokens).toBe(line.ledger.inputTokens);
    expect(line.openai.outputTokens).toBe(line.ledger.outputTokens);
    expect(line.models.map((m) => m.model)).toEqual(['gpt-4o', 'gpt-4o-mini', 'text-embedding-3-small']);
  });

  it('shows calls made with a key outside Tallygate, with their key id and amount', async () => {
    await chat(stack.client());
    const direct = new OpenAI({ baseURL: stack.sim.url, apiKey: directKeyOf(alpha), maxRetries: 0 });
    await chat(direct, 'gpt-4o', 'straight to OpenAI');
    await chat(direct, 'gpt-4o', 'straight to OpenAI again');
    await sync();

    const line = await alphaToday();
    const outside = line.gaps.find((g) => g.kind === 'outside_tallygate');
    expect(outside?.keys?.map((k) => k.apiKeyId)).toEqual([simulatedKeyId(directKeyOf(alpha))]);
    expect(outside?.keys?.[0].requests).toBe(2);
    expect(BigInt(outside!.nanos)).toBeGreaterThan(0n);
    // The whole difference is that spend: the gateway's own calls still match exactly.
    expect(line.differenceNanos).toBe(outside!.nanos);
    expect(line.gaps.map((g) => g.kind)).toEqual(['outside_tallygate']);

    const keys = (await (await api('GET', `/api/analytics/reconciliation/keys?from=${today()}&to=${today()}&org=${alpha.id}`)).json()) as Array<{
      apiKeyId: string;
      upstreamKey: { masked: string } | null;
      costNanos: string;
    }>;
    expect(keys.find((k) => k.apiKeyId === simulatedKeyId(directKeyOf(alpha)))?.upstreamKey).toBeNull();
    expect(keys.find((k) => k.apiKeyId === simulatedKeyId(alpha.upstreamKey))?.upstreamKey?.masked).toMatch(/^sk-…/);

    // The drift is a signal: the alerts' hook finds the org above $0.000001, and /metrics has the gauge.
    const service = stack.app.get(ReconciliationService);
    const tomorrow = Date.now() + 86_400_000; // the window is complete days: from tomorrow, today is one
    const drifting = await service.driftAbove({ usd: '0.000001' }, 1, tomorrow);
    expect(drifting.map((d) => [d.orgName, d.differenceNanos])).toEqual([[alpha.name, outside!.nanos]]);
    expect(await service.driftAbove({ percent: 99.9 }, 1, tomorrow)).toEqual([]);
    const metrics = await (await fetch(`${stack.url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`tallygate_reconciliation_drift_usd\\{org="${alpha.name}"\\} `));
  });

  it('shows the true gap of aborted streams against their estimated rows', async () => {
    const client = stack.client();
    const controller = new AbortController();
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'write a long answer please, as long as you can' }], max_tokens: 400 },
      { headers: { 'x-sim-token-ms': '15' }, signal: controller.signal },
    );
    let chunks = 0;
    try {
      for await (const _ of stream) if (++chunks === 4) controller.abort();
    } catch {
      // the SDK may end the iteration or throw on abort: either way the client went away
    }
    expect(chunks).toBeLessThan(20);
    // Let the gateway record the aborted call and the simulator bill it.
    await new Promise((r) => setTimeout(r, 300));
    await sync();

    const line = await alphaToday();
    const gap = line.gaps.find((g) => g.kind === 'estimated');
    expect(line.ledger.estimatedRequests).toBe(1);
    expect(gap?.model).toBe('gpt-4o-mini');
    expect(gap?.nanos).toBe(line.differenceNanos);
    // OpenAI billed what it generated before the cancel reached it; the ledger's estimate counts only what was relayed.
    expect(line.openai.outputTokens).toBeGreaterThanOrEqual(line.ledger.outputTokens);
    expect(line.openai.requests).toBe(1);
    expect(gap?.detail).toMatch(/1 ledger row\(s\) of gpt-4o-mini are estimates/);
  });

  it('shows a model without a price as a price difference, with the price OpenAI implies', async () => {
    await chat(stack.client(), 'computer-use-preview', 'a model Tallygate has no price for');
    await sync();
    const line = await alphaToday();
    const gap = line.gaps.find((g) => g.kind === 'price');
    expect(line.ledger.unpricedRequests).toBe(1);
    expect(line.ledger.costNanos).toBe('0');
    expect(gap?.model).toBe('computer-use-preview');
    expect(gap?.nanos).toBe(line.openai.costNanos);
    // The simulator bills computer-use-preview at $3 in / $12 out per 1M (rounding to the nano may move the last digits).
    expect(Number(gap?.impliedPrice?.input)).toBeCloseTo(3, 2);
    expect(Number(gap?.impliedPrice?.output)).toBeCloseTo(12, 2);
  });

  it('separates spend not metered per call, and exports the report as CSV', async () => {
    await chat(stack.client());
    stack.sim.charge({ at: Date.now(), orgId: alpha.openaiOrgId, lineItem: 'File storage', nanos: 1_234_567_891n, apiKeyId: null, projectId: null });
    await sync();
    const line = await alphaToday();
    expect(line.gaps).toEqual([expect.objectContaining({ kind: 'unmetered', lineItem: 'File storage', nanos: '1234567891' })]);
    expect(line.differenceNanos).toBe('1234567891');

    const csv = await (await api('GET', `/api/analytics/reconciliation/export.csv?from=${today()}&to=${today()}&org=${alpha.id}`)).text();
    expect(csv.split('\r\n')[0]).toMatch(/^day,org,model,ledger_requests/);
    expect(csv).toContain('1.234567891'); // the difference in dollars, to the nano
    expect(csv).toContain('unmetered File storage: $1.234567891');
  });
});

describe("the month's statement", () => {
  const month = () => today().slice(0, 7);
  const statementOf = async (orgId: string, format: 'json' | 'csv' = 'json') => api('GET', `/api/analytics/statements?org=${orgId}&month=${month()}&tz=UTC&format=${format}`);

  it("shows OpenAI's cost, the ledger's and the gaps beside the lines, in JSON and CSV", async () => {
    await chat(stack.client());
    await chat(stack.client(), 'gpt-4o', 'through the gateway');
    await chat(new OpenAI({ baseURL: stack.sim.url, apiKey: directKeyOf(alpha), maxRetries: 0 }), 'gpt-4o', 'straight to OpenAI');
    await sync();

    const response = await statementOf(alpha.id);
    expect(response.status).toBe(200);
    const { reconciliation: r, total } = (await response.json()) as Statement;
    const [y, m] = month().split('-').map(Number);
    const lastDay = new Date(Date.UTC(y, m, 0)).toISOString().slice(0, 10);
    expect([r.from, r.to]).toEqual([`${month()}-01`, lastDay]);
    // Synced now, before the month ends: OpenAI's numbers are partial.
    expect(r.status).toBe('partial');
    expect(r.syncedAt).not.toBeNull();
    expect(r.ledger).toEqual({ side: 'ledger', costNanos: total.costNanos, costUsd: total.costUsd });
    const outside = r.gaps.find((g) => g.kind === 'outside_tallygate')!;
    expect(BigInt(outside.costNanos)).toBeGreaterThan(0n);
    expect(r.openai?.side).toBe('openai');
    expect(BigInt(r.openai!.costNanos)).toBe(BigInt(total.costNanos) + BigInt(outside.costNanos));
    expect(r.gaps.map((g) => [g.kind, g.side, g.kind === 'outside_tallygate' ? 'x' : g.costNanos])).toEqual([
      ['outside_tallygate', 'openai_minus_ledger', 'x'],
      ['estimated', 'openai_minus_ledger', '0'],
      ['unmetered', 'openai_minus_ledger', '0'],
      ['price', 'openai_minus_ledger', '0'],
      ['unexplained', 'openai_minus_ledger', '0'],
    ]);
    // The same difference as the reconciliation report over the month's days.
    const monthReport = (await (await api('GET', `/api/analytics/reconciliation?from=${r.from}&to=${r.to}&org=${alpha.id}`)).json()) as ReconciliationReport;
    expect(r.difference?.costNanos).toBe(monthReport.totals.differenceNanos);
    expect(r.difference?.costNanos).toBe(outside.costNanos);
    expect(r.difference?.side).toBe('openai_minus_ledger');
    const pct = (BigInt(outside.costNanos) * 10_000n) / BigInt(r.openai!.costNanos);
    expect(r.difference?.percent).toBe(`${pct / 100n}.${(pct % 100n).toString().padStart(2, '0')}`);

    const csv = (await (await statementOf(alpha.id, 'csv')).text()).split('\r\n');
    const header = csv.indexOf(StatementService.RECONCILIATION_HEADER.join(','));
    expect(header).toBeGreaterThan(0);
    expect(csv[header - 1]).toBe('');
    const block = csv.slice(header + 1, -1);
    expect(block.map((row) => row.split(',')[6])).toEqual(['openai_cost', 'ledger_cost', 'difference', 'gap:outside_tallygate', 'gap:estimated', 'gap:unmetered', 'gap:price', 'gap:unexplained']);
    expect(block[0]).toContain(`,partial,`);
    expect(block[0]).toContain(`,openai,${r.openai!.costNanos},${r.openai!.costUsd},`);
    expect(block[2]).toContain(`,openai_minus_ledger,${r.difference!.costNanos},${r.difference!.costUsd},${r.difference!.percent}`);
    expect(block[3]).toContain(`,openai_minus_ledger,${outside.costNanos},`);

    // Synced past the month's end: complete.
    await stack.db.query(`UPDATE recon_sync_state SET last_success_at = $1 WHERE org_id = $2`, [new Date(Date.UTC(y, m, 1, 0, 5)), alpha.id]);
    expect(((await (await statementOf(alpha.id)).json()) as Statement).reconciliation.status).toBe('complete');
  });

  it('says reconciliation is off for an org without an admin key', async () => {
    const beta = stack.orgs[1];
    await chat(stack.client(stack.features[1]));
    await stack.ledger.flush();
    const { reconciliation: r, total } = (await (await statementOf(beta.id)).json()) as Statement;
    expect(BigInt(total.costNanos)).toBeGreaterThan(0n);
    expect(r).toMatchObject({ status: 'off', openai: null, ledger: null, difference: null, gaps: [] });
    const csv = await (await statementOf(beta.id, 'csv')).text();
    expect(csv).toContain(',off,,reconciliation off: no admin key,');
  });
});

describe('the sync', () => {
  it('pages through small pages, waits out 429s, and stores the same buckets as one big page', async () => {
    await chat(stack.client());
    await sync();
    const big = (await stack.db.query('SELECT count(*)::int AS n FROM recon_usage_buckets')).rows[0].n;
    const costsBig = (await stack.db.query('SELECT sum(amount)::text AS s FROM recon_cost_buckets')).rows[0].s;
    await stack.db.query('TRUNCATE recon_usage_buckets, recon_cost_buckets, recon_sync_state');

    const own = await startStack({ env: { RECON_SYNC_INTERVAL_MS: '0', RECON_BACKFILL_DAYS: '2', RECON_PAGE_BUCKETS: '5' }, simulator: { adminRequestsPerSecond: 20 } });
    try {
      const org = own.orgs[0];
      own.sim.setOrg({ id: org.openaiOrgId, keys: [org.upstreamKey], adminKeys: [adminKeyOf(org)] });
      await own.orgsService.setAdminKey(org.id, adminKeyOf(org));
      await chat(own.client());
      await own.ledger.flush();
      const service = own.app.get(SyncService);
      const outcome = await service.syncOrg(org.id);
      expect(outcome.result).toBe('synced');
      // 2 days of hours (49 buckets with the current one) in pages of 5, for 8 usage endpoints, plus costs.
      expect(outcome.pages).toBeGreaterThan(8 * 9);
      expect(service.client.rateLimitedWaits).toBeGreaterThan(0);
      expect((await own.db.query('SELECT count(*)::int AS n FROM recon_usage_buckets')).rows[0].n).toBe(big);
      expect((await own.db.query('SELECT sum(amount)::text AS s FROM recon_cost_buckets')).rows[0].s).toBe(costsBig);
      const line = (await own.app.get(ReconciliationService).report({ from: today(), to: today(), org: org.id })).days[0];
      expect(line.differenceNanos).toBe('0');
    } finally {
      await own.close();
    }
  });

  it('resumes from its watermark after a restart mid-sync', async () => {
    const own = await startStack({
      env: { RECON_SYNC_INTERVAL_MS: '0', RECON_BACKFILL_DAYS: '30', RECON_PAGE_BUCKETS: '24' },
      simulator: { adminRequestsPerSecond: 4 },
    });
    const org = own.orgs[0];
    own.sim.setOrg({ id: org.openaiOrgId, keys: [org.upstreamKey], adminKeys: [adminKeyOf(org)] });
    await own.orgsService.setAdminKey(org.id, adminKeyOf(org));
    // History the simulator billed 10 days ago, and a call now.
    own.sim.bill({
      at: Date.now() - 10 * 86_400_000, orgId: org.openaiOrgId, apiKeyId: simulatedKeyId(org.upstreamKey), projectId: null, endpoint: 'completions',
      model: 'gpt-4o-mini-2024-07-18', requests: 3, inputTokens: 100, cachedTokens: 0, outputTokens: 50, audioInputTokens: 0, seconds: 0,
    });
    await chat(own.client());
    await own.ledger.flush();

    const first = own.app.get(SyncService);
    const running = first.syncOrg(org.id);
    // Stop the process once a few pages of the first endpoint are stored (the 429 waits keep it slow).
    const state = async () => (await own.db.query(`SELECT watermark, buckets_done FROM recon_sync_state WHERE endpoint = 'completions'`)).rows[0];
    for (let i = 0; i < 200 && !((await state())?.buckets_done >= 48); i++) await new Promise((r) => setTimeout(r, 25));
    const status = (await own.app.get(ReconciliationService).states(org.id))[0].sync;
    expect(status.running).toBe(true);
    expect(status.bucketsTotal).toBeGreaterThan(status.bucketsDone);
    expect(status.eta).not.toBeNull();
    const config = own.app.get<AppConfig>(APP_CONFIG);
    await own.app.close();
    await running;
    const stopped = await state();
    expect(stopped.buckets_done).toBeGreaterThanOrEqual(48);
    const horizon = Date.now() - 30 * 86_400_000;
    expect(stopped.watermark.getTime()).toBeGreaterThan(horizon + 47 * 3_600_000);
    expect(stopped.watermark.getTime()).toBeLessThan(Date.now() - 86_400_000);

    // A new process on the same database starts where the last page ended, not at the horizon.
    const again = await createApp({ ...config, RECON_PAGE_BUCKETS: 168, DATA_DIR: `${config.DATA_DIR}-restarted` }, own.databaseUrl);
    try {
      const outcome = await again.get(SyncService).syncOrg(org.id);
      expect(outcome.result).toBe('synced');
      const resumed = (await own.db.query(`SELECT run_from, watermark, last_success_at FROM recon_sync_state WHERE endpoint = 'completions'`)).rows[0];
      expect(resumed.run_from.getTime()).toBe(stopped.watermark.getTime());
      expect(resumed.last_success_at).not.toBeNull();
      const usage = (await own.db.query(`SELECT sum(requests)::int AS n FROM recon_usage_buckets WHERE endpoint = 'completions'`)).rows[0].n;
      expect(usage).toBe(4); // the 3 billed 10 days ago and today's call, each once
    } finally {
      await again.close();
      await own.db.end();
      await own.sim.close();
    }
  });

  it('runs on its schedule: a key added is backfilled without anyone asking', async () => {
    const own = await startStack({ env: { RECON_SYNC_INTERVAL_MS: '1000', RECON_BACKFILL_DAYS: '3' } });
    try {
      const org = own.orgs[0];
      own.sim.setOrg({ id: org.openaiOrgId, keys: [org.upstreamKey], adminKeys: [adminKeyOf(org)] });
      own.sim.bill({
        at: Date.now() - 2 * 86_400_000, orgId: org.openaiOrgId, apiKeyId: simulatedKeyId(org.upstreamKey), projectId: null, endpoint: 'embeddings',
        model: 'text-embedding-3-small', requests: 5, inputTokens: 10, cachedTokens: 0, outputTokens: 0, audioInputTokens: 0, seconds: 0,
      });
      await own.orgsService.setAdminKey(org.id, adminKeyOf(org));
      const stored = async () => (await own.db.query(`SELECT coalesce(sum(requests), 0)::int AS n FROM recon_usage_buckets WHERE endpoint = 'embeddings'`)).rows[0].n;
      await expect.poll(stored, { timeout: 20_000, interval: 250 }).toBe(5);
      const [state] = await own.app.get(ReconciliationService).states(org.id);
      expect(state.sync.lastError).toBeNull();
    } finally {
      await own.close();
    }
  });

  it('stores each bucket once when two replicas sync at the same time', async () => {
    await chat(stack.client());
    await stack.ledger.flush();
    const config = stack.app.get<AppConfig>(APP_CONFIG);
    const replica = await createApp({ ...config, DATA_DIR: `${config.DATA_DIR}-replica-${randomBytes(4).toString('hex')}` }, stack.databaseUrl);
    try {
      const outcomes = await Promise.all([stack.app.get(SyncService).syncOrg(alpha.id), replica.get(SyncService).syncOrg(alpha.id)]);
      expect(outcomes.map((o) => o.result).sort()).toEqual(['skipped', 'synced']);
      // And when both do sync (one after the other, as schedules overlap), the buckets are still stored once.
      await replica.get(SyncService).syncOrg(alpha.id);
      const dupes = (
        await stack.db.query(`SELECT count(*)::int AS n FROM (SELECT org_id, endpoint, bucket_start, model, api_key_id FROM recon_usage_buckets GROUP BY 1, 2, 3, 4, 5 HAVING count(*) > 1) d`)
      ).rows[0].n;
      expect(dupes).toBe(0);
      expect((await stack.db.query(`SELECT sum(requests)::int AS n FROM recon_usage_buckets WHERE endpoint = 'completions'`)).rows[0].n).toBe(1);
      expect((await alphaToday()).differenceNanos).toBe('0');
    } finally {
      await replica.close();
    }
  });
});
