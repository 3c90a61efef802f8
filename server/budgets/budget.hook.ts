// Hard budgets at the gateway: a call whose feature or org has spent its hard budget for the period is
// refused with 429 insufficient_quota before it is sent (it costs nothing and gets its row). Synchronous:
// the verdict is in memory (BudgetsService refreshes it), so no call waits on Postgres.
import { Injectable } from '@nestjs/common';
import type { CallHook, HookedCall } from '../gateway/hooks/call-hook.js';
import { OpenAIError } from '../http/openai-error.js';
import type { UsageEvent } from '../ledger/usage-event.js';
import { BudgetsService, type HardBudget } from './budgets.service.js';

@Injectable()
export class BudgetHook implements CallHook {
  readonly name = 'budget';

  constructor(private readonly budgets: BudgetsService) {}

  beforeForward(call: HookedCall): void {
    if (this.budgets.hardCount === 0 || !call.route) return;
    const budget = this.budgets.exhausted(call.route.featureId, call.route.org.orgId);
    if (budget) throw budgetExceeded(budget);
  }

  onEvent(event: UsageEvent): void {
    if (this.budgets.hardCount === 0 || event.costNanos === null || event.costNanos === '0') return;
    this.budgets.addSpend(event.featureId, event.orgId, BigInt(event.costNanos));
  }
}

function budgetExceeded(b: HardBudget): OpenAIError {
  const usd = (n: bigint) => `$${(Number(n) / 1e9).toFixed(2)}`;
  const whose = b.featureId ? `Feature ${b.featureSlug}` : `Organization ${b.orgName}`;
  return new OpenAIError(
    429,
    `${whose} has used its budget "${b.name}" (${usd(b.spent)} of ${usd(b.amount)}). The request was not sent to OpenAI. Ask an admin to raise the budget; it renews at ${b.periodEnd.toISOString()} (${b.timeZone}).`,
    'insufficient_quota',
    b.featureId ? 'feature_budget_exceeded' : 'org_budget_exceeded',
  );
}
