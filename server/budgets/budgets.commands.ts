// CLI commands for budgets (registered in server/cli.ts): list them with their spend, create one.
import type { INestApplicationContext } from '@nestjs/common';
import { createBudgetSchema } from '../contract/budgets.js';
import { validate } from '../http/validate.js';
import { OrgsService } from '../orgs/orgs.service.js';
import { BudgetsService } from './budgets.service.js';

type Flags = Record<string, string | boolean | undefined>;
export type CliCommand = { usage: string; run(ctx: INestApplicationContext, args: string[], flags: Flags): Promise<unknown> };
const str = (v: string | boolean | undefined) => (typeof v === 'string' && v !== '' ? v : undefined);

export const BUDGET_COMMANDS: Record<string, CliCommand> = {
  'budgets:list': { usage: 'budgets:list                              every budget with its spend, forecast and when it runs out', run: (ctx) => ctx.get(BudgetsService).list() },
  'budgets:create': {
    usage: 'budgets:create --name N (--feature <slug>|--org <org>) --amount-usd X [--enforcement soft|hard] [--tz Zone]',
    run: async (ctx, _a, f) => {
      const orgs = ctx.get(OrgsService);
      const featureRef = str(f.feature);
      const feature = featureRef ? (await orgs.listFeatures()).find((x) => x.slug === featureRef || x.id === featureRef) : undefined;
      if (featureRef && !feature) throw new Error(`no feature ${featureRef}`);
      const orgRef = str(f.org);
      return ctx.get(BudgetsService).create(
        validate(createBudgetSchema, {
          name: str(f.name),
          featureId: feature?.id,
          orgId: orgRef ? (await orgs.findOrg(orgRef)).id : undefined,
          amountUsd: str(f['amount-usd']),
          enforcement: str(f.enforcement),
          timeZone: str(f.tz),
        }),
      );
    },
  },
};
