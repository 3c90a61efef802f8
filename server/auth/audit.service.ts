import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Principal } from './access.guard.js';
import type { AuditQuery } from './auth.dto.js';

/** The target's name as an admin knows it (ids mean nothing to a reader), per target type. */
const TARGET_NAME = `CASE a.target_type
    WHEN 'org' THEN (SELECT o.name FROM orgs o WHERE o.id::text = a.target_id)
    WHEN 'feature' THEN (SELECT f.name FROM features f WHERE f.id::text = a.target_id)
    WHEN 'user' THEN (SELECT u.email FROM users u WHERE u.id::text = a.target_id)
    WHEN 'api_token' THEN (SELECT t.name FROM api_tokens t WHERE t.id::text = a.target_id)
    WHEN 'gateway_key' THEN (SELECT g.masked || ' (' || f.name || ')' FROM gateway_keys g JOIN features f ON f.id = g.feature_id WHERE g.id::text = a.target_id)
    WHEN 'upstream_key' THEN (SELECT k.masked || ' (' || o.name || ')' FROM upstream_keys k JOIN orgs o ON o.id = k.org_id WHERE k.id::text = a.target_id)
  END`;

export interface AuditEntry {
  action: string;
  targetType?: string;
  targetId?: string;
  /** What changed, never a secret (keys appear only masked). */
  details?: Record<string, unknown>;
}

export interface AuditRecord extends Required<Omit<AuditEntry, 'details'>> {
  id: string;
  at: Date;
  actor: string;
  actorRole: string | null;
  /** The target's name now (null when it has none or is gone). */
  targetName: string | null;
  details: Record<string, unknown>;
  ip: string | null;
}

@Injectable()
export class AuditService {
  constructor(private readonly dataSource: DataSource) {}

  async record(actor: Principal | string, entry: AuditEntry, ip?: string, runner: { query: DataSource['query'] } = this.dataSource): Promise<void> {
    const who = typeof actor === 'string' ? { name: actor, role: null } : { name: actor.email ?? actor.name ?? actor.id, role: actor.role };
    await runner.query(
      `INSERT INTO audit_log (actor, actor_role, action, target_type, target_id, details, ip) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [who.name, who.role, entry.action, entry.targetType ?? null, entry.targetId ?? null, JSON.stringify(entry.details ?? {}), ip ?? null],
    );
  }

  async list(q: Partial<AuditQuery> = {}): Promise<AuditRecord[]> {
    const rows = (await this.dataSource.query(
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
      [Math.min(Math.max(q.limit ?? 200, 1), 1000), q.before ?? null, q.action ?? null, q.actor ?? null, q.target ?? null, q.from ?? null, q.to ?? null, q.signIns === 'include'],
    )) as Array<Record<string, unknown>>;
    return rows.map((r) => ({
      id: String(r.id),
      at: r.at as Date,
      actor: r.actor as string,
      actorRole: r.actor_role as string | null,
      targetName: (r.target_name as string | null) ?? null,
      action: r.action as string,
      targetType: r.target_type as string,
      targetId: r.target_id as string,
      details: r.details as Record<string, unknown>,
      ip: r.ip as string | null,
    }));
  }
}
