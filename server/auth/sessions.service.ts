// Dashboard sessions in Postgres (so every replica sees them) and sign-in with per-account and
// per-address lockout counted in the database.
import { Inject, Injectable } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { OpenAIError } from '../http/openai-error.js';
import type { SessionPrincipal } from './principal.js';
import { verifyPassword } from './passwords.js';
import type { Role } from './roles.decorator.js';

export const SESSION_COOKIE = 'tallygate_session';
export type { SessionPrincipal } from './principal.js';

export interface StartedSession {
  /** Goes into the cookie only; the database keeps its SHA-256. */
  token: string;
  principal: SessionPrincipal;
  expiresAt: Date;
}

const sessionHash = (token: string) => createHash('sha256').update(token).digest();

// One message for unknown email, wrong password and disabled account: nothing to enumerate.
const badCredentials = () => new OpenAIError(401, 'Email or password is incorrect.', 'authentication_error', 'invalid_credentials');

@Injectable()
export class SessionsService {
  constructor(
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async signIn(email: string, password: string, ip: string, userAgent = ''): Promise<StartedSession> {
    const window = this.config.SIGN_IN_WINDOW_MINUTES;
    const [counts] = (await this.dataSource.query(
      `SELECT count(*) FILTER (WHERE email = $1)::int AS account, count(*) FILTER (WHERE ip = $2)::int AS address
       FROM sign_in_failures WHERE at > now() - make_interval(mins => $3) AND (email = $1 OR ip = $2)`,
      [email, ip, window],
    )) as Array<{ account: number; address: number }>;
    if (counts.account >= this.config.SIGN_IN_MAX_FAILURES_PER_ACCOUNT || counts.address >= this.config.SIGN_IN_MAX_FAILURES_PER_IP) {
      // Checked before the password, so a locked account cannot be probed at all.
      throw new OpenAIError(429, `Too many failed sign-ins. Wait ${window} minutes and try again, or ask an admin to reset your password.`, 'rate_limit_error', 'sign_in_locked', null, false, {
        'retry-after': String(window * 60),
      });
    }
    const [user] = (await this.dataSource.query(`SELECT id, email, role, password_hash, disabled_at FROM users WHERE email = $1`, [email])) as Array<{
      id: string;
      email: string;
      role: Role;
      password_hash: string;
      disabled_at: Date | null;
    }>;
    const valid = await verifyPassword(user?.password_hash ?? null, password);
    if (!user || !valid || user.disabled_at) {
      await this.dataSource.query(`INSERT INTO sign_in_failures (email, ip) VALUES ($1, $2)`, [email, ip]);
      throw badCredentials();
    }
    await this.dataSource.query(`DELETE FROM sign_in_failures WHERE email = $1 OR at < now() - interval '1 day'`, [email]);

    const token = randomBytes(32).toString('base64url');
    const csrfToken = randomBytes(32).toString('base64url');
    const id = sessionHash(token);
    const [row] = (await this.dataSource.query(
      `INSERT INTO sessions (id, user_id, csrf_token, ip, user_agent, expires_at)
       VALUES ($1, $2, $3, $4, $5, now() + make_interval(hours => $6)) RETURNING expires_at`,
      [id, user.id, csrfToken, ip, userAgent.slice(0, 300), this.config.SESSION_MAX_HOURS],
    )) as Array<{ expires_at: Date }>;
    return {
      token,
      expiresAt: row.expires_at,
      principal: { kind: 'session', id: user.id, email: user.email, role: user.role, sessionId: id.toString('hex'), csrfToken },
    };
  }

  /** The session's principal, touching its idle timer; null when unknown, ended, idle too long or past its absolute expiry. */
  async validate(token: string): Promise<SessionPrincipal | null> {
    const rows = (await this.dataSource.query(
      `UPDATE sessions s SET last_seen_at = now()
       FROM users u
       WHERE s.id = $1 AND u.id = s.user_id AND s.ended_at IS NULL AND s.expires_at > now()
         AND s.last_seen_at > now() - make_interval(mins => $2) AND u.disabled_at IS NULL
       RETURNING u.id, u.email, u.role, s.csrf_token`,
      [sessionHash(token), this.config.SESSION_IDLE_MINUTES],
    )) as [Array<{ id: string; email: string; role: Role; csrf_token: string }>, number];
    const user = rows[0]?.[0];
    if (!user) return null;
    return { kind: 'session', id: user.id, email: user.email, role: user.role, sessionId: sessionHash(token).toString('hex'), csrfToken: user.csrf_token };
  }

  async end(sessionId: string): Promise<void> {
    await this.dataSource.query(`UPDATE sessions SET ended_at = now() WHERE id = $1 AND ended_at IS NULL`, [Buffer.from(sessionId, 'hex')]);
  }
}
