// Dashboard sign-in and sign-out: a session in an httpOnly, SameSite=Strict cookie plus a CSRF token
// the dashboard echoes in x-csrf-token on every state-changing request.
import { Body, Controller, Get, HttpCode, Inject, Post, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { validate } from '../http/validate.js';
import { signInSchema } from '../contract/index.js';
import { AuditService } from './audit.service.js';
import { CurrentCaller, type Caller } from './principal.decorator.js';
import { Public, Roles } from './roles.decorator.js';
import { SESSION_COOKIE, SessionsService, type SessionPrincipal } from './sessions.service.js';

const isSession = (p: Caller['principal']): p is SessionPrincipal => p.kind === 'session';

@ApiTags('auth')
@Controller('api/auth')
export class AuthController {
  constructor(
    private readonly sessions: SessionsService,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Public()
  @Post('sign-in')
  @HttpCode(200)
  async signIn(@Body() body: unknown, @Req() request: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply) {
    const input = validate(signInSchema, body);
    const session = await this.sessions.signIn(input.email, input.password, request.ip, request.headers['user-agent']);
    reply.setCookie(SESSION_COOKIE, session.token, {
      httpOnly: true,
      sameSite: 'strict',
      // request.protocol honours X-Forwarded-Proto only with TRUST_PROXY set.
      secure: request.protocol === 'https',
      path: '/',
      maxAge: this.config.SESSION_MAX_HOURS * 3600,
    });
    await this.audit.record(session.principal, { action: 'auth.sign_in', targetType: 'user', targetId: session.principal.id }, request.ip);
    const { principal } = session;
    return { user: { id: principal.id, email: principal.email, role: principal.role }, csrfToken: principal.csrfToken, expiresAt: session.expiresAt };
  }

  @Roles('admin', 'finance', 'engineer')
  @Post('sign-out')
  @HttpCode(204)
  async signOut(@CurrentCaller() caller: Caller, @Res({ passthrough: true }) reply: FastifyReply): Promise<void> {
    if (!isSession(caller.principal)) return; // a bearer token has no session to end
    await this.sessions.end(caller.principal.sessionId);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    await this.audit.record(caller.principal, { action: 'auth.sign_out', targetType: 'user', targetId: caller.principal.id }, caller.ip);
  }

  /** Who am I; the dashboard also picks up its CSRF token here after a reload. */
  @Roles('admin', 'finance', 'engineer')
  @Get('me')
  me(@CurrentCaller() { principal }: Caller) {
    return {
      kind: principal.kind,
      id: principal.id,
      email: principal.email ?? null,
      role: principal.role,
      csrfToken: isSession(principal) ? principal.csrfToken : null,
    };
  }
}
