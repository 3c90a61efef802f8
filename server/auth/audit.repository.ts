// Every SQL statement on the audit log. Writes may join the caller's transaction.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

/** What can run a statement: the DataSource, or a transaction's EntityManager. */
export type Queryable = { query: DataSource['query'] };

export interface AuditRow {
  actor: string;
  actorRole: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  details: Record<string, unknown>;
  ip: string | null;
}

@Injectable()
export class AuditRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insert(row: AuditRow, runner: Queryable = this.dataSource): Promise<void> {
    await runner.query(`INSERT INTO audit_log (actor, actor_role, action, target_type, target_id, details, ip) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
      row.actor,
      row.actorRole,
      row.action,
      row.targetType,
      row.targetId,
      JSON.stringify(row.details),
      row.ip,
    ]);
  }

  /** Newest first, `limit` rows with ids below `before`. */
  list(limit: number, before: string | null): Promise<Array<Record<string, unknown>>> {
    return this.dataSource.query(
      `SELECT id, at, actor, actor_role, action, target_type, target_id, details, ip FROM audit_log
       WHERE ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $1`,
      [limit, before],
    ) as Promise<Array<Record<string, unknown>>>;
  }
}
