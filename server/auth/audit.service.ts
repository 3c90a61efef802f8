import { Injectable } from '@nestjs/common';
import { AuditRepository, type AuditRow, type Queryable } from './audit.repository.js';
import type { Principal } from './principal.js';
import type { AuditQuery } from '../contract/users.js';

export interface AuditEntry {
  action: string;
  targetType?: string;
  targetId?: string;
  /** What changed, never a secret (keys appear only masked). */
  details?: Record<string, unknown>;
}

/** An audit log entry as stored. */
export interface AuditRecord extends AuditRow {
  id: string;
  at: Date;
  /** The target's name now (null when it has none or is gone). */
  targetName: string | null;
}

@Injectable()
export class AuditService {
  constructor(private readonly log: AuditRepository) {}

  /** Written in `runner`'s transaction when given, so the change and its record commit together. */
  async record(actor: Principal | string, entry: AuditEntry, ip?: string, runner?: Queryable): Promise<void> {
    const who = typeof actor === 'string' ? { name: actor, role: null } : { name: actor.email ?? actor.name ?? actor.id, role: actor.role };
    await this.log.insert(
      { actor: who.name, actorRole: who.role, action: entry.action, targetType: entry.targetType ?? null, targetId: entry.targetId ?? null, details: entry.details ?? {}, ip: ip ?? null },
      runner,
    );
  }

  async list(q: Partial<AuditQuery> = {}): Promise<AuditRecord[]> {
    const rows = await this.log.list({
      limit: Math.min(Math.max(q.limit ?? 200, 1), 1000),
      before: q.before ?? null,
      action: q.action ?? null,
      actor: q.actor ?? null,
      target: q.target ?? null,
      from: q.from ?? null,
      to: q.to ?? null,
      signIns: q.signIns === 'include',
    });
    return rows.map((r) => ({
      id: String(r.id),
      at: r.at as Date,
      actor: r.actor as string,
      actorRole: r.actor_role as string | null,
      targetName: (r.target_name as string | null) ?? null,
      action: r.action as string,
      targetType: r.target_type as string | null,
      targetId: r.target_id as string | null,
      details: r.details as Record<string, unknown>,
      ip: r.ip as string | null,
    }));
  }
}
