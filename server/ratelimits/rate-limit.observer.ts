// What a call tells this module once it is over: update the live headroom, return the pacing
// ticket with the headers seen, and count the call for /metrics. The gateway's hooks call the parts.
import { Injectable } from '@nestjs/common';
import type { UsageEvent } from '../ledger/usage-event.js';
import { modelFamily } from '../pricing/model-family.js';
import { HeadroomSnapshot } from './headroom.snapshot.js';
import { errorCause, MetricsService, type ThrottleLabel } from './metrics.service.js';
import { PacingService, type PacingTicket } from './pacing.service.js';
import type { ErrorKind } from '../ledger/error-kind.js';
import type { RateLimitSnapshot } from '../ledger/rate-limit-snapshot.js';

/** The parts of the proxy's call this needs (times are performance.now()). */
export interface ObservedCall {
  readonly started: number;
  /** When the request went upstream (after any pacing wait); 0 if it never did. */
  readonly upstreamAt: number;
  /** When the upstream body ended; 0 if it did not end normally. */
  readonly upstreamDoneAt: number;
  /** When the client's response ended; 0 if unknown. */
  readonly endedAt?: number;
  readonly paced?: PacingTicket;
  readonly upstream?: unknown;
  readonly route?: { readonly featureSlug: string; readonly org: { readonly openaiOrgId: string } };
}

const THROTTLES: Partial<Record<ErrorKind, ThrottleLabel>> = {
  rate_limit_requests: 'rate_limit_requests',
  rate_limit_tokens: 'rate_limit_tokens',
  request_too_large: 'request_too_large',
  quota: 'quota',
  paced: 'paced',
};

@Injectable()
export class RateLimitObserver {
  constructor(
    private readonly snapshot: HeadroomSnapshot,
    private readonly pacing: PacingService,
    private readonly metrics: MetricsService,
  ) {}

  /**
   * Everything at once, for a call recorded outside the proxy's hooks: headroom, the pacing ticket,
   * metrics. The proxy runs the parts as separate hooks (server/gateway/hooks/). No I/O, never throws.
   */
  observe(event: UsageEvent, call: ObservedCall): void {
    try {
      this.headroom(event, call);
      if (call.paced) this.releaseTicket(call.paced, event.rateLimits, observedAt(event), call.upstream !== undefined);
      this.count(event, call);
      this.addedLatency(call.started, call.upstreamAt, call.upstreamDoneAt, call.endedAt ?? 0, call.paced?.waitedMs ?? 0);
    } catch {
      // Metrics must never break a request; the ledger row is already queued.
    }
  }

  /** The live headroom of the call's org and model family, from the headers it got. */
  headroom(event: UsageEvent, call: Pick<ObservedCall, 'route'>): void {
    const limits = event.rateLimits;
    if (limits.limitRequests === undefined && limits.limitTokens === undefined) return;
    if (event.model === null || !event.orgId || !call.route) return;
    // Headers arrive with the first byte, not at the end of a long stream.
    this.snapshot.record(event.orgId, call.route.org.openaiOrgId, modelFamily(event.model), limits, observedAt(event));
  }

  /** Hands a pacing ticket back with the headers seen (none when the call never got an answer). */
  releaseTicket(ticket: PacingTicket, limits: RateLimitSnapshot, at: number, responded: boolean): void {
    const hasLimits = limits.limitRequests !== undefined || limits.limitTokens !== undefined;
    this.pacing.release(ticket, hasLimits ? limits : undefined, at, responded);
    if (ticket.waitedMs > 0) this.metrics.observePacingWait(ticket.waitedMs);
  }

  /** The call in the /metrics counters. */
  count(event: UsageEvent, call: Pick<ObservedCall, 'route'>): void {
    if (!call.route) return;
    this.metrics.count({
      openaiOrgId: call.route.org.openaiOrgId,
      model: event.model === null ? null : modelFamily(event.model),
      feature: call.route.featureSlug,
      failed: event.outcome !== 'ok',
      cause: errorCause(event.errorKind),
      inputTokens: event.inputTokens,
      outputTokens: event.outputTokens,
      retried: event.retryCount > 0,
      throttle: event.errorKind ? (THROTTLES[event.errorKind] ?? null) : null,
    });
  }

  /** What the gateway added to the call's latency: all of it but the upstream's time and any pacing wait. */
  addedLatency(started: number, upstreamAt: number, upstreamDoneAt: number, endedAt: number, waitedMs: number): void {
    if (upstreamAt > 0 && upstreamDoneAt >= upstreamAt) {
      const upstreamMs = upstreamDoneAt - upstreamAt;
      const total = (endedAt || performance.now()) - started;
      this.metrics.observeAddedLatency(Math.max(0, total - upstreamMs - waitedMs));
    }
  }
}

/** When the call's rate-limit headers were seen: with its first byte (or its end, without one). */
export function observedAt(event: Pick<UsageEvent, 'createdAt' | 'ttfbMs' | 'latencyMs'>): number {
  return event.createdAt.getTime() + (event.ttfbMs ?? event.latencyMs);
}
