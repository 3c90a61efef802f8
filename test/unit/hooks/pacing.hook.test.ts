import { describe, expect, it } from 'vitest';
import type { AppConfig } from '../../../server/config/config.js';
import { PacingHook, pacingWaitMs } from '../../../server/gateway/hooks/pacing.hook.js';
import { PacingService } from '../../../server/ratelimits/pacing.service.js';
import { SharedState } from '../../../server/shared-state/shared-state.js';
import type { RateLimitObserver } from '../../../server/ratelimits/rate-limit.observer.js';
import { hookedCall } from '../../support/calls.js';

function hook(config: Partial<AppConfig>) {
  const appConfig = { PACING_ENABLED: false, PACING_ORGS: [], PACING_MAX_WAIT_MS: 1000, PACING_MAX_QUEUE: 10, REDIS_PREFIX: 'tallygate:', ...config } as AppConfig;
  const pacing = new PacingService(appConfig, new SharedState(appConfig));
  const released: Array<{ responded: boolean; limits: unknown; at: number }> = [];
  const observer = {
    releaseTicket: (_ticket: unknown, limits: unknown, at: number, responded: boolean) => released.push({ limits, at, responded }),
  } as unknown as RateLimitObserver;
  return { hook: new PacingHook(pacing, observer), released };
}

describe('PacingHook', () => {
  it('does nothing (no promise) for an org that is not paced', () => {
    const { hook: pacing, released } = hook({});
    const call = hookedCall();
    expect(pacing.beforeForward(call)).toBeUndefined();
    pacing.onEnd(call);
    expect(released).toEqual([]);
    expect(pacingWaitMs(call)).toBe(0);
  });

  it('admits a paced call, and hands its ticket back once with the headers of its answer', async () => {
    const { hook: pacing, released } = hook({ PACING_ORGS: ['org-openai'] });
    const call = { ...hookedCall({ started: 1000, endedAt: 1250, ttfbMs: 40 }), upstream: { statusCode: 200, headers: { 'x-ratelimit-limit-requests': '100', 'x-ratelimit-remaining-requests': '99' } } };
    await pacing.beforeForward(call);
    expect(call.notes.pacing).toBeDefined();
    expect(pacingWaitMs(call)).toBe(0);
    pacing.onEnd(call);
    pacing.onEnd(call);
    expect(released).toHaveLength(1);
    expect(released[0]).toMatchObject({ responded: true, limits: { limitRequests: 100, remainingRequests: 99 }, at: call.createdAt.getTime() + 40 });
  });

  it('hands the ticket back for a call that never got an answer (refused by a later hook, or the client left)', async () => {
    const { hook: pacing, released } = hook({ PACING_ENABLED: true });
    const call = hookedCall({ started: 1000, endedAt: 1010 });
    await pacing.beforeForward(call);
    pacing.onEnd(call);
    expect(released).toEqual([{ responded: false, limits: expect.any(Object), at: call.createdAt.getTime() + 10 }]);
  });

  it('does not pace a call without a model', () => {
    const { hook: pacing } = hook({ PACING_ENABLED: true });
    expect(pacing.beforeForward(hookedCall({ model: null }))).toBeUndefined();
  });
});
