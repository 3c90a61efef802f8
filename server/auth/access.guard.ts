// One guard for every route, deny by default: /api routes must declare @Roles(...) or @Public().
// The gateway (/v1) authenticates with gateway keys itself and is not guarded here.
import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { OpenAIError } from '../http/openai-error.js';
import { API_TOKEN_PREFIX, ApiTokensService } from './api-tokens.service.js';
import { PUBLIC_KEY, ROLES_KEY, type Role } from './roles.decorator.js';
import type { GuardedRequest, Principal } from './principal.js';
import { SESSION_COOKIE, SessionsService } from './sessions.service.js';

export type { GuardedRequest, Principal } from './principal.js';


const digest = (s: string) => createHash('sha256').update(s).digest();
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const unauthenticated = () =>
  new OpenAIError(401, 'Sign in first (POST /api/auth/sign-in), or send Authorization: Bearer <API token>.', 'authentication_error', 'unauthenticated');

@Injectable()
export class AccessGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly sessions: SessionsService,
    private readonly apiTokens: ApiTokensService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const request = context.switchToHttp().getRequest<GuardedRequest>();
    // The matched route pattern, not the raw URL: encoded or doubled slashes cannot dodge the check.
    const route = request.routeOptions?.url ?? request.url;
    if (!route.startsWith('/api/')) return true;
    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(ROLES_KEY, targets);
    if (!roles) throw new OpenAIError(403, 'This route has no access rule and is closed.', 'permission_error', 'no_access_rule');
    const principal = await this.authenticate(request);
    if (principal.role !== 'admin' && !roles.includes(principal.role)) {
      throw new OpenAIError(403, `Your role (${principal.role}) may not use this.`, 'permission_error', 'forbidden');
    }
    request.principal = principal;
    return true;
  }

  /**
   * A bearer token (API token `tga-…`, or the break-glass ADMIN_TOKEN) or else the session cookie.
   * Only cookie auth needs the CSRF header: a browser never attaches a bearer token on its own.
   */
  private async authenticate(request: FastifyRequest): Promise<Principal> {
    const authorization = request.headers.authorization;
    if (authorization !== undefined) {
      const given = /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
      if (!given) throw unauthenticated();
      if (given.startsWith(API_TOKEN_PREFIX)) {
        const principal = await this.apiTokens.authenticate(given);
        if (principal) return principal;
        throw new OpenAIError(401, 'This API token is unknown, expired or revoked. Ask an admin for a new one.', 'authentication_error', 'invalid_api_token');
      }
      const expected = this.config.ADMIN_TOKEN;
      if (expected && timingSafeEqual(digest(given), digest(expected))) return { kind: 'admin_token', id: 'admin-token', role: 'admin' };
      throw unauthenticated();
    }
    const token = request.cookies?.[SESSION_COOKIE];
    if (!token) throw unauthenticated();
    const principal = await this.sessions.validate(token);
    if (!principal) throw new OpenAIError(401, 'Your session has ended. Sign in again.', 'authentication_error', 'session_expired');
    if (!SAFE_METHODS.has(request.method)) {
      const header = request.headers['x-csrf-token'];
      if (typeof header !== 'string' || !timingSafeEqual(digest(header), digest(principal.csrfToken))) {
        throw new OpenAIError(403, 'Missing or wrong x-csrf-token header (the dashboard gets it from sign-in or GET /api/auth/me).', 'permission_error', 'csrf_failed');
      }
    }
    return principal;
  }
}
