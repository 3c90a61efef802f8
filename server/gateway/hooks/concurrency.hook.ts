// Fair sharing of the upstream pool: at most UPSTREAM_MAX_CONCURRENT_PER_ORG calls of one org (and
// UPSTREAM_MAX_CONCURRENT_PER_FEATURE of one feature, when set) in flight through this replica.
// One counter per org and feature, no promise, no queue: past a cap the call is answered 429 at
// once, before anything is sent. Last of the before-forward hooks: a slot is held only by a call
// that is about to be sent, and given back for every call that took one.
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../../config/config.js';
import { OpenAIError } from '../../http/openai-error.js';
import type { CallHook, HookedCall } from './call-hook.js';

interface Slot {
  inFlight: number;
}

const ORG = 'concurrency';
const FEATURE = 'concurrency.feature';

@Injectable()
export class ConcurrencyHook implements CallHook {
  readonly name = ORG;
  private readonly byOrg = new Map<string, Slot>();
  private readonly byFeature = new Map<string, Slot>();
  private readonly orgCap: number;
  private readonly featureCap: number;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.orgCap = config.UPSTREAM_MAX_CONCURRENT_PER_ORG;
    this.featureCap = config.UPSTREAM_MAX_CONCURRENT_PER_FEATURE;
  }

  beforeForward(call: HookedCall): void {
    const route = call.route;
    if (!route) return;
    const org = this.orgCap > 0 ? slotOf(this.byOrg, route.org.orgId) : undefined;
    const feature = this.featureCap > 0 ? slotOf(this.byFeature, route.featureId) : undefined;
    if (org && org.inFlight >= this.orgCap) throw concurrencyLimit(`Organization ${route.org.openaiOrgId}`, this.orgCap, 'UPSTREAM_MAX_CONCURRENT_PER_ORG');
    if (feature && feature.inFlight >= this.featureCap) throw concurrencyLimit(`Feature ${route.featureSlug}`, this.featureCap, 'UPSTREAM_MAX_CONCURRENT_PER_FEATURE');
    if (org) (call.notes[ORG] = org).inFlight++;
    if (feature) (call.notes[FEATURE] = feature).inFlight++;
  }

  onEnd(call: HookedCall): void {
    const org = call.notes[ORG] as Slot | undefined;
    const feature = call.notes[FEATURE] as Slot | undefined;
    if (org) {
      org.inFlight--;
      call.notes[ORG] = undefined;
    }
    if (feature) {
      feature.inFlight--;
      call.notes[FEATURE] = undefined;
    }
  }

  /** Calls of the org holding a slot now (for tests and diagnostics). */
  inFlight(orgId: string): number {
    return this.byOrg.get(orgId)?.inFlight ?? 0;
  }
}

function slotOf(slots: Map<string, Slot>, id: string): Slot {
  let slot = slots.get(id);
  if (!slot) slots.set(id, (slot = { inFlight: 0 }));
  return slot;
}

function concurrencyLimit(who: string, cap: number, variable: string): OpenAIError {
  return new OpenAIError(
    429,
    `${who} already has ${cap} calls in flight through this Tallygate replica (${variable}), so that one cannot hold every upstream connection. The request was not sent to OpenAI; retry shortly, or ask the operator to raise the cap.`,
    'requests',
    'gateway_concurrency_limit',
    null,
    true,
    { 'retry-after': '1' },
  );
}
