// Ledger retention on real partitions: months past LEDGER_RETENTION_MONTHS are exported to gzip
// CSV and dropped whole, rollups stay (statements still add up), newer months are untouched, one
// replica at a time does it, a late event for a removed month is set aside instead of re-creating
// it, and a price correction cannot re-cost a removed period.
import { readdir, readFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../../server/config/config.js';
import { AuditService } from '../../server/auth/audit.service.js';
import { OpenAIError } from '../../server/http/openai-error.js';
import { LedgerRepository } from '../../server/ledger/ledger.repository.js';
import { LedgerWriter } from '../../server/ledger/ledger.writer.js';
import { RetentionRepository } from '../../server/ledger/retention.repository.js';
import { LedgerRetention, retentionHorizon } from '../../server/ledger/retention.js';
import { PriceAdminService } from '../../server/pricing/price-admin.service.js';
import { PricingService } from '../../server/pricing/pricing.service.js';
import { usageEvent } from '../../server/ledger/usage-event.js';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
let exportDir: string;
let dataDir: string;
/** The app's config with retention turned on: the ledger held these months before it was. */
let retained: AppConfig;
let retention: LedgerRetention;
const MONTHS = 13;
const monthStart = (back: number) => {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - back, 1));
};
const partitionName = (d: Date) => `usage_events_${d.getUTCFullYear()}_${String(d.getUTCMonth() + 1).padStart(2, '0')}`;

beforeAll(async () => {
  exportDir = await mkdtemp(join(tmpdir(), 'tallygate-retention-'));
  dataDir = await mkdtemp(join(tmpdir(), 'tallygate-retention-data-'));
  stack = await startStack({ env: { DATA_DIR: dataDir } });
  retained = { ...stack.app.get<AppConfig>(APP_CONFIG), LEDGER_RETENTION_MONTHS: MONTHS, LEDGER_RETENTION_EXPORT_DIR: exportDir };
  retention = new LedgerRetention(new RetentionRepository(stack.app.get(DataSource)), retained);
  const [org] = stack.orgs;
  const [feature] = stack.features;
  // 3 events a month, 16 months back to this one (two in the middle of each month, one at its last second).
  for (let back = 16; back >= 0; back--) {
    const start = monthStart(back);
    const end = monthStart(back - 1);
    for (const at of [new Date(start.getTime() + 3_600_000), new Date(start.getTime() + 86_400_000 * 10), new Date(end.getTime() - 1000)]) {
      if (at > new Date()) continue;
      // The oldest month's first call names no org (stored as the sentinel, exported as empty).
      const noOrg = back === 16 && at.getTime() === start.getTime() + 3_600_000;
      stack.ledger.record(usageEvent({ createdAt: at, orgId: noOrg ? null : org.id, featureId: feature.id }));
    }
  }
  await stack.ledger.flush();
});
afterAll(() => stack?.close());

async function partitions(): Promise<string[]> {
  const { rows } = await stack.db.query(`SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'usage_events'::regclass ORDER BY 1`);
  return rows.map((r: { relname: string }) => r.relname);
}

const dailyTotals = async () =>
  (await stack.db.query(`SELECT date_trunc('month', day, 'UTC') AS month, sum(requests)::int AS requests, sum(cost_nanos)::text AS cost FROM usage_daily GROUP BY 1 ORDER BY 1`)).rows.map((r) => ({
    month: (r.month as Date).toISOString(),
    requests: r.requests as number,
    cost: r.cost as string,
  }));

describe('ledger retention', () => {
  it('removes whole months before the horizon, exported first, and keeps every rollup', async () => {
    const horizon = retentionHorizon(MONTHS)!;
    expect(horizon.toISOString()).toBe(monthStart(MONTHS).toISOString());
    const expired = [16, 15, 14].map((b) => partitionName(monthStart(b)));
    expect(await partitions()).toEqual(expect.arrayContaining([...expired, partitionName(monthStart(13)), partitionName(monthStart(0))]));
    const rollupsBefore = await dailyTotals();
    const eventsBefore = Number((await stack.db.query('SELECT count(*) FROM usage_events')).rows[0].count);

    const dry = await retention.run({ dryRun: true });
    expect(dry.partitions.map((p) => [p.name, p.rows, p.dropped])).toEqual(expired.map((name) => [name, 3, false]));
    expect(await partitions()).toEqual(expect.arrayContaining(expired));

    const messages: string[] = [];
    const report = await retention.run({ progress: (m) => messages.push(m) });
    expect(report.partitions.map((p) => [p.name, p.dropped])).toEqual(expired.map((name) => [name, true]));
    expect(messages.some((m) => m.includes('partition 1 of 3'))).toBe(true);
    const left = await partitions();
    for (const name of expired) expect(left).not.toContain(name);
    expect(left).toContain(partitionName(monthStart(13)));
    expect(Number((await stack.db.query('SELECT count(*) FROM usage_events')).rows[0].count)).toBe(eventsBefore - 9);
    // Statements and charts read rollups: they did not move.
    expect(await dailyTotals()).toEqual(rollupsBefore);

    // Each export is the partition's rows, as CSV with a header.
    const files = (await readdir(exportDir)).sort();
    expect(files).toEqual(expired.map((n) => `${n}.csv.gz`).sort());
    const csv = gunzipSync(await readFile(join(exportDir, `${expired[0]}.csv.gz`))).toString('utf8').trim().split('\r\n');
    expect(csv).toHaveLength(4);
    expect(csv[0].split(',')).toEqual(expect.arrayContaining(['id', 'created_at', 'cost_nanos']));
    const orgColumn = csv[0].split(',').indexOf('org_id');
    expect(csv.slice(1).map((line) => line.split(',')[orgColumn])).toEqual(['', stack.orgs[0].id, stack.orgs[0].id]);

    // A second pass has nothing left to do.
    expect((await retention.run()).partitions).toEqual([]);
  });

  it('leaves the work to the replica that holds the lock', async () => {
    const other = new pg.Client({ connectionString: stack.databaseUrl });
    await other.connect();
    try {
      await other.query('SELECT pg_advisory_lock(7214093312)');
      expect((await retention.run()).skipped).toBe('locked');
    } finally {
      await other.end();
    }
  });

  it('sets aside an event for a removed month rather than re-creating it', async () => {
    const removed = monthStart(15);
    // A replica with retention on (as every replica would be once it is configured).
    const writer = new LedgerWriter(stack.app.get(LedgerRepository), retained);
    writer.record(usageEvent({ createdAt: new Date(removed.getTime() + 60_000), orgId: stack.orgs[0].id }));
    writer.record(usageEvent({ createdAt: new Date(), orgId: stack.orgs[0].id }));
    await writer.flush();
    expect(await partitions()).not.toContain(partitionName(removed));
    const rejected = await readdir(join(dataDir, 'rejected'));
    const lines = (await Promise.all(rejected.map((f) => readFile(join(dataDir, 'rejected', f), 'utf8')))).join('').trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]).createdAt).toBe(new Date(removed.getTime() + 60_000).toISOString());
  });

  it('refuses a price correction over a removed period', async () => {
    const prices = new PriceAdminService(stack.app.get(DataSource), stack.app.get(PricingService), stack.app.get(AuditService), retained);
    const error = await prices
      .correct({ model: 'gpt-4o-mini', serviceTier: 'default', from: monthStart(15).toISOString(), prices: { input: '1', output: '2' }, reason: 'test' } as never, { kind: 'admin_token', id: 'test', role: 'admin' } as never)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAIError);
    expect((error as OpenAIError).code).toBe('before_retention_horizon');
  });
});
