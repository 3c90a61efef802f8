// Every SQL statement of ledger retention: the monthly partitions of usage_events, detaching and
// dropping one, and the advisory lock that lets one replica at a time do it.
import { Injectable } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';
import { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver.js';

// Any constant: only replicas of this app use it, and none other than retention.
const RETENTION_LOCK = 7_214_093_312;

export interface LedgerPartition {
  name: string;
  /** Its first instant (a UTC month start) and the first instant past it. */
  from: Date;
  to: Date;
}

@Injectable()
export class RetentionRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** A dedicated connection: the advisory lock and COPY-style streaming live on one session. */
  async connect(): Promise<PoolClient> {
    return ((this.dataSource.driver as PostgresDriver).master as Pool).connect();
  }

  async tryLock(client: PoolClient): Promise<boolean> {
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [RETENTION_LOCK]);
    return rows[0].locked;
  }

  async unlock(client: PoolClient): Promise<void> {
    await client.query('SELECT pg_advisory_unlock($1)', [RETENTION_LOCK]);
  }

  /** The ledger's partitions, oldest first, read from the catalog with their bounds. */
  async partitions(client: PoolClient | DataSource = this.dataSource): Promise<LedgerPartition[]> {
    // Bounds as timestamptz (FOR VALUES FROM ('2025-10-01 00:00:00+00') TO (...), printed in the session's zone).
    const sql = `SELECT c.relname AS name,
                   (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz AS lower,
                   (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''([^'']+)''\\)'))[1]::timestamptz AS upper
                 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = 'usage_events'::regclass`;
    type Row = { name: string; lower: Date | null; upper: Date | null };
    const rows = client instanceof DataSource ? ((await client.query(sql)) as Row[]) : (await client.query<Row>(sql)).rows;
    return rows
      .filter((r): r is Row & { lower: Date; upper: Date } => r.lower !== null && r.upper !== null)
      .map((r) => ({ name: r.name, from: new Date(r.lower), to: new Date(r.upper) }))
      .sort((a, b) => a.from.getTime() - b.from.getTime());
  }

  async rowCount(client: PoolClient, partition: string): Promise<number> {
    const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${ident(partition)}`);
    return Number(rows[0].n);
  }

  /** The partition's rows in insertion-friendly order, for a streaming export. */
  exportSql(partition: string): string {
    return `SELECT * FROM ${ident(partition)} ORDER BY created_at, id`;
  }

  /**
   * Detaches the partition without blocking writers (CONCURRENTLY: a SHARE UPDATE EXCLUSIVE lock on
   * usage_events, not ACCESS EXCLUSIVE), then drops it. Not in a transaction: CONCURRENTLY refuses one.
   */
  async detachAndDrop(client: PoolClient, partition: string): Promise<void> {
    const attached = await client.query(`SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass($1) AND inhparent = 'usage_events'::regclass`, [partition]);
    if (attached.rowCount) await client.query(`ALTER TABLE usage_events DETACH PARTITION ${ident(partition)} CONCURRENTLY`);
    await client.query(`DROP TABLE IF EXISTS ${ident(partition)}`);
  }
}

/** Partition names are ours (usage_events_YYYY_MM), but quote them anyway. */
function ident(name: string): string {
  if (!/^usage_events_\d{4}_\d{2}$/.test(name)) throw new Error(`not a ledger partition: ${name}`);
  return `"${name}"`;
}
