// Rate-limit observation: the headers of each answer update the live headroom of its org and
// model family (the dashboard's headroom page, pacing's view of the limits).
import { Injectable } from '@nestjs/common';
import type { UsageEvent } from '../../ledger/usage-event.js';
import { RateLimitObserver } from '../../ratelimits/rate-limit.observer.js';
import type { CallHook, HookedCall } from './call-hook.js';

@Injectable()
export class HeadroomHook implements CallHook {
  readonly name = 'headroom';

  constructor(private readonly observer: RateLimitObserver) {}

  onEvent(event: UsageEvent, call: HookedCall): void {
    this.observer.headroom(event, call);
  }
}
