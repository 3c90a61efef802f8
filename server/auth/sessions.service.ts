// Dashboard sessions in Postgres (so every replica sees them) and sign-in with per-account and
// per-address lockout counted in the database.
import { Inject, Injectable } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { OpenAIError } from '../http/openai-error.js';
import type { SessionPrincipal } from './principal.js';
import { verifyPassword } from './passwords.js';
import { SessionsRepository } from './sessions.repository.js';
import { UsersRepository } from './users.repository.js';

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
    private readonly sessions: SessionsRepository,
    private readonly users: UsersRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async signIn(email: string, password: string, ip: string, userAgent = ''): Promise<StartedSession> {
    const window = this.config.SIGN_IN_WINDOW_MINUTES;
    const counts = await this.sessions.recentFailures(email, ip, window);
    if (counts.account >= this.config.SIGN_IN_MAX_FAILURES_PER_ACCOUNT || counts.address >= this.config.SIGN_IN_MAX_FAILURES_PER_IP) {
      // Checked before the password, so a locked account cannot be probed at all.
      throw new OpenAIError(429, `Too many failed sign-ins. Wait ${window} minutes and try again, or ask an admin to reset your password.`, 'rate_limit_error', 'sign_in_locked', null, false, {
        'retry-after': String(window * 60),
      });
    }
    const user = await this.users.credentials(email);
    const valid = await verifyPassword(user?.password_hash ?? null, password);
    if (!user || !valid || user.disabled_at) {
      await this.sessions.recordFailure(email, ip);
      throw badCredentials();
    }
    await this.sessions.clearFailures(email);

    const token = randomBytes(32).toString('base64url');
    const csrfToken = randomBytes(32).toString('base64url');
    const id = sessionHash(token);
    const expiresAt = await this.sessions.insert({ id, userId: user.id, csrfToken, ip, userAgent: userAgent.slice(0, 300), maxHours: this.config.SESSION_MAX_HOURS });
    return {
      token,
      expiresAt,
      principal: { kind: 'session', id: user.id, email: user.email, role: user.role, sessionId: id.toString('hex'), csrfToken },
    };
  }

  /** The session's principal, touching its idle timer; null when unknown, ended, idle too long or past its absolute expiry. */
  async validate(token: string): Promise<SessionPrincipal | null> {
    const user = await this.sessions.touch(sessionHash(token), this.config.SESSION_IDLE_MINUTES);
    if (!user) return null;
    return { kind: 'session', id: user.id, email: user.email, role: user.role, sessionId: sessionHash(token).toString('hex'), csrfToken: user.csrf_token };
  }

  async end(sessionId: string): Promise<void> {
    await this.sessions.end(Buffer.from(sessionId, 'hex'));
  }
}
