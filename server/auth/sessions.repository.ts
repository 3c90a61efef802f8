// Every SQL statement on dashboard sessions and failed sign-ins.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Role } from './roles.decorator.js';

export interface NewSession {
  id: Buffer;
  userId: string;
  csrfToken: string;
  ip: string;
  userAgent: string;
  maxHours: number;
}

export interface LiveSession {
  id: string;
  email: string;
  role: Role;
  csrf_token: string;
}

@Injectable()
export class SessionsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Failed sign-ins within the last `minutes`, for this account and for this address. */
  async recentFailures(email: string, ip: string, minutes: number): Promise<{ account: number; address: number }> {
    const [counts] = (await this.dataSource.query(
      `SELECT count(*) FILTER (WHERE email = $1)::int AS account, count(*) FILTER (WHERE ip = $2)::int AS address
       FROM sign_in_failures WHERE at > now() - make_interval(mins => $3) AND (email = $1 OR ip = $2)`,
      [email, ip, minutes],
    )) as Array<{ account: number; address: number }>;
    return counts;
  }

  async recordFailure(email: string, ip: string): Promise<void> {
    await this.dataSource.query(`INSERT INTO sign_in_failures (email, ip) VALUES ($1, $2)`, [email, ip]);
  }

  /** Forgets the account's failures (and everyone's older than a day). */
  async clearFailures(email: string): Promise<void> {
    await this.dataSource.query(`DELETE FROM sign_in_failures WHERE email = $1 OR at < now() - interval '1 day'`, [email]);
  }

  /** Starts a session; returns when it expires. */
  async insert(session: NewSession): Promise<Date> {
    const [row] = (await this.dataSource.query(
      `INSERT INTO sessions (id, user_id, csrf_token, ip, user_agent, expires_at)
       VALUES ($1, $2, $3, $4, $5, now() + make_interval(hours => $6)) RETURNING expires_at`,
      [session.id, session.userId, session.csrfToken, session.ip, session.userAgent, session.maxHours],
    )) as Array<{ expires_at: Date }>;
    return row.expires_at;
  }

  /** The session's user, touching its idle timer; undefined when unknown, ended, idle past `idleMinutes`, expired or the user disabled. */
  async touch(id: Buffer, idleMinutes: number): Promise<LiveSession | undefined> {
    const rows = (await this.dataSource.query(
      `UPDATE sessions s SET last_seen_at = now()
       FROM users u
       WHERE s.id = $1 AND u.id = s.user_id AND s.ended_at IS NULL AND s.expires_at > now()
         AND s.last_seen_at > now() - make_interval(mins => $2) AND u.disabled_at IS NULL
       RETURNING u.id, u.email, u.role, s.csrf_token`,
      [id, idleMinutes],
    )) as [LiveSession[], number];
    return rows[0]?.[0];
  }

  async end(id: Buffer): Promise<void> {
    await this.dataSource.query(`UPDATE sessions SET ended_at = now() WHERE id = $1 AND ended_at IS NULL`, [id]);
  }
}
