// Once a replica is stopping, every route answers 503 with Connection: close, not only /v1: the
// health checks tell a load balancer to take it out, and no client keeps a connection to it.
// (The real signal, the deadline and the streams are in signals.test.ts.)
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ProxyService } from '../../server/gateway/proxy.service.js';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.close());

it('answers 503 gateway_shutting_down with Connection: close on /v1, /healthz and /api once stopping', async () => {
  expect((await fetch(`${stack.url}/healthz`)).status).toBe(200);
  stack.app.get(ProxyService).beginShutdown();
  const auth = { authorization: `Bearer ${stack.features[0].gatewayKey}` };
  for (const path of ['/v1/models', '/healthz', '/api/analytics/usage']) {
    const res = await fetch(`${stack.url}${path}`, { headers: auth });
    expect(res.status, path).toBe(503);
    expect(res.headers.get('connection'), path).toBe('close');
    expect(res.headers.get('retry-after'), path).toBe('1');
    expect(((await res.json()) as { error: { code: string } }).error.code, path).toBe('gateway_shutting_down');
  }
});
