// Every SQL statement on the audit log. Writes may join the caller's transaction.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

/** What can run a statement: the DataSource, or a transaction's EntityManager. */
export type Queryable = { query: DataSource['query'] };

/** The target's name as an admin knows it (ids mean nothing to a reader), per target type. */
const TARGET_NAME = `CASE a.target_type
    WHEN 'org' THEN (SELECT o.name FROM orgs o WHERE o.id::text = a.target_id)
    WHEN 'feature' THEN (SELECT f.name FROM features f WHERE f.id::text = a.target_id)
    WHEN 'user' THEN (SELECT u.email FROM users u WHERE u.id::text = a.target_id)
    WHEN 'api_token' THEN (SELECT t.name FROM api_tokens t WHERE t.id::text = a.target_id)
    WHEN 'gateway_key' THEN (SELECT g.masked || ' (' || f.name || ')' FROM gateway_keys g JOIN features f ON f.id = g.feature_id WHERE g.id::text = a.target_id)
    WHEN 'upstream_key' THEN (SELECT k.masked || ' (' || o.name || ')' FROM upstream_keys k JOIN orgs o ON o.id = k.org_id WHERE k.id::text = a.target_id)
  END`;

/** Which entries to list (null: no filter); `signIns` true keeps sign-ins and sign-outs. */
export interface AuditFilter {
  limit: number;
  before: string | null;
  action: string | null;
  actor: string | null;
  target: string | null;
  from: string | null;
  to: string | null;
  signIns: boolean;
}

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

  /** Newest first, `limit` rows with ids below `before`, filtered; each with its target's name now. */
  list(q: AuditFilter): Promise<Array<Record<string, unknown>>> {
    return this.dataSource.query(
      `SELECT * FROM (
         SELECT a.id, a.at, a.actor, a.actor_role, a.action, a.target_type, a.target_id, ${TARGET_NAME} AS target_name, a.details, a.ip
         FROM audit_log a
         WHERE ($2::bigint IS NULL OR a.id < $2)
           AND ($3::text IS NULL OR a.action = $3 OR starts_with(a.action, $3 || '.'))
           AND ($4::text IS NULL OR strpos(lower(a.actor), lower($4)) > 0)
           AND ($6::timestamptz IS NULL OR a.at >= $6) AND ($7::timestamptz IS NULL OR a.at < $7)
           AND ($8::boolean OR a.action NOT IN ('auth.sign_in', 'auth.sign_out'))
       ) a
       WHERE ($5::text IS NULL OR a.target_id = $5 OR strpos(lower(coalesce(a.target_name, '')), lower($5)) > 0)
       ORDER BY a.id DESC LIMIT $1`,
      [q.limit, q.before, q.action, q.actor, q.target, q.from, q.to, q.signIns],
    ) as Promise<Array<Record<string, unknown>>>;
  }
}
