// One 8 MB SSE event through the gateway: relayed in about the time it takes direct, with the
// event loop free meanwhile (/healthz answers), and the call still metered from its usage chunk.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { HUGE_EVENT_BYTES } from '../../server/simulator/faults.js';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.close());

// Read as raw bytes: the SDK's own SSE decoder takes seconds over an 8 MB event, in this same
// process, which would hide what the gateway does.
async function streamHuge(base: string, key: string): Promise<{ ms: number; bytes: number; body: string }> {
  const started = performance.now();
  const res = await fetch(`${base}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-sim-fault': 'huge-event' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say something long' }], stream: true }),
  });
  expect(res.status).toBe(200);
  const body = await res.text();
  return { ms: performance.now() - started, bytes: Buffer.byteLength(body), body };
}

it('relays an 8 MB SSE event about as fast as direct, /healthz keeps answering, and the call is metered', async () => {
  const direct = await streamHuge(stack.sim.url, stack.orgs[0].upstreamKey);
  await stack.resetUsage();

  let inFlight = true;
  const healthz: number[] = [];
  const probing = (async () => {
    while (inFlight) {
      const asked = performance.now();
      const res = await fetch(`${stack.url}/healthz`, { signal: AbortSignal.timeout(5_000) });
      expect(res.status).toBe(200);
      healthz.push(performance.now() - asked);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const gateway = await streamHuge(`${stack.url}/v1`, stack.features[0].gatewayKey);
  inFlight = false;
  await probing;
  console.log(`8 MB event: direct ${direct.ms.toFixed(0)} ms, gateway ${gateway.ms.toFixed(0)} ms, slowest /healthz ${Math.max(...healthz).toFixed(0)} ms of ${healthz.length}`);

  expect(gateway.bytes).toBeGreaterThan(HUGE_EVENT_BYTES);
  expect(gateway.body).toContain('data: [DONE]');
  expect(gateway.body).not.toContain('"choices":[]'); // the usage chunk the gateway asked for stays hidden
  expect(healthz.length).toBeGreaterThan(0);
  expect(Math.max(...healthz)).toBeLessThan(1_000);
  // Generous for a loaded machine: the quadratic meter took 4x direct here (6.5 s vs 1.6 s) at idle.
  expect(gateway.ms).toBeLessThan(direct.ms * 2 + 1_000);

  const [event] = await stack.events();
  expect(event.outcome).toBe('ok');
  expect(event.usage_source).toBe('reported');
  expect(Number(event.output_tokens)).toBeGreaterThan(0);
}, 60_000);
