// One guard for every route, deny by default: /api routes must declare @Roles(...) or @Public().
// The gateway (/v1) authenticates with gateway keys itself and is not guarded here.
import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { OpenAIError } from '../http/openai-error.js';
import { PUBLIC_KEY, ROLES_KEY, type Role } from './roles.decorator.js';

export interface Principal {
  kind: 'admin_token' | 'session' | 'api_token';
  id: string;
  email?: string;
  role: Role;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

@Injectable()
export class AccessGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const request = context.switchToHttp().getRequest<FastifyRequest & { principal?: Principal }>();
    if (!request.url.startsWith('/api/')) return true;
    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(ROLES_KEY, targets);
    if (!roles) throw new OpenAIError(403, 'This route has no access rule and is closed.', 'permission_error', 'no_access_rule');
    const principal = this.authenticate(request);
    if (principal.role !== 'admin' && !roles.includes(principal.role)) {
      throw new OpenAIError(403, `Your role (${principal.role}) may not use this.`, 'permission_error', 'forbidden');
    }
    request.principal = principal;
    return true;
  }

  /** For now: the ADMIN_TOKEN bearer token is an admin. Sessions and API tokens come with sign-in. */
  private authenticate(request: FastifyRequest): Principal {
    const given = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
    const expected = this.config.ADMIN_TOKEN;
    if (given && expected && timingSafeEqual(digest(given), digest(expected))) return { kind: 'admin_token', id: 'admin-token', role: 'admin' };
    throw new OpenAIError(401, 'Sign in first (or send Authorization: Bearer <token>).', 'authentication_error', 'unauthenticated');
  }
}
