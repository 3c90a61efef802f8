// The one list of call hooks, in the order they run. A new policy is a class implementing
// CallHook in its module, provided there, and one line here.
import type { FactoryProvider, Type } from '@nestjs/common';
import { BudgetHook } from '../../budgets/budget.hook.js';
import { AlertsHook } from '../../alerts/alerts.hook.js';
import { CALL_HOOKS, type CallHook } from './call-hook.js';

const HOOKS: Type<CallHook>[] = [BudgetHook, AlertsHook];

export const callHooksProvider: FactoryProvider<CallHook[]> = {
  provide: CALL_HOOKS,
  useFactory: (...hooks: CallHook[]) => hooks,
  inject: HOOKS,
};
