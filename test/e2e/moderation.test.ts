// Moderation policies per feature through the gateway with the official SDK: the verdict header on
// moderation calls, presets stricter and more lenient than OpenAI's own flags, the guardrail in
// monitor and block modes, fail-open and fail-closed under a failing moderation upstream, and the
// rows each call leaves (the check linked to the model call, never billed as one when blocked).
import OpenAI from 'openai';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startStack, type Stack } from '../support/stack.js';

let stack: Stack;
let api: ReturnType<typeof request>;
const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

beforeAll(async () => {
  stack = await startStack();
  api = request(stack.app.getHttpServer());
});
afterAll(() => stack?.close());
beforeEach(() => stack.resetUsage());

// Simulator scores (server/simulator/embeddings.ts): "fight" ~0.34 violence, "idiot" ~0.57
// harassment, "punch" ~0.62 violence, "kill" ~0.93 violence; OpenAI-style flag at 0.5.
const INPUTS = ['Have a nice day', 'They had a fight', 'You idiot', 'I will punch it', 'I will kill this bug'];

async function setPolicy(slug: string, policy: Record<string, unknown>) {
  const res = await api.put(`/api/admin/moderation/policies/${slug}`).set(auth).send(policy);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

/** The verdict header of one moderation call through the gateway, and the SDK's parsed body. */
async function moderate(client: OpenAI, input: string) {
  const { data, response } = await client.moderations.create({ model: 'omni-moderation-latest', input }).withResponse();
  return { header: response.headers.get('x-tallygate-moderation'), flagged: data.results[0].flagged };
}

describe('moderation policies', () => {
  it('flags different sets of the same inputs under strict, default and lenient policies, in a header, with OpenAI bytes unchanged', async () => {
    const feature = stack.features[0];
    const client = stack.client(feature);
    const flaggedUnder = async (preset: string) => {
      await setPolicy(feature.slug, { preset });
      const out: string[] = [];
      for (const input of INPUTS) {
        const { header, flagged } = await moderate(client, input);
        // The body is OpenAI's: its own flag does not change with the policy.
        expect(flagged).toBe(['You idiot', 'I will punch it', 'I will kill this bug'].includes(input));
        if (header?.startsWith('flagged')) out.push(input);
        else expect(header).toBe('clean');
      }
      return out;
    };
    expect(await flaggedUnder('default')).toEqual(['You idiot', 'I will punch it', 'I will kill this bug']);
    expect(await flaggedUnder('strict')).toEqual(['They had a fight', 'You idiot', 'I will punch it', 'I will kill this bug']);
    expect(await flaggedUnder('lenient')).toEqual(['I will kill this bug']);
    const { header } = await moderate(client, 'I will kill this bug');
    expect(header).toBe('flagged; categories=violence');

    // A custom threshold overrides the preset for one category.
    await setPolicy(feature.slug, { preset: 'lenient', thresholds: { harassment: 0.5 } });
    expect((await moderate(client, 'You idiot')).header).toBe('flagged; categories=harassment');

    const rows = (await stack.events()).filter((e) => e.endpoint === 'moderations');
    expect(rows).toHaveLength(INPUTS.length * 3 + 2);
    const last = rows.at(-1)!;
    expect(last).toMatchObject({ moderation_flagged: true, moderation_policy_flagged: true, moderation_categories: 'harassment', cost_nanos: '0', moderation_input: null });
    expect(last.moderation_scores).toMatch(/^harassment=0\.57\d\d$/);
  });

  it('keeps the moderated text only when the feature stores inputs', async () => {
    const feature = stack.features[1];
    await setPolicy(feature.slug, { preset: 'default', storeInputs: true });
    await moderate(stack.client(feature), 'You idiot');
    const [row] = (await stack.events()).filter((e) => e.endpoint === 'moderations');
    expect(row.moderation_input).toBe('You idiot');
    await setPolicy(feature.slug, { preset: 'default' });
  });

  it('refuses a policy with an unknown category or a threshold out of range, in OpenAI shape', async () => {
    const bad = await api.put(`/api/admin/moderation/policies/${stack.features[0].slug}`).set(auth).send({ thresholds: { violence: 1.5 } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.type).toBe('invalid_request_error');
    const unknown = await api.put(`/api/admin/moderation/policies/${stack.features[0].slug}`).set(auth).send({ thresholds: { rudeness: 0.2 } });
    expect(unknown.status).toBe(400);
  });
});

describe('guardrail on model inputs', () => {
  const chat = (client: OpenAI, content: string) => client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] });

  it('monitor mode forwards a flagged input and records the check, linked to the call', async () => {
    const feature = stack.features[0];
    await setPolicy(feature.slug, { preset: 'default', guardrail: 'monitor' });
    const answer = await chat(stack.client(feature), 'I will kill this bug');
    expect(answer.choices[0].message.content).toBeTruthy();
    const rows = await stack.events();
    const call = rows.find((e) => e.endpoint === 'chat.completions')!;
    const check = rows.find((e) => e.endpoint === 'moderations')!;
    expect(call).toMatchObject({ status: 200, outcome: 'ok', guardrail: 'flagged' });
    expect(BigInt(call.cost_nanos as string)).toBeGreaterThan(0n);
    expect(check).toMatchObject({ linked_event_id: call.id, guardrail: 'flagged', moderation_policy_flagged: true, moderation_categories: 'violence', feature_id: feature.id });
  });

  it('block mode answers a flagged input with the 400 the SDK raises as BadRequestError, not forwarded, not billed', async () => {
    const feature = stack.features[0];
    await setPolicy(feature.slug, { preset: 'strict', guardrail: 'block' });
    const error = await chat(stack.client(feature), 'They had a fight').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    const bad = error as InstanceType<typeof OpenAI.BadRequestError>;
    expect(bad.code).toBe('moderation_blocked');
    expect(bad.message).toMatch(/violence/);
    // A clean input goes through.
    expect((await chat(stack.client(feature), 'Have a nice day')).choices).toHaveLength(1);
    const rows = await stack.events();
    const blocked = rows.find((e) => e.endpoint === 'chat.completions' && e.status === 400)!;
    expect(blocked).toMatchObject({ guardrail: 'blocked', error_code: 'moderation_blocked', cost_nanos: '0', input_tokens: 0, upstream_request_id: null });
    const passed = rows.find((e) => e.endpoint === 'chat.completions' && e.status === 200)!;
    expect(passed.guardrail).toBe('passed');
    const checks = rows.filter((e) => e.endpoint === 'moderations');
    expect(checks.map((c) => [c.linked_event_id, c.guardrail])).toEqual(
      expect.arrayContaining([
        [blocked.id, 'blocked'],
        [passed.id, 'passed'],
      ]),
    );
  });

  it('fails open in monitor mode and as configured in block mode when the moderation upstream fails or is slow', async () => {
    const feature = stack.features[0];
    const client = stack.client(feature);
    // [[sim:500]] makes the moderation check fail (the chat call too, so only the check's row is compared).
    await setPolicy(feature.slug, { guardrail: 'block', failMode: 'closed', timeoutMs: 200 });
    const closed = await chat(client, 'Hello [[sim:500]]').catch((e: unknown) => e);
    expect(closed).toBeInstanceOf(OpenAI.InternalServerError);
    expect((closed as InstanceType<typeof OpenAI.APIError>).code).toBe('moderation_unavailable');

    // Slow: the check times out after 200 ms; fail-open forwards (the model answers after its own delay).
    await setPolicy(feature.slug, { guardrail: 'block', failMode: 'open', timeoutMs: 200 });
    const open = await chat(client, 'Hello [[sim:slow-first-byte]]');
    expect(open.choices).toHaveLength(1);

    const rows = await stack.events();
    const calls = rows.filter((e) => e.endpoint === 'chat.completions');
    expect(calls.map((c) => c.guardrail)).toEqual(['failed_closed', 'failed_open']);
    expect(calls[0]).toMatchObject({ status: 503, error_code: 'moderation_unavailable', cost_nanos: '0' });
    const checks = rows.filter((e) => e.endpoint === 'moderations');
    expect(checks.map((c) => [c.guardrail, c.outcome])).toEqual([
      ['failed_closed', 'error'],
      ['failed_open', 'error'],
    ]);
    expect(checks[1].error_code).toBe('moderation_timeout');
    expect(checks[0].status).toBe(500);
    expect(Number(checks[1].latency_ms)).toBeLessThan(1_000);
  });

  it('adds nothing for a feature without a guardrail', async () => {
    const feature = stack.features[1];
    await api.delete(`/api/admin/moderation/policies/${feature.slug}`).set(auth);
    await chat(stack.client(feature), 'I will kill this bug');
    const rows = await stack.events();
    expect(rows.map((e) => e.endpoint)).toEqual(['chat.completions']);
    expect(rows[0].guardrail).toBeNull();
  });
});

describe('moderation views', () => {
  it('shows engineers and admins flagged share by feature and category, blocks and guardrail latency; not finance', async () => {
    const feature = stack.features[0];
    await setPolicy(feature.slug, { preset: 'default', guardrail: 'block' });
    const client = stack.client(feature);
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'I will kill this bug' }] }).catch(() => undefined);
    await moderate(client, 'You idiot');
    await moderate(client, 'Have a nice day');
    await stack.ledger.flush();
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const to = new Date(Date.now() + 3_600_000).toISOString();
    const res = await api.get('/api/moderation/summary').query({ from, to, bucket: 'hour' }).set(auth);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const mine = res.body.series.filter((s: { featureId: string }) => s.featureId === feature.id);
    const total = mine.reduce((n: number, s: { calls: number }) => n + s.calls, 0);
    const flagged = mine.reduce((n: number, s: { flagged: number }) => n + s.flagged, 0);
    expect([total, flagged]).toEqual([3, 2]);
    const categories = mine.reduce((acc: Record<string, number>, s: { categories: Record<string, number> }) => {
      for (const [c, n] of Object.entries(s.categories)) acc[c] = (acc[c] ?? 0) + n;
      return acc;
    }, {});
    expect(categories).toEqual({ violence: 1, harassment: 1 });
    expect(res.body.recent).toEqual([expect.objectContaining({ guardrail: 'blocked', endpoint: 'chat.completions', categories: ['violence'], input: null })]);
    expect(res.body.guardrailLatency).toEqual([expect.objectContaining({ featureId: feature.id, checks: 1 })]);
    expect(res.body.policies.find((p: { featureId: string }) => p.featureId === feature.id)).toMatchObject({ guardrail: 'block', preset: 'default' });
  });
});
