// The realtime_sessions table: a row when a session opens, completed when it closes.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { RealtimeActivityQuery, RealtimeFeatureActivity } from '../contract/realtime.js';

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

  /** Per feature over [from, to): sessions relayed, and the WebRTC secrets and calls the gateway only forwarded. */
  async activity(query: RealtimeActivityQuery): Promise<RealtimeFeatureActivity[]> {
    const rows = (await this.dataSource.query(
      `WITH s AS (
         SELECT feature_id, count(*)::int AS sessions, count(*) FILTER (WHERE closed_at IS NULL)::int AS open_sessions,
                coalesce(sum(responses), 0)::int AS responses, coalesce(sum(duration_ms), 0)::bigint AS duration_ms,
                count(*) FILTER (WHERE closed_by IN ('idle_timeout', 'max_duration', 'frame_too_large', 'shutdown'))::int AS ended_by_gateway
         FROM realtime_sessions
         WHERE opened_at >= $1::date AND opened_at < $2::date AND ($3::uuid IS NULL OR feature_id = $3::uuid)
         GROUP BY feature_id),
       e AS (
         SELECT feature_id, count(*) FILTER (WHERE endpoint = 'realtime.client_secrets')::int AS client_secrets,
                count(*) FILTER (WHERE endpoint = 'realtime.calls.accept')::int AS calls_accepted
         FROM usage_events
         WHERE created_at >= $1::date AND created_at < $2::date AND endpoint IN ('realtime.client_secrets', 'realtime.calls.accept')
           AND status < 400 AND feature_id IS NOT NULL AND ($3::uuid IS NULL OR feature_id = $3::uuid)
         GROUP BY feature_id)
       SELECT f.id AS feature_id, f.slug, coalesce(s.sessions, 0) AS sessions, coalesce(s.open_sessions, 0) AS open_sessions,
              coalesce(s.responses, 0) AS responses, coalesce(s.duration_ms, 0) AS duration_ms, coalesce(s.ended_by_gateway, 0) AS ended_by_gateway,
              coalesce(e.client_secrets, 0) AS client_secrets, coalesce(e.calls_accepted, 0) AS calls_accepted
       FROM features f LEFT JOIN s ON s.feature_id = f.id LEFT JOIN e ON e.feature_id = f.id
       WHERE s.feature_id IS NOT NULL OR e.feature_id IS NOT NULL
       ORDER BY f.slug`,
      [query.from, query.to, query.feature ?? null],
    )) as Array<Record<string, string | number>>;
    return rows.map((r) => ({
      featureId: String(r.feature_id),
      featureSlug: String(r.slug),
      sessions: Number(r.sessions),
      openSessions: Number(r.open_sessions),
      responses: Number(r.responses),
      sessionSeconds: Number(r.duration_ms) / 1000,
      endedByGateway: Number(r.ended_by_gateway),
      clientSecrets: Number(r.client_secrets),
      callsAccepted: Number(r.calls_accepted),
    }));
  }
}
