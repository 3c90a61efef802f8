// `npm run cli -- <command>`: bootstrap and administer Tallygate without the dashboard.
// Secrets can be read from standard input (`--api-key -`) so they stay out of shell history.
import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { Module, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { ATTRIBUTION_COMMANDS, ATTRIBUTION_FLAGS } from './attribution/attribution.commands.js';
import { AUTH_COMMANDS } from './auth/auth.commands.js';
import { AuthModule } from './auth/auth.module.js';
import { BATCH_COMMANDS } from './batches/batches.commands.js';
import { BatchesCliModule } from './batches/batches.module.js';
import { CLI_ACTOR, type Commands } from './cli/command.js';
import { ConfigError, loadConfig, loadEnvFile, type AppConfig } from './config/config.js';
import { ConfigModule } from './config/config.module.js';
import { SharedStateModule } from './shared-state/shared-state.module.js';
import { MODERATION_COMMANDS } from './moderation/moderation.commands.js';
import { ModerationModule } from './moderation/moderation.module.js';
import { DATABASE_COMMANDS } from './database/database.commands.js';
import { dataSourceOptions } from './database/data-source.js';
import { openDatabase } from './database/database.js';
import { migrate } from './database/migrate.js';
import { OpenAIError } from './http/openai-error.js';
import { LEDGER_COMMANDS } from './ledger/ledger.commands.js';
import { ORGS_COMMANDS } from './orgs/orgs.commands.js';
import { OrgsModule } from './orgs/orgs.module.js';
import { OrgsService } from './orgs/orgs.service.js';
import { PRICING_COMMANDS } from './pricing/pricing.commands.js';
import { PricingModule } from './pricing/pricing.module.js';
import { ALERT_COMMANDS } from './alerts/alerts.commands.js';
import { AlertsRepository } from './alerts/alerts.repository.js';
import { AlertsService } from './alerts/alerts.service.js';
import { BUDGET_COMMANDS } from './budgets/budgets.commands.js';
import { BudgetsRepository } from './budgets/budgets.repository.js';
import { BudgetsService } from './budgets/budgets.service.js';
import { HardBudgets } from './budgets/hard-budgets.js';

@Module({})
class CliModule {
  static forRoot(config: AppConfig, url: string): DynamicModule {
    return {
      module: CliModule,
      imports: [ConfigModule.forRoot(config), SharedStateModule, TypeOrmModule.forRoot(dataSourceOptions(url)), AuthModule, OrgsModule, PricingModule, ModerationModule, BatchesCliModule],
      // Budgets and alerts without their schedulers: commands read and queue, the running gateway sends.
      providers: [BudgetsRepository, HardBudgets, BudgetsService, AlertsRepository, AlertsService],
    };
  }
}

/** After a MASTER_KEY rotation: every sealed secret, whichever module keeps it, under the new key. */
const RESEAL: Commands = {
  'keys:reseal': {
    usage: 'keys:reseal                               re-seal every secret (upstream and admin keys, alert channel URLs and secrets) under the current MASTER_KEY',
    run: async (ctx) => ({ upstreamKeys: await ctx.get(OrgsService).resealUpstreamKeys({ principal: CLI_ACTOR }), alertChannels: await ctx.get(AlertsService).resealSecrets() }),
  },
};

/** Every command, each module's kept beside it; the help lists them in this order. */
const COMMANDS: Commands = { ...DATABASE_COMMANDS, ...ORGS_COMMANDS, ...RESEAL, ...AUTH_COMMANDS, ...LEDGER_COMMANDS, ...PRICING_COMMANDS, ...MODERATION_COMMANDS, ...BATCH_COMMANDS, ...BUDGET_COMMANDS, ...ALERT_COMMANDS, ...ATTRIBUTION_COMMANDS };

// Every option any command takes; all take a value (`--name x` or `--name=x`).
const OPTIONS = Object.fromEntries(
  ['name', 'org-id', 'project', 'base-url', 'api-key', 'label', 'slug', 'org', 'grant', 'budget-usd', 'email', 'role', 'password', 'days', 'limit', 'openai-key-id', 'preset', 'threshold', 'guardrail', 'fail', 'timeout-ms', 'store-inputs', 'dry-run', 'feature', 'amount-usd', 'enforcement', 'tz', 'state', ...ATTRIBUTION_FLAGS].map(
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
