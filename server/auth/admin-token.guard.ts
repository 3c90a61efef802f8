import { timingSafeEqual, createHash } from 'node:crypto';
import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { OpenAIError } from '../http/openai-error.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Guards /api until dashboard sign-in exists: the API answers only when ADMIN_TOKEN is set, and
 * only to a bearer token equal to it (compared in constant time).
 */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const expected = this.config.ADMIN_TOKEN;
    if (!expected) throw new OpenAIError(404, 'The admin API is disabled: set ADMIN_TOKEN to enable it.', 'invalid_request_error', 'admin_api_disabled');
    const header = context.switchToHttp().getRequest<FastifyRequest>().headers.authorization ?? '';
    const given = /^Bearer\s+(\S+)$/i.exec(header)?.[1] ?? '';
    if (!timingSafeEqual(digest(given), digest(expected))) {
      throw new OpenAIError(401, 'Missing or wrong admin token (Authorization: Bearer <ADMIN_TOKEN>).', 'authentication_error', 'invalid_admin_token');
    }
    return true;
  }
}
