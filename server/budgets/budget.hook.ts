// Hard budgets at the gateway: a call whose feature or org has spent its hard budget for the period is
// refused with 429 insufficient_quota before it is sent (it costs nothing and gets its row). Synchronous:
// the verdict is in memory (HardBudgets keeps it, shared by replicas through Redis), so no call waits on Postgres.
import { Injectable } from '@nestjs/common';
import type { CallHook, HookedCall } from '../gateway/hooks/call-hook.js';
import type { UsageEvent } from '../ledger/usage-event.js';
import { budgetExceeded, HardBudgets } from './hard-budgets.js';

@Injectable()
export class BudgetHook implements CallHook {
  readonly name = 'budget';

  constructor(private readonly budgets: HardBudgets) {}

  beforeForward(call: HookedCall): void | Promise<void> {
    if (this.budgets.count === 0 || !call.route) return;
    const { featureId, org } = call.route;
    const budget = this.budgets.exhausted(featureId, org.orgId);
    if (budget) throw budgetExceeded(budget);
    // Near a budget's amount, with Redis: first hear what this replica's last increments answered.
    const settling = this.budgets.settling(featureId, org.orgId);
    if (!settling) return;
    return settling.then(() => {
      const crossed = this.budgets.exhausted(featureId, org.orgId);
      if (crossed) throw budgetExceeded(crossed);
    });
  }

  onEvent(event: UsageEvent): void {
    if (this.budgets.count === 0 || event.costNanos === null || event.costNanos === '0') return;
    this.budgets.addSpend(event.featureId, event.orgId, BigInt(event.costNanos), event.createdAt);
  }
}
