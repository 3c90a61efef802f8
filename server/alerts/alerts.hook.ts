// Sees every call as it ends: a billing failure (quota or the org's key refused) wakes the evaluator at
// once instead of at its next interval, so the alert goes out within seconds. Observes only; adds nothing.
import { Injectable } from '@nestjs/common';
import type { CallHook } from '../gateway/hooks/call-hook.js';
import type { UsageEvent } from '../ledger/usage-event.js';
import { AlertsEvaluator } from './alerts.evaluator.js';

@Injectable()
export class AlertsHook implements CallHook {
  readonly name = 'alerts';

  constructor(private readonly evaluator: AlertsEvaluator) {}

  onEvent(event: UsageEvent): void {
    if (event.errorKind === 'quota' || (event.errorKind === 'auth' && event.upstreamRequestId !== null)) this.evaluator.evaluateSoon();
    // The first success of an org with an open billing alert: it recovered, resolve soon.
    else if (this.evaluator.billingOrgs.size > 0 && event.outcome === 'ok' && event.usageSource === 'reported' && event.orgId && this.evaluator.billingOrgs.has(event.orgId)) this.evaluator.evaluateSoon();
  }
}
