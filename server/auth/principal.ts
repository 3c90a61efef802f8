// Who is calling an /api route, as the access guard found them: what services and the audit log take.
import type { FastifyRequest } from 'fastify';
import type { Role } from './roles.decorator.js';

export interface Principal {
  kind: 'admin_token' | 'session' | 'api_token';
  /** User id, API token id, or 'admin-token'. */
  id: string;
  email?: string;
  /** How an API token shows up in the audit log. */
  name?: string;
  role: Role;
}
/** A dashboard user signed in with a session cookie (mutations need its CSRF token). */
export interface SessionPrincipal extends Principal {
  kind: 'session';
  sessionId: string;
  csrfToken: string;
}
export type GuardedRequest = FastifyRequest & { principal?: Principal | SessionPrincipal };
