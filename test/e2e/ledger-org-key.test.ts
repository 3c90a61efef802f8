// The ledger keyed by org (migrations/1734600000000-LedgerOrgKey.ts): the primary key of usage_events
// and of every partition, old and new, is (org_id, created_at, id); the usage rollups' org_id is NOT
// NULL too (1734700000000-RollupOrgKey.ts); a row that names no org stores the sentinel in the ledger
// and the rollups, yet the usage API and the CSV export still show that call with org null; and a
// batch written twice adds nothing.
import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import type { PoolClient } from 'pg';
import type { QueryRunner } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerOrgKey1734600000000 } from '../../migrations/1734600000000-LedgerOrgKey.js';
import { RollupOrgKey1734700000000 } from '../../migrations/1734700000000-RollupOrgKey.js';
import type { ErrorsResponse } from '../../server/contract/errors.js';
import type { UsageReport } from '../../server/contract/analytics.js';
import { NO_ORG } from '../../server/ledger/no-org.js';
import { ROLLUPS } from '../../server/ledger/rollups.js';
import { startStack, type Stack } from '../support/stack.js';
import { api, getJson, parseCsv, usageEvent } from './analytics-fixtures.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.close());

/** The primary key's columns, in order, of usage_events and each of its partitions. */
async function primaryKeys(): Promise<Map<string, string[]>> {
  const { rows } = await stack.db.query<{ table: string; columns: string[] }>(
    `SELECT c.conrelid::regclass::text AS table,
       array_agg(a.attname::text ORDER BY k.ord) AS columns
     FROM pg_constraint c
     CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
     WHERE c.contype = 'p' AND (c.conrelid = 'usage_events'::regclass
       OR c.conrelid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'usage_events'::regclass))
     GROUP BY 1`,
  );
  return new Map(rows.map((r) => [r.table, r.columns]));
}

/** The rollups keyed by org like the ledger (the headroom and throttling ones always had an org). */
const USAGE_ROLLUPS = ['usage_hourly', 'usage_daily', 'usage_tag_hourly', 'usage_tag_daily', 'usage_latency_hourly', 'usage_latency_daily'];
const ORG_ONLY_ROLLUPS = ['ratelimit_minutes', 'throttle_minutes'];

async function partitionNames(): Promise<string[]> {
  const { rows } = await stack.db.query<{ name: string }>(`SELECT inhrelid::regclass::text AS name FROM pg_inherits WHERE inhparent = 'usage_events'::regclass ORDER BY 1`);
  return rows.map((r) => r.name);
}

describe('the ledger key', () => {
  it('is (org_id, created_at, id) on usage_events and on every partition, including ones made later', async () => {
    await stack.db.query(`SELECT ensure_usage_partitions('2031-01-01Z', 1)`);
    const partitions = await partitionNames();
    expect(partitions).toContain('usage_events_2031_01');
    const keys = await primaryKeys();
    expect(keys.get('usage_events')).toEqual(['org_id', 'created_at', 'id']);
    for (const partition of partitions) expect(keys.get(partition), partition).toEqual(['org_id', 'created_at', 'id']);

    // org_id is never NULL, and defaults to "no org".
    const { rows: column } = await stack.db.query(
      `SELECT is_nullable, column_default FROM information_schema.columns WHERE table_name = 'usage_events' AND column_name = 'org_id'`,
    );
    expect(column[0].is_nullable).toBe('NO');
    expect(column[0].column_default).toContain(NO_ORG);

    // The index by org and time is the key's prefix now; the one by time serves the reads across orgs.
    const { rows: indexes } = await stack.db.query<{ name: string }>(`SELECT indexname AS name FROM pg_indexes WHERE tablename = 'usage_events'`);
    expect(indexes.map((i) => i.name)).toContain('usage_events_time');
    expect(indexes.map((i) => i.name)).not.toContain('usage_events_org_time');

    // A partition made after the migration takes rows, with and without an org.
    const later = [usageEvent({ createdAt: new Date('2031-01-15T10:00:00Z') }), usageEvent({ createdAt: new Date('2031-01-15T10:00:00Z'), orgId: stack.orgs[0].id })];
    await stack.ledger.write(later);
    const { rows: stored } = await stack.db.query(`SELECT org_id FROM usage_events_2031_01 WHERE id = ANY($1::uuid[]) ORDER BY org_id`, [later.map((e) => e.id)]);
    expect(stored.map((r) => r.org_id).sort()).toEqual([NO_ORG, stack.orgs[0].id].sort());
  });
});

describe('the rollup key', () => {
  it('makes org_id NOT NULL with the sentinel as default in every usage rollup, and every rollup is one of them or keeps only real orgs', async () => {
    expect([...USAGE_ROLLUPS, ...ORG_ONLY_ROLLUPS].sort()).toEqual(ROLLUPS.map((r) => r.table).sort());
    const { rows } = await stack.db.query<{ table_name: string; is_nullable: string; column_default: string | null }>(
      `SELECT table_name, is_nullable, column_default FROM information_schema.columns WHERE column_name = 'org_id' AND table_name = ANY($1::text[]) ORDER BY 1`,
      [ROLLUPS.map((r) => r.table)],
    );
    expect(rows.map((r) => r.table_name).sort()).toEqual(ROLLUPS.map((r) => r.table).sort());
    for (const row of rows) {
      expect(row.is_nullable, row.table_name).toBe('NO');
      if (USAGE_ROLLUPS.includes(row.table_name)) expect(row.column_default, row.table_name).toContain(NO_ORG);
    }
  });
});


/**
 * Runs `body` on one pooled client inside a transaction that is rolled back, so a migration can go
 * down and up while the other tests keep the migrated schema. Migrations only call query(): the
 * client stands in for TypeORM's runner.
 */
async function rolledBack(body: (client: PoolClient, runner: QueryRunner) => Promise<void>): Promise<void> {
  const client = await stack.db.connect();
  const runner = { query: (sql: string, params?: unknown[]) => client.query(sql, params) } as unknown as QueryRunner;
  try {
    await client.query('BEGIN');
    await body(client, runner);
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
}

describe('the migration', () => {
  it('goes down to the old key with NULL for no org, and up again', async () => {
    const migration = new LedgerOrgKey1734600000000();
    await stack.ledger.write([usageEvent({ createdAt: new Date() })]);
    await rolledBack(async (client, runner) => {
      const noOrgRows = async () => (await client.query(`SELECT count(*) FILTER (WHERE org_id IS NULL)::int AS nulls, count(*) FILTER (WHERE org_id = $1)::int AS sentinels FROM usage_events`, [NO_ORG])).rows[0];
      const key = async () => (await client.query(`SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'usage_events'::regclass AND contype = 'p'`)).rows[0].def;
      const before = await noOrgRows();
      expect(before.sentinels).toBeGreaterThan(0);
      await migration.down(runner);
      expect(await key()).toBe('PRIMARY KEY (created_at, id)');
      expect(await noOrgRows()).toEqual({ nulls: before.sentinels, sentinels: 0 });
      await migration.up(runner);
      expect(await key()).toBe('PRIMARY KEY (org_id, created_at, id)');
      expect(await noOrgRows()).toEqual(before);
    });
  });
});

describe('the rollup migration', () => {
  it('goes down to NULL for no org, and up again folding NULL-org rows into sentinel rows of the same key', async () => {
    await stack.resetUsage();
    const at = new Date();
    await stack.ledger.write([
      usageEvent({ createdAt: at, costNanos: '700', tags: { customer: 'acme' }, endUser: 'u1' }),
      usageEvent({ createdAt: at, orgId: stack.orgs[0].id, costNanos: '300' }),
    ]);
    const migration = new RollupOrgKey1734700000000();
    await rolledBack(async (client, runner) => {
      // Every column each rollup sums (numeric and not in its unique key), read from the catalog so none is missed.
      const { rows: sums } = await client.query<{ table: string; columns: string[] }>(
        `SELECT c.table_name AS table, array_agg(c.column_name::text ORDER BY c.column_name) AS columns
         FROM information_schema.columns c
         WHERE c.table_name = ANY($1::text[]) AND c.data_type IN ('bigint', 'numeric', 'integer')
           AND c.column_name NOT IN (SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                                     WHERE i.indrelid = c.table_name::regclass AND i.indisunique)
         GROUP BY 1`,
        [USAGE_ROLLUPS],
      );
      const totals = async (table: string, where: string) => {
        const columns = sums.find((s) => s.table === table)!.columns;
        const { rows } = await client.query(`SELECT count(*)::int AS rows, ${columns.map((c) => `coalesce(sum(${c}), 0)::float8 AS ${c}`).join(', ')} FROM ${table} WHERE ${where}`, [NO_ORG]);
        return rows[0] as Record<string, number>;
      };
      const before = new Map<string, Record<string, number>>();
      for (const table of USAGE_ROLLUPS) {
        const noOrg = await totals(table, 'org_id = $1');
        expect(noOrg.rows, table).toBeGreaterThan(0);
        before.set(table, noOrg);
      }
      await migration.down(runner);
      for (const table of USAGE_ROLLUPS) {
        expect(await totals(table, 'org_id IS NULL AND $1::uuid IS NOT NULL'), table).toEqual(before.get(table));
        expect((await totals(table, 'org_id = $1')).rows, table).toBe(0);
        // A sentinel row beside each NULL one, as if written by the new writer before the migration ran: up() must add, not collide.
        const columns = (await client.query<{ name: string }>(`SELECT column_name AS name FROM information_schema.columns WHERE table_name = $1 AND column_name <> 'org_id'`, [table])).rows.map((r) => r.name);
        await client.query(`INSERT INTO ${table} (org_id, ${columns.join(', ')}) SELECT $1, ${columns.join(', ')} FROM ${table} WHERE org_id IS NULL`, [NO_ORG]);
      }
      await migration.up(runner);
      for (const table of USAGE_ROLLUPS) {
        expect((await totals(table, 'org_id IS NULL AND $1::uuid IS NOT NULL')).rows, table).toBe(0);
        const merged = await totals(table, 'org_id = $1');
        const expected = Object.fromEntries(Object.entries(before.get(table)!).map(([k, v]) => [k, k === 'rows' ? v : 2 * v]));
        expect(merged, table).toEqual(expected);
      }
      const { rows: notNull } = await client.query(`SELECT table_name, is_nullable FROM information_schema.columns WHERE column_name = 'org_id' AND table_name = ANY($1::text[])`, [USAGE_ROLLUPS]);
      expect(notNull.every((r) => r.is_nullable === 'NO')).toBe(true);
    });
  });
});

describe('a call that names no org', () => {
  it('is stored with the sentinel in the ledger and the rollups, and shown with org null by the usage API and the CSV export', async () => {
    await stack.resetUsage();
    const HOUR = 3_600_000;
    const before = new Date(Math.floor(Date.now() / HOUR) * HOUR - HOUR); // usage is asked for in whole hours
    // A feature asking for an org it was not granted is refused before an org is chosen.
    const client = stack.client(stack.features[0], { organization: 'org-nowhere' });
    const error = (await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(error.status).toBe(403);
    expect(error.code).toBe('organization_not_allowed');
    await stack.client(stack.features[0]).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });

    const events = await stack.events();
    const refused = events.find((e) => e.error_code === 'organization_not_allowed')!;
    expect(refused).toMatchObject({ org_id: NO_ORG, feature_id: stack.features[0].id, status: 403 });

    // An attributed call without an org too, so the tag rollups have a no-org row.
    await stack.ledger.write([usageEvent({ createdAt: new Date(), featureId: stack.features[0].id, tags: { customer: 'acme' }, endUser: 'u1' })]);

    // The usage rollups key the calls without an org by the sentinel (NOT NULL: never NULL); the
    // headroom and throttling rollups keep only real orgs.
    for (const table of USAGE_ROLLUPS) {
      const { rows } = await stack.db.query(`SELECT count(*) FILTER (WHERE org_id = $1)::int AS sentinels, count(*) FILTER (WHERE org_id IS NULL)::int AS nulls FROM ${table}`, [NO_ORG]);
      expect(rows[0], table).toMatchObject({ nulls: 0 });
      expect(rows[0].sentinels, table).toBeGreaterThan(0);
    }
    for (const table of ORG_ONLY_ROLLUPS) {
      const { rows } = await stack.db.query(`SELECT count(*)::int AS n FROM ${table} WHERE org_id = $1 OR org_id IS NULL`, [NO_ORG]);
      expect(rows[0].n, table).toBe(0);
    }
    const { rows: hourly } = await stack.db.query(`SELECT org_id, sum(requests)::int AS requests, sum(errors)::int AS errors FROM usage_hourly GROUP BY 1 ORDER BY org_id = $1, org_id`, [NO_ORG]);
    expect(hourly).toEqual([
      { org_id: stack.orgs[0].id, requests: 1, errors: 0 },
      { org_id: NO_ORG, requests: 2, errors: 1 },
    ]);

    const to = new Date(Math.ceil(Date.now() / HOUR) * HOUR + HOUR);
    const range = `from=${before.toISOString()}&to=${to.toISOString()}`;
    const report = await getJson<UsageReport>(stack, `/api/analytics/usage?${range}&groupBy=org`);
    const noOrg = report.series.find((p) => p.group.org === null);
    expect(noOrg, JSON.stringify(report.series)).toMatchObject({ requests: 2, errors: 1 });
    expect(noOrg!.latencyMs?.p50, 'latency histograms group no org as null too').not.toBeNull();
    expect(report.series.some((p) => p.group.org === NO_ORG)).toBe(false);
    // Grouped by org and end user (the tag rollups), and filtered by a real org: no sentinel either way.
    const byUser = await getJson<UsageReport>(stack, `/api/analytics/usage?${range}&groupBy=org,endUser`);
    expect(byUser.series.map((p) => p.group)).toContainEqual({ org: null, endUser: 'u1' });
    expect(byUser.series.some((p) => p.group.org === NO_ORG)).toBe(false);
    const oneOrg = await getJson<UsageReport>(stack, `/api/analytics/usage?${range}&groupBy=org&org=${stack.orgs[0].id}`);
    expect(oneOrg.series.map((p) => p.group.org)).toEqual([stack.orgs[0].id]);

    const response = await api(stack, `/api/analytics/exports/usage-events.csv?${range}`);
    expect(response.status).toBe(200);
    const [header, ...lines] = parseCsv(await response.text());
    const row = lines.find((l) => l[header.indexOf('id')] === refused.id)!;
    expect(row[header.indexOf('org_id')]).toBe('');
    expect(row[header.indexOf('feature_id')]).toBe(stack.features[0].id);

    // Errors by org list failures of real orgs only, as they did when the ledger stored NULL.
    const errors = await getJson<ErrorsResponse>(stack, `/api/throttling/errors?${range}`);
    expect(errors.data.some((g) => g.org.id === NO_ORG || g.org.id === null)).toBe(false);
  });
});

describe('a batch written again', () => {
  it('adds no row and counts nothing twice, with or without an org', async () => {
    await stack.resetUsage();
    const at = new Date();
    const batch = [usageEvent({ createdAt: at }), usageEvent({ createdAt: at, orgId: stack.orgs[1].id, featureId: stack.features[1].id }), usageEvent({ createdAt: at, id: randomUUID() })];
    await stack.ledger.write(batch);
    await stack.ledger.write(batch); // as a replay after a lost answer does
    const { rows } = await stack.db.query(`SELECT count(*)::int AS n FROM usage_events WHERE id = ANY($1::uuid[])`, [batch.map((e) => e.id)]);
    expect(rows[0].n).toBe(3);
    const { rows: hourly } = await stack.db.query(`SELECT org_id, sum(requests)::int AS requests FROM usage_hourly GROUP BY 1 ORDER BY org_id = $1, org_id`, [NO_ORG]);
    expect(hourly).toEqual([
      { org_id: stack.orgs[1].id, requests: 1 },
      { org_id: NO_ORG, requests: 2 },
    ]);
  });
});
