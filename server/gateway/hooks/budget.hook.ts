// Feature budgets: a feature that has spent its monthly budget is refused (429
// feature_budget_exceeded) before anything is sent. Read from the month-to-date cache, so a call
// waits for Postgres only on its feature's first check (bounded); budgets fail open.
import { Injectable, Logger } from '@nestjs/common';
import { OpenAIError } from '../../http/openai-error.js';
import { MonthToDateSpend } from '../../ledger/month-to-date.service.js';
import type { Route } from '../../orgs/route-resolver.js';
import type { CallHook, HookedCall } from './call-hook.js';

@Injectable()
export class BudgetHook implements CallHook {
  readonly name = 'budget';
  private readonly logger = new Logger('gateway');

  constructor(private readonly spend: MonthToDateSpend) {}

  /** A promise only for a feature that has a budget: every other call does not wait. */
  beforeForward(call: HookedCall): Promise<void> | undefined {
    const route = call.route;
    if (!route || route.monthlyBudgetNanos === null) return undefined;
    return this.check(route);
  }

  private async check(route: Route): Promise<void> {
    let spent: bigint;
    try {
      spent = await this.spend.featureNanos(route.featureId);
    } catch (error) {
      // Budgets fail open: a Postgres hiccup must not stop every feature that has one.
      this.logger.warn(`budget of ${route.featureSlug} not checked: ${(error as Error).message}`);
      return;
    }
    const budget = BigInt(route.monthlyBudgetNanos!);
    if (spent < budget) return;
    const usd = (n: bigint) => `$${(Number(n) / 1e9).toFixed(2)}`;
    throw new OpenAIError(
      429,
      `Feature ${route.featureSlug} has used its monthly budget (${usd(spent)} of ${usd(budget)}). Ask an admin to raise it; it resets on the 1st of the month (UTC).`,
      'insufficient_quota',
      'feature_budget_exceeded',
    );
  }
}
