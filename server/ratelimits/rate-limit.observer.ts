// What the proxy tells this module once per call, after the usage event is recorded: update the
// live headroom, return the pacing ticket with the headers seen, and count the call for /metrics.
import { Injectable } from '@nestjs/common';
import type { UsageEvent } from '../ledger/usage-event.js';
import { modelFamily } from '../pricing/model-family.js';
import { HeadroomSnapshot } from './headroom.snapshot.js';
import { errorCause, MetricsService, type ThrottleLabel } from './metrics.service.js';
import { PacingService, type PacingTicket } from './pacing.service.js';
import type { ErrorKind } from '../ledger/error-kind.js';

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

  /** On the request path, after the response ended: no I/O, never throws. */
  observe(event: UsageEvent, call: ObservedCall): void {
    try {
      const family = event.model === null ? null : modelFamily(event.model);
      const limits = event.rateLimits;
      const hasLimits = limits.limitRequests !== undefined || limits.limitTokens !== undefined;
      // Headers arrive with the first byte, not at the end of a long stream.
      const observedAt = event.createdAt.getTime() + (event.ttfbMs ?? event.latencyMs);
      if (hasLimits && family !== null && event.orgId && call.route) {
        this.snapshot.record(event.orgId, call.route.org.openaiOrgId, family, limits, observedAt);
      }
      if (call.paced) {
        this.pacing.release(call.paced, hasLimits ? limits : undefined, observedAt, call.upstream !== undefined);
        if (call.paced.waitedMs > 0) this.metrics.observePacingWait(call.paced.waitedMs);
      }
      if (call.route) {
        this.metrics.count({
          openaiOrgId: call.route.org.openaiOrgId,
          model: family,
          feature: call.route.featureSlug,
          failed: event.outcome !== 'ok',
          cause: errorCause(event.errorKind),
          inputTokens: event.inputTokens,
          outputTokens: event.outputTokens,
          retried: event.retryCount > 0,
          throttle: event.errorKind ? (THROTTLES[event.errorKind] ?? null) : null,
        });
      }
      if (call.upstreamAt > 0 && call.upstreamDoneAt >= call.upstreamAt) {
        const upstreamMs = call.upstreamDoneAt - call.upstreamAt;
        const waited = call.paced?.waitedMs ?? 0;
        const total = (call.endedAt || performance.now()) - call.started;
        this.metrics.observeAddedLatency(Math.max(0, total - upstreamMs - waited));
      }
    } catch {
      // Metrics must never break a request; the ledger row is already queued.
    }
  }
}
