// Only calls that reached the upstream are billed: a client that leaves while its call is held
// by pacing gets a row that costs nothing (not_sent); one that leaves after it was sent is still
// client_aborted with an estimate, since OpenAI may have seen it.
import OpenAI from 'openai';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  // Pacing on for org-alpha: until its first response, calls wait behind that one (the probe).
  stack = await startStack({ env: { PACING_ORGS: 'org-alpha', PACING_MAX_WAIT_MS: '15000' } });
});
afterAll(async () => {
  // A connection the aborted SDK calls leave half-open sometimes kept app.close() waiting for the
  // keep-alive timeout (70 s): cut them, this test is about the ledger, not shutdown.
  (stack?.app.getHttpServer() as import('node:http').Server | undefined)?.closeAllConnections();
  await stack?.close();
});

it('a call the client abandons while it is paced is recorded not_sent, at no cost, and never reaches OpenAI', async () => {
  const client = stack.client();
  const probe = client.chat.completions.create(
    { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'first' }], max_tokens: 5 },
    { headers: { 'x-sim-latency-ms': '1500' } },
  );
  await new Promise((r) => setTimeout(r, 200));
  const controller = new AbortController();
  const abandoned = client.chat.completions
    .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'never mind this one' }], max_tokens: 5 }, { signal: controller.signal })
    .catch((e: unknown) => e);
  await new Promise((r) => setTimeout(r, 300));
  controller.abort();
  expect(await abandoned).toBeInstanceOf(OpenAI.APIUserAbortError);
  await probe;
  // The abandoned call's ticket comes up once the probe answered; give it a moment to be recorded.
  await new Promise((r) => setTimeout(r, 300));

  expect(stack.sim.stats().orgs['org-alpha'].requests).toBe(1);
  const events = await stack.events();
  expect(events).toHaveLength(2);
  const notSent = events.find((e) => e.outcome !== 'ok')!;
  expect(notSent).toMatchObject({ outcome: 'not_sent', error_kind: 'not_sent', cost_nanos: '0', usage_source: 'none', input_tokens: 0, output_tokens: 0 });
  expect(notSent.feature_id).toBe(stack.features[0].id);
});

it('a call the client abandons after it was sent stays client_aborted with an estimated cost', async () => {
  await stack.resetUsage();
  const controller = new AbortController();
  const marker = `abandoned-${Date.now()}`;
  const pending = stack
    .client()
    .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'slow one' }] }, { signal: controller.signal, headers: { 'x-sim-latency-ms': '1500', 'x-client-request-id': marker } })
    .catch((e: unknown) => e);
  // Abandoned once the upstream has it (on a loaded machine that can take longer than any fixed wait).
  for (let i = 0; i < 200 && !stack.sim.received().some((r) => r.headers['x-client-request-id'] === marker); i++) await new Promise((r) => setTimeout(r, 25));
  controller.abort();
  await pending;
  // Its row is written once its usage is estimated (the tokenizer loads on first use).
  let event: Record<string, unknown> | undefined;
  for (let i = 0; i < 200 && !event; i++) {
    [event] = await stack.events();
    if (!event) await new Promise((r) => setTimeout(r, 50));
  }
  expect(event).toMatchObject({ outcome: 'client_aborted', usage_source: 'estimated' });
  expect(BigInt(event!.cost_nanos as string)).toBeGreaterThan(0n);
});
