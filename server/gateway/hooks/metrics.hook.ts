// Prometheus metrics (/metrics): the call counted by org, model family, feature and cause, and the
// latency the gateway itself added (all of it but the upstream's time and any pacing wait).
import { Injectable } from '@nestjs/common';
import type { UsageEvent } from '../../ledger/usage-event.js';
import { RateLimitObserver } from '../../ratelimits/rate-limit.observer.js';
import type { CallHook, HookedCall } from './call-hook.js';
import { pacingWaitMs } from './pacing.hook.js';

@Injectable()
export class MetricsHook implements CallHook {
  readonly name = 'metrics';

  constructor(private readonly observer: RateLimitObserver) {}

  onEvent(event: UsageEvent, call: HookedCall): void {
    this.observer.count(event, call);
    if (call.started !== undefined) this.observer.addedLatency(call.started, call.upstreamAt ?? 0, call.upstreamDoneAt ?? 0, call.endedAt ?? 0, pacingWaitMs(call));
  }
}
