// Calls built by hand for unit tests of the lifecycle, the event builder and the hooks: only what
// the unit under test reads is set, the rest has defaults.
import type { Route } from '../../server/orgs/route-resolver.js';
import { ENDPOINTS, type Endpoint } from '../../server/gateway/endpoints.js';
import type { HookedCall } from '../../server/gateway/hooks/call-hook.js';
import type { FinishedCall } from '../../server/gateway/usage-event.builder.js';

export function endpoint(name: string): Endpoint {
  const found = ENDPOINTS.find((e) => e.name === name);
  if (!found) throw new Error(`no endpoint ${name}`);
  return found;
}

export function route(fields: Partial<Route> = {}, org: Partial<Route['org']> = {}): Route {
  return {
    gatewayKeyId: 'key-1',
    featureId: 'feature-1',
    featureSlug: 'search',
    monthlyBudgetNanos: null,
    ...fields,
    org: { orgId: 'org-1', openaiOrgId: 'org-openai', projectId: null, baseUrl: 'http://upstream/v1', suspended: false, upstreamKey: 'sk-x', ...org },
  };
}

export function hookedCall(fields: Partial<HookedCall> = {}): HookedCall {
  return {
    id: 'call-1',
    createdAt: new Date('2026-03-01T12:00:00Z'),
    endpoint: endpoint('chat.completions'),
    route: route(),
    model: 'gpt-4o-mini',
    streamed: false,
    requestHeaders: {},
    notes: {},
    ...fields,
  };
}

/** A chat call that was sent, answered 200 and ended after 120 ms (first byte at 100 ms). */
export function finishedCall(fields: Partial<FinishedCall> = {}): FinishedCall {
  return {
    id: 'call-1',
    createdAt: new Date('2026-03-01T12:00:00Z'),
    endpoint: endpoint('chat.completions'),
    route: route(),
    model: 'gpt-4o-mini',
    streamed: false,
    status: 200,
    outcome: 'ok',
    errorKind: null,
    upstream: { statusCode: 200, headers: { 'x-request-id': 'req-1' } },
    reading: {},
    retryCount: 0,
    started: 1000,
    endedAt: 1120,
    ttfbMs: 100,
    ...fields,
  };
}
