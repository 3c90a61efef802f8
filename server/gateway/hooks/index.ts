// The one list of call hooks, in the order they run. A new policy is a class implementing
// CallHook in its module, provided there, and one line here.
import type { FactoryProvider, Type } from '@nestjs/common';
import { AttributionHook } from '../../attribution/attribution.hook.js';
import { CALL_HOOKS, type CallHook } from './call-hook.js';

const HOOKS: Type<CallHook>[] = [
  // Adds end user and tags to the event: before any hook that reads them (budgets scoped to a tag).
  AttributionHook,
];

export const callHooksProvider: FactoryProvider<CallHook[]> = {
  provide: CALL_HOOKS,
  useFactory: (...hooks: CallHook[]) => hooks,
  inject: HOOKS,
};
