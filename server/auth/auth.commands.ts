// `npm run cli -- users:… api-tokens:… audit:…`: dashboard users, API tokens and the audit log.
import { randomBytes } from 'node:crypto';
import { CLI_ACTOR, need, secret, type Commands } from '../cli/command.js';
import { validate } from '../http/validate.js';
import { ApiTokensService } from './api-tokens.service.js';
import { AuditService } from './audit.service.js';
import { createApiTokenSchema, createUserSchema, updateUserSchema } from './auth.dto.js';
import { UsersService } from './users.service.js';

export const AUTH_COMMANDS: Commands = {
  'users:create': {
    usage: 'users:create --email E --role admin|finance|engineer [--name N] [--password -]  (no --password: one is generated and printed once)',
    run: async (ctx, _a, f) => {
      const generated = f.password === undefined ? randomBytes(15).toString('base64url') : undefined;
      const input = validate(createUserSchema, { email: f.email, role: f.role, name: f.name, password: generated ?? (await secret(f.password, 'password')) });
      const user = await ctx.get(UsersService).create(input);
      await ctx.get(AuditService).record(CLI_ACTOR, { action: 'user.create', targetType: 'user', targetId: user.id, details: { email: user.email, role: user.role } });
      return generated ? { ...user, password: generated, note: 'Give this password to the user now; it is not stored and cannot be shown again.' } : user;
    },
  },
  'users:list': { usage: 'users:list', run: (ctx) => ctx.get(UsersService).list() },
  'users:disable': {
    usage: 'users:disable <email>                     ends their sessions too',
    run: async (ctx, [email]) => {
      const users = ctx.get(UsersService);
      const user = await users.update((await users.findByEmail(need(email, 'email'))).id, { disabled: true });
      await ctx.get(AuditService).record(CLI_ACTOR, { action: 'user.disable', targetType: 'user', targetId: user.id, details: { email: user.email } });
      return user;
    },
  },
  'users:set-password': {
    usage: 'users:set-password <email> --password -   (reads it from stdin; ends their sessions)',
    run: async (ctx, [email], f) => {
      const users = ctx.get(UsersService);
      const patch = validate(updateUserSchema, { password: await secret(f.password, 'password') });
      const user = await users.update((await users.findByEmail(need(email, 'email'))).id, patch);
      await ctx.get(AuditService).record(CLI_ACTOR, { action: 'user.update', targetType: 'user', targetId: user.id, details: { passwordChanged: true } });
      return user;
    },
  },
  'api-tokens:create': {
    usage: 'api-tokens:create --name N --role R --days D   prints the token once',
    run: async (ctx, _a, f) => {
      const input = validate(createApiTokenSchema, { name: f.name, role: f.role, expiresInDays: Number(need(f.days, 'days')) });
      const issued = await ctx.get(ApiTokensService).create(input, { kind: 'admin_token', id: CLI_ACTOR, role: 'admin' });
      const { record } = issued;
      await ctx.get(AuditService).record(CLI_ACTOR, { action: 'api_token.create', targetType: 'api_token', targetId: record.id, details: { name: record.name, role: record.role, masked: record.masked } });
      return { ...issued, note: 'Store this token now: Tallygate keeps only its hash and cannot show it again.' };
    },
  },
  'audit:list': {
    usage: 'audit:list [--limit N]',
    run: (ctx, _a, f) => ctx.get(AuditService).list({ limit: Number(f.limit ?? 50), signIns: 'include' }),
  },
};
