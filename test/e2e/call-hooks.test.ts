// The hooks around the forward, through the official SDK: whatever becomes of a call (answered,
// failed upstream, refused by a hook, cut by its client, unreadable), what the before-forward
// hooks took (a concurrency slot, a pacing ticket) is given back, and each call has its row.
import OpenAI from 'openai';
import { HardBudgets } from '../../server/budgets/hard-budgets.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ConcurrencyHook } from '../../server/gateway/hooks/concurrency.hook.js';
import { PacingService } from '../../server/ratelimits/pacing.service.js';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { PACING_ORGS: 'org-alpha', UPSTREAM_MAX_CONCURRENT_PER_ORG: '8' } });
});
afterAll(() => stack?.close());

const ask = (content: string) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content }], max_tokens: 8 });

it('gives back every slot and pacing ticket, for calls answered, failed, refused, aborted and unreadable', async () => {
  const org = stack.orgs[0];
  const slots = stack.app.get(ConcurrencyHook, { strict: false });
  const pacing = stack.app.get(PacingService, { strict: false });
  const client = stack.client();

  // Answered.
  await client.chat.completions.create(ask('hello'));
  // Failed upstream (500).
  await client.chat.completions.create(ask('fail'), { headers: { 'x-sim-fault': '500' } }).catch(() => undefined);
  // Cut by its client mid-stream, once sent.
  const controller = new AbortController();
  const stream = await client.chat.completions.create({ ...ask('a long answer'), max_tokens: 200, stream: true }, { signal: controller.signal, headers: { 'x-sim-token-ms': '20' } });
  await (async () => {
    for await (const _chunk of stream) controller.abort();
  })().catch(() => undefined);
  // Unreadable body: refused after the key is known, before any hook.
  const bad = await fetch(`${stack.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${stack.features[0].gatewayKey}`, 'content-type': 'application/json' }, body: '{"model":' });
  expect(bad.status).toBe(400);
  // Refused by the budget hook, a feature of the same org that has spent its budget.
  const feature = await stack.orgsService.createFeature({ slug: 'spent', name: 'Spent', defaultOrgId: org.id, monthlyBudgetUsd: 0.000001 });
  const { key } = await stack.orgsService.issueGatewayKey(feature.id);
  const spender = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: key, maxRetries: 0 });
  await spender.chat.completions.create({ ...ask('spend it'), model: 'gpt-4o' });
  await stack.ledger.flush();
  await stack.app.get(HardBudgets).refresh();
  const refused = await spender.chat.completions.create({ ...ask('one more'), model: 'gpt-4o' }).catch((e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
  expect(refused).toMatchObject({ status: 429, code: 'feature_budget_exceeded' });

  // Every call has ended: nothing is held.
  await expect.poll(() => slots.inFlight(org.id)).toBe(0);
  expect(pacing.inFlight()).toBe(0);
  const events = await stack.events();
  expect(events.map((e) => [e.outcome, e.error_kind])).toEqual([
    ['ok', null],
    ['error', 'upstream_server_error'],
    ['client_aborted', 'client_aborted'],
    ['error', 'invalid_request'],
    ['ok', null],
    ['error', 'budget'],
  ]);
});
