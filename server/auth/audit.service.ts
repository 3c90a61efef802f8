import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Principal } from './principal.js';

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

  async list(limit = 200, before?: string): Promise<AuditRecord[]> {
    const rows = (await this.dataSource.query(
      `SELECT id, at, actor, actor_role, action, target_type, target_id, details, ip FROM audit_log
       WHERE ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $1`,
      [Math.min(Math.max(limit, 1), 1000), before ?? null],
    )) as Array<Record<string, unknown>>;
    return rows.map((r) => ({
      id: String(r.id),
      at: r.at as Date,
      actor: r.actor as string,
      actorRole: r.actor_role as string | null,
      action: r.action as string,
      targetType: r.target_type as string,
      targetId: r.target_id as string,
      details: r.details as Record<string, unknown>,
      ip: r.ip as string | null,
    }));
  }
}
