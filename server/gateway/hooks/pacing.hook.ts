// Pacing (off by default; PACING_ENABLED, PACING_ORGS): a paced org's call waits for room under
// its last rate-limit headers, or is refused 429 gateway_paced, before it is sent. The ticket is
// handed back for every call that took one, with the headers its answer carried (if any).
import { Injectable } from '@nestjs/common';
import { PacingService, type PacingTicket } from '../../ratelimits/pacing.service.js';
import { parseRateLimitHeaders } from '../../ratelimits/rate-limit-headers.js';
import { RateLimitObserver } from '../../ratelimits/rate-limit.observer.js';
import type { CallHook, HookedCall } from './call-hook.js';

const NOTE = 'pacing';

/** How long the call waited for pacing (0: not paced): not the gateway's own latency. */
export function pacingWaitMs(call: HookedCall): number {
  return (call.notes[NOTE] as PacingTicket | undefined)?.waitedMs ?? 0;
}

@Injectable()
export class PacingHook implements CallHook {
  readonly name = NOTE;

  constructor(
    private readonly pacing: PacingService,
    private readonly observer: RateLimitObserver,
  ) {}

  /** Undefined (no wait, no allocation) unless the org is paced. */
  beforeForward(call: HookedCall): Promise<void> | undefined {
    const route = call.route;
    if (!route || !call.model || !this.pacing.paces(route.org.openaiOrgId)) return undefined;
    const ticket = this.pacing.admit(route.org, call.model, { byteLength: call.requestBytes ?? 0, json: call.requestBody as Record<string, unknown> | undefined });
    return ticket?.then((taken) => {
      call.notes[NOTE] = taken;
    });
  }

  onEnd(call: HookedCall): void {
    const ticket = call.notes[NOTE] as PacingTicket | undefined;
    if (!ticket) return;
    call.notes[NOTE] = undefined;
    const limits = parseRateLimitHeaders(call.upstream?.headers ?? {});
    // As the usage event will say: the headers came with the first byte (or at the end, without one).
    const latencyMs = Math.round((call.endedAt || performance.now()) - (call.started ?? 0));
    this.observer.releaseTicket(ticket, limits, call.createdAt.getTime() + (call.ttfbMs ?? latencyMs), call.upstream !== undefined);
  }
}
