import { describe, expect, it } from 'vitest';
import type { AppConfig } from '../../../server/config/config.js';
import { ConcurrencyHook } from '../../../server/gateway/hooks/concurrency.hook.js';
import { hookedCall, route } from '../../support/calls.js';

const hook = (perOrg: number, perFeature = 0) => new ConcurrencyHook({ UPSTREAM_MAX_CONCURRENT_PER_ORG: perOrg, UPSTREAM_MAX_CONCURRENT_PER_FEATURE: perFeature } as AppConfig);

describe('ConcurrencyHook', () => {
  it('holds a slot per call in flight and refuses the one past the org cap with 429 gateway_concurrency_limit', () => {
    const caps = hook(2);
    const a = hookedCall();
    const b = hookedCall();
    caps.beforeForward(a);
    caps.beforeForward(b);
    expect(caps.inFlight('org-1')).toBe(2);
    const c = hookedCall();
    expect(() => caps.beforeForward(c)).toThrow(expect.objectContaining({ status: 429, code: 'gateway_concurrency_limit', type: 'requests' }));
    // The refused call took nothing, and ending it gives nothing back.
    caps.onEnd(c);
    expect(caps.inFlight('org-1')).toBe(2);
    caps.onEnd(a);
    expect(caps.inFlight('org-1')).toBe(1);
    caps.beforeForward(c);
    expect(caps.inFlight('org-1')).toBe(2);
  });

  it('gives a slot back once, however often the end is reported', () => {
    const caps = hook(1);
    const a = hookedCall();
    caps.beforeForward(a);
    caps.onEnd(a);
    caps.onEnd(a);
    expect(caps.inFlight('org-1')).toBe(0);
  });

  it('caps a feature apart from its org when UPSTREAM_MAX_CONCURRENT_PER_FEATURE is set', () => {
    const caps = hook(10, 1);
    caps.beforeForward(hookedCall());
    expect(() => caps.beforeForward(hookedCall())).toThrow(/Feature search already has 1 calls in flight/);
    caps.beforeForward(hookedCall({ route: route({ featureId: 'feature-2', featureSlug: 'other' }) }));
    expect(caps.inFlight('org-1')).toBe(2);
  });

  it('counts nothing when the caps are off (0)', () => {
    const caps = hook(0);
    const call = hookedCall();
    caps.beforeForward(call);
    expect(caps.inFlight('org-1')).toBe(0);
    expect(call.notes).toEqual({});
  });
});
