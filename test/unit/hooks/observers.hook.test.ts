// The event hooks after the call: headroom, metrics and the ledger hand-off, each on its own.
import { describe, expect, it } from 'vitest';
import { HeadroomHook } from '../../../server/gateway/hooks/headroom.hook.js';
import { checkOrder } from '../../../server/gateway/hooks/index.js';
import { LedgerHook } from '../../../server/gateway/hooks/ledger.hook.js';
import { MetricsHook } from '../../../server/gateway/hooks/metrics.hook.js';
import type { CallHook } from '../../../server/gateway/hooks/call-hook.js';
import type { LedgerWriter } from '../../../server/ledger/ledger.writer.js';
import { usageEvent, type UsageEvent } from '../../../server/ledger/usage-event.js';
import { HeadroomSnapshot } from '../../../server/ratelimits/headroom.snapshot.js';
import { SharedState } from '../../../server/shared-state/shared-state.js';
import type { AppConfig } from '../../../server/config/config.js';
import type { MetricsService } from '../../../server/ratelimits/metrics.service.js';
import type { PacingService } from '../../../server/ratelimits/pacing.service.js';
import { RateLimitObserver } from '../../../server/ratelimits/rate-limit.observer.js';
import { hookedCall } from '../../support/calls.js';

function observer() {
  const counted: unknown[] = [];
  const latencies: number[] = [];
  const metrics = { count: (sample: unknown) => counted.push(sample), observeAddedLatency: (ms: number) => latencies.push(ms), observePacingWait: () => undefined } as unknown as MetricsService;
  const snapshot = new HeadroomSnapshot(new SharedState({ REDIS_PREFIX: 'tallygate:' } as AppConfig));
  return { observer: new RateLimitObserver(snapshot, {} as PacingService, metrics), snapshot, counted, latencies };
}

const event = (fields: Partial<UsageEvent> = {}) => usageEvent({ createdAt: new Date('2026-03-01T12:00:00Z'), orgId: 'org-1', ttfbMs: 30, latencyMs: 50, ...fields });

describe('HeadroomHook', () => {
  it("records the org's live headroom from the headers of an answer, when it has some", () => {
    const { observer: o, snapshot } = observer();
    const headroom = new HeadroomHook(o);
    headroom.onEvent(event({ rateLimits: {} }), hookedCall());
    expect([...snapshot.all()]).toEqual([]);
    headroom.onEvent(event({ rateLimits: { limitRequests: 500, remainingRequests: 499 } }), hookedCall());
    expect([...snapshot.all()]).toEqual([expect.objectContaining({ orgId: 'org-1', openaiOrgId: 'org-openai', model: 'gpt-4o-mini', observedAt: Date.parse('2026-03-01T12:00:00Z') + 30 })]);
  });
});

describe('MetricsHook', () => {
  it('counts the call and the latency the gateway added (not the upstream time)', () => {
    const { observer: o, counted, latencies } = observer();
    const metrics = new MetricsHook(o);
    metrics.onEvent(event({ outcome: 'error', errorKind: 'rate_limit_tokens' }), hookedCall({ started: 100, upstreamAt: 102, upstreamDoneAt: 140, endedAt: 141 }));
    expect(counted).toEqual([expect.objectContaining({ openaiOrgId: 'org-openai', feature: 'search', failed: true, throttle: 'rate_limit_tokens' })]);
    expect(latencies).toEqual([3]);
  });

  it('counts no latency for a call never sent, and no call without a route', () => {
    const { observer: o, counted, latencies } = observer();
    const metrics = new MetricsHook(o);
    metrics.onEvent(event(), hookedCall({ started: 100, upstreamAt: 0, upstreamDoneAt: 0, endedAt: 101 }));
    metrics.onEvent(event(), hookedCall({ route: undefined }));
    expect(counted).toHaveLength(1);
    expect(latencies).toEqual([]);
  });
});

describe('LedgerHook', () => {
  it('queues the event as the hooks before it left it', () => {
    const recorded: UsageEvent[] = [];
    const ledger = new LedgerHook({ record: (e: UsageEvent) => recorded.push(e) } as unknown as LedgerWriter);
    const e = event();
    ledger.onEvent(e);
    expect(recorded).toEqual([e]);
  });

  it('must stay the last event hook: one after it is refused at boot', () => {
    const ledger = new LedgerHook({ record: () => undefined } as unknown as LedgerWriter);
    const enricher: CallHook = { name: 'tags', onEvent: () => undefined };
    const policy: CallHook = { name: 'late-policy', beforeForward: () => undefined };
    expect(checkOrder([enricher, ledger, policy])).toHaveLength(3);
    expect(() => checkOrder([ledger, enricher])).toThrow(/call hook tags has onEvent but comes after the ledger/);
  });
});
