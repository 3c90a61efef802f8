// The realtime_sessions table: a row when a session opens, completed when it closes.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

/** Who ended a session: either side, or one of the gateway's bounds, or its shutdown. */
export type SessionCloser = 'client' | 'upstream' | 'idle_timeout' | 'max_duration' | 'frame_too_large' | 'shutdown' | 'upstream_error';

export interface OpenedSession {
  id: string;
  featureId: string;
  orgId: string;
  gatewayKeyId: string;
  model: string;
  openedAt: Date;
}

export interface ClosedSession {
  id: string;
  closedAt: Date;
  durationMs: number;
  responses: number;
  closedBy: SessionCloser;
  closeCode: number;
  upstreamSessionId: string | null;
}

export interface SessionRow {
  id: string;
  feature_id: string;
  org_id: string;
  model: string;
  opened_at: Date;
  closed_at: Date | null;
  duration_ms: number | null;
  responses: number;
  closed_by: SessionCloser | null;
  close_code: number | null;
  upstream_session_id: string | null;
}

@Injectable()
export class RealtimeSessionsRepository {
  constructor(private readonly dataSource: DataSource) {}

  async opened(session: OpenedSession): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO realtime_sessions (id, feature_id, org_id, gateway_key_id, model, opened_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (id) DO NOTHING`,
      [session.id, session.featureId, session.orgId, session.gatewayKeyId, session.model, session.openedAt],
    );
  }

  async closed(session: ClosedSession): Promise<void> {
    await this.dataSource.query(
      `UPDATE realtime_sessions SET closed_at = $2, duration_ms = $3, responses = $4, closed_by = $5, close_code = $6, upstream_session_id = $7
       WHERE id = $1`,
      [session.id, session.closedAt, Math.min(session.durationMs, 2_147_483_647), session.responses, session.closedBy, session.closeCode, session.upstreamSessionId?.slice(0, 256) ?? null],
    );
  }

  async list(limit: number): Promise<SessionRow[]> {
    return (await this.dataSource.query('SELECT * FROM realtime_sessions ORDER BY opened_at DESC LIMIT $1', [limit])) as SessionRow[];
  }
}
