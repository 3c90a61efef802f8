// The one list of call hooks, in the order they run. A new policy is a class implementing
// CallHook in its module, provided there, and one line here. Order:
//  1. before the upstream, refusals first (cheapest and most final), then waits: budget, your
//     policy, then pacing (a wait is wasted on a call a later policy refuses), concurrency LAST of
//     the before-forward hooks (a slot is held only by a call that is about to be sent);
//  2. on the event, enrichers (attribution, verdicts, tracking) first, then the observers
//     (headroom, metrics), and the ledger LAST: the row is queued with everything the hooks added.
//     A hook with onEvent after the ledger is refused at boot.
import type { FactoryProvider, Type } from '@nestjs/common';
import { AttributionHook } from '../../attribution/attribution.hook.js';
import { ModerationHook } from '../../moderation/moderation.hook.js';
import { BudgetHook } from '../../budgets/budget.hook.js';
import { AlertsHook } from '../../alerts/alerts.hook.js';
import { BatchCreatorHook } from '../../batches/batch.hook.js';
import { CALL_HOOKS, type CallHook } from './call-hook.js';
import { ConcurrencyHook } from './concurrency.hook.js';
import { HeadroomHook } from './headroom.hook.js';
import { LedgerHook } from './ledger.hook.js';
import { MetricsHook } from './metrics.hook.js';
import { PacingHook } from './pacing.hook.js';

const HOOKS: Type<CallHook>[] = [
  // Attribution FIRST: end user and tags checked (400 on a bad or missing required tag) and put on
  // the call before any hook that reads them (budgets scoped to a tag). Synchronous: no await.
  AttributionHook,
  BudgetHook,
  // before-forward policies go here. Budgets (org, feature; soft alerts, hard 429s) come first.
  // Alerts: sees every call as it ends (billing failures, 429s, errors), adds nothing to the event.
  AlertsHook,
  // Moderation: the guardrail before model calls; the verdict header and the verdicts on the events.
  ModerationHook,
  PacingHook,
  ConcurrencyHook,
  // event enrichers go here (tags, moderation verdicts...)
  // Batches: remembers who created each batch and input file (reads the event, adds nothing).
  BatchCreatorHook,
  HeadroomHook,
  MetricsHook,
  LedgerHook, // keep LAST among event hooks
];

/** The gateway's own hooks, provided by GatewayModule (other modules provide theirs). */
export const GATEWAY_HOOKS: Type<CallHook>[] = [PacingHook, ConcurrencyHook, HeadroomHook, MetricsHook, LedgerHook];

export const callHooksProvider: FactoryProvider<CallHook[]> = {
  provide: CALL_HOOKS,
  useFactory: (...hooks: CallHook[]) => checkOrder(hooks),
  inject: HOOKS,
};

/** The list as given, once it is known that nothing adds to the event after the ledger queued it. */
export function checkOrder(hooks: CallHook[]): CallHook[] {
  const ledger = hooks.findIndex((hook) => hook instanceof LedgerHook);
  const late = hooks.slice(ledger + 1).find((hook) => hook.onEvent);
  if (ledger >= 0 && late) throw new Error(`call hook ${late.name} has onEvent but comes after the ledger in server/gateway/hooks/index.ts: move it before LedgerHook`);
  return hooks;
}
