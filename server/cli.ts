// `npm run cli -- <command>`: bootstrap and administer Tallygate without the dashboard.
// Secrets can be read from standard input (`--api-key -`) so they stay out of shell history.
import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { Module, type DynamicModule, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { randomBytes } from 'node:crypto';
import { ApiTokensService } from './auth/api-tokens.service.js';
import { AuditService } from './auth/audit.service.js';
import { createApiTokenSchema, createUserSchema, updateUserSchema } from './auth/auth.dto.js';
import { AuthModule } from './auth/auth.module.js';
import { UsersService } from './auth/users.service.js';
import { APP_CONFIG, ConfigError, loadConfig, loadEnvFile, type AppConfig } from './config/config.js';
import { ConfigModule } from './config/config.module.js';
import { dataSourceOptions } from './database/data-source.js';
import { openDatabase } from './database/database.js';
import { migrate } from './database/migrate.js';
import { OpenAIError } from './http/openai-error.js';
import { LedgerWriter } from './ledger/ledger.writer.js';
import { validate } from './http/validate.js';
import { adminKeySchema, createFeatureSchema, createOrgSchema, openaiKeyIdSchema } from './orgs/orgs.dto.js';
import { OrgsModule } from './orgs/orgs.module.js';
import { OrgsService, type Actor } from './orgs/orgs.service.js';
import { PricingModule } from './pricing/pricing.module.js';
import { PricingService } from './pricing/pricing.service.js';

@Module({})
class CliModule {
  static forRoot(config: AppConfig, url: string): DynamicModule {
    return {
      module: CliModule,
      imports: [ConfigModule.forRoot(config), TypeOrmModule.forRoot(dataSourceOptions(url)), AuthModule, OrgsModule, PricingModule],
    };
  }
}

type Flags = Record<string, string | boolean | undefined>;
type Command = { usage: string; run(ctx: INestApplicationContext, args: string[], flags: Flags): Promise<unknown> };

const orgs = (ctx: INestApplicationContext) => ctx.get(OrgsService);
/** Changes made here are audited as the CLI's. */
const CLI: Actor = { principal: 'cli' };
const need = (value: string | boolean | undefined, name: string): string => {
  if (typeof value !== 'string' || value === '') throw new Error(`missing --${name}`);
  return value;
};

async function secret(value: string | boolean | undefined, name: string): Promise<string> {
  const given = need(value, name);
  if (given !== '-') return given;
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text.trim();
}

const COMMANDS: Record<string, Command> = {
  migrate: {
    usage: 'migrate                                   apply pending migrations',
    run: async (ctx) => ({ applied: await migrate(ctx.get(DataSource)) }),
  },
  'orgs:create': {
    usage: 'orgs:create --name N --org-id org-… [--project proj_…] [--base-url URL] [--api-key sk-…|-]',
    run: async (ctx, _a, f) =>
      orgs(ctx).createOrg(
        validate(createOrgSchema, {
          name: f.name,
          openaiOrgId: f['org-id'],
          projectId: f.project,
          baseUrl: f['base-url'],
          apiKey: f['api-key'] ? await secret(f['api-key'], 'api-key') : undefined,
        }),
        CLI,
      ),
  },
  'orgs:list': { usage: 'orgs:list', run: (ctx) => orgs(ctx).listOrgs() },
  'orgs:suspend': {
    usage: 'orgs:suspend <org>                        stop all traffic to an org',
    run: async (ctx, [ref]) => orgs(ctx).updateOrg((await orgs(ctx).findOrg(need(ref, 'org'))).id, { status: 'suspended' }, CLI),
  },
  'orgs:activate': {
    usage: 'orgs:activate <org>',
    run: async (ctx, [ref]) => orgs(ctx).updateOrg((await orgs(ctx).findOrg(need(ref, 'org'))).id, { status: 'active' }, CLI),
  },
  'keys:add': {
    usage: 'keys:add <org> --api-key sk-…|- [--label L]  add an upstream key (newest carries traffic)',
    run: async (ctx, [ref], f) =>
      orgs(ctx).addUpstreamKey((await orgs(ctx).findOrg(need(ref, 'org'))).id, await secret(f['api-key'], 'api-key'), f.label as string | undefined, CLI),
  },
  'keys:revoke': {
    usage: 'keys:revoke <org> <key-id>',
    run: async (ctx, [ref, keyId]) => orgs(ctx).revokeUpstreamKey((await orgs(ctx).findOrg(need(ref, 'org'))).id, need(keyId, 'key-id'), CLI),
  },
  'keys:reseal': {
    usage: 'keys:reseal                               re-seal upstream keys (and admin keys) under the current MASTER_KEY',
    run: async (ctx) => ({ resealed: await orgs(ctx).resealUpstreamKeys(CLI) }),
  },
  'features:create': {
    usage: 'features:create --slug S --name N --org <org> [--grant <org>,<org>] [--budget-usd X]',
    run: async (ctx, _a, f) => {
      const service = orgs(ctx);
      const grants = typeof f.grant === 'string' ? await Promise.all(f.grant.split(',').map((r) => service.findOrg(r.trim()))) : [];
      return service.createFeature(
        validate(createFeatureSchema, {
          slug: f.slug,
          name: f.name,
          defaultOrgId: (await service.findOrg(need(f.org, 'org'))).id,
          grantedOrgIds: grants.map((g) => g.id),
          monthlyBudgetUsd: f['budget-usd'],
        }),
        CLI,
      );
    },
  },
  'orgs:set-admin-key': {
    usage: 'orgs:set-admin-key <org> --api-key -       set or rotate the OpenAI admin key reconciliation reads usage and costs with',
    run: async (ctx, [ref], f) => {
      const org = await orgs(ctx).findOrg(need(ref, 'org'));
      return orgs(ctx).setAdminKey(org.id, validate(adminKeySchema, { adminKey: await secret(f['api-key'], 'api-key') }).adminKey, CLI);
    },
  },
  'orgs:remove-admin-key': {
    usage: 'orgs:remove-admin-key <org>               reconciliation stops for this org',
    run: async (ctx, [ref]) => {
      const org = await orgs(ctx).findOrg(need(ref, 'org'));
      await orgs(ctx).removeAdminKey(org.id, CLI);
      return { orgId: org.id, adminKey: null };
    },
  },
  'keys:set-openai-id': {
    usage: 'keys:set-openai-id <org> <key-id> --openai-key-id key_…|none   OpenAI\'s id for an upstream key (its usage groups by it)',
    run: async (ctx, [ref, keyId], f) => {
      const org = await orgs(ctx).findOrg(need(ref, 'org'));
      const given = need(f['openai-key-id'], 'openai-key-id');
      const { openaiKeyId } = validate(openaiKeyIdSchema, { openaiKeyId: given === 'none' ? null : given });
      return orgs(ctx).setUpstreamKeyOpenaiId(org.id, need(keyId, 'key-id'), openaiKeyId, CLI);
    },
  },
  'features:list': { usage: 'features:list', run: (ctx) => orgs(ctx).listFeatures() },
  'gateway-keys:issue': {
    usage: 'gateway-keys:issue <feature> [--name N]    prints the key once',
    run: async (ctx, [ref], f) => {
      const issued = await orgs(ctx).issueGatewayKey((await orgs(ctx).findFeature(need(ref, 'feature'))).id, (f.name as string) ?? '', CLI);
      return { ...issued, note: 'Store this key now: Tallygate keeps only its hash and cannot show it again.' };
    },
  },
  'gateway-keys:list': {
    usage: 'gateway-keys:list [feature]',
    run: async (ctx, [ref]) => orgs(ctx).listGatewayKeys(ref ? (await orgs(ctx).findFeature(ref)).id : undefined),
  },
  'gateway-keys:revoke': { usage: 'gateway-keys:revoke <key-id>', run: (ctx, [id]) => orgs(ctx).revokeGatewayKey(need(id, 'key-id'), CLI) },
  'users:create': {
    usage: 'users:create --email E --role admin|finance|engineer [--name N] [--password -]  (no --password: one is generated and printed once)',
    run: async (ctx, _a, f) => {
      const generated = f.password === undefined ? randomBytes(15).toString('base64url') : undefined;
      const input = validate(createUserSchema, { email: f.email, role: f.role, name: f.name, password: generated ?? (await secret(f.password, 'password')) });
      const user = await ctx.get(UsersService).create(input);
      await ctx.get(AuditService).record('cli', { action: 'user.create', targetType: 'user', targetId: user.id, details: { email: user.email, role: user.role } });
      return generated ? { ...user, password: generated, note: 'Give this password to the user now; it is not stored and cannot be shown again.' } : user;
    },
  },
  'users:list': { usage: 'users:list', run: (ctx) => ctx.get(UsersService).list() },
  'ledger:replay-rejected': {
    usage: 'ledger:replay-rejected                    write DATA_DIR/rejected again once fixed (what is still refused stays)',
    // A writer of its own, never bootstrapped: it replays only what it is asked to, with no timer.
    run: (ctx) => new LedgerWriter(ctx.get(DataSource), ctx.get<AppConfig>(APP_CONFIG)).replayRejected(),
  },
  'users:disable': {
    usage: 'users:disable <email>                     ends their sessions too',
    run: async (ctx, [email]) => {
      const users = ctx.get(UsersService);
      const user = await users.update((await users.findByEmail(need(email, 'email'))).id, { disabled: true });
      await ctx.get(AuditService).record('cli', { action: 'user.disable', targetType: 'user', targetId: user.id, details: { email: user.email } });
      return user;
    },
  },
  'users:set-password': {
    usage: 'users:set-password <email> --password -   (reads it from stdin; ends their sessions)',
    run: async (ctx, [email], f) => {
      const users = ctx.get(UsersService);
      const patch = validate(updateUserSchema, { password: await secret(f.password, 'password') });
      const user = await users.update((await users.findByEmail(need(email, 'email'))).id, patch);
      await ctx.get(AuditService).record('cli', { action: 'user.update', targetType: 'user', targetId: user.id, details: { passwordChanged: true } });
      return user;
    },
  },
  'api-tokens:create': {
    usage: 'api-tokens:create --name N --role R --days D   prints the token once',
    run: async (ctx, _a, f) => {
      const input = validate(createApiTokenSchema, { name: f.name, role: f.role, expiresInDays: Number(need(f.days, 'days')) });
      const issued = await ctx.get(ApiTokensService).create(input, { kind: 'admin_token', id: 'cli', role: 'admin' });
      const { record } = issued;
      await ctx.get(AuditService).record('cli', { action: 'api_token.create', targetType: 'api_token', targetId: record.id, details: { name: record.name, role: record.role, masked: record.masked } });
      return { ...issued, note: 'Store this token now: Tallygate keeps only its hash and cannot show it again.' };
    },
  },
  'audit:list': {
    usage: 'audit:list [--limit N]',
    run: (ctx, _a, f) => ctx.get(AuditService).list({ limit: Number(f.limit ?? 50), signIns: 'include' }),
  },
  'prices:sync': {
    usage: 'prices:sync                               load the shipped price list (keeps edited rows)',
    run: async (ctx) => ({ inserted: await ctx.get(PricingService).syncPriceList() }),
  },
};

// Every option any command takes; all take a value (`--name x` or `--name=x`).
const OPTIONS = Object.fromEntries(
  ['name', 'org-id', 'project', 'base-url', 'api-key', 'label', 'slug', 'org', 'grant', 'budget-usd', 'email', 'role', 'password', 'days', 'limit', 'openai-key-id'].map(
    (o) => [o, { type: 'string' as const }],
  ),
);

function help(): string {
  return ['Usage: npm run cli -- <command> [options]', '', ...Object.values(COMMANDS).map((c) => `  ${c.usage}`)].join('\n');
}

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({ allowPositionals: true, strict: true, options: OPTIONS });
  const [name, ...args] = positionals;
  const command = name ? COMMANDS[name] : undefined;
  if (!command) {
    console.error(name ? `Unknown command: ${name}\n\n${help()}` : help());
    return name ? 2 : 0;
  }
  loadEnvFile();
  const config = loadConfig();
  const database = await openDatabase(config);
  const ctx = await NestFactory.createApplicationContext(CliModule.forRoot(config, database.url), { logger: ['error'] });
  try {
    if (name !== 'migrate') await migrate(ctx.get(DataSource));
    console.log(JSON.stringify(await command.run(ctx, args, values), null, 2));
    return 0;
  } finally {
    await ctx.close();
    await database.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    const message = error instanceof OpenAIError || error instanceof ConfigError || error instanceof Error ? error.message : String(error);
    console.error(`error: ${message}`);
    process.exit(1);
  },
);
