// Budgets and alerts with real traffic through the gateway: thresholds crossed by real calls fire once
// each across two gateway processes on one database; a hard budget refuses calls in OpenAI's shape; one
// org's billing failure fires one alert naming its feature, and resolves when the org recovers.
import { createHmac, randomBytes } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertsEvaluator } from '../../server/alerts/alerts.evaluator.js';
import { DeliveriesWorker } from '../../server/alerts/deliveries.worker.js';
import { createApp } from '../../server/app.js';
import { HardBudgets } from '../../server/budgets/hard-budgets.js';
import { loadConfig } from '../../server/config/config.js';
import { LedgerWriter } from '../../server/ledger/ledger.writer.js';
import { UsersService } from '../../server/auth/users.service.js';
import { moneyKeys } from '../support/money.js';
import { eventually, startReceiver, type Receiver } from '../support/receiver.js';
import { ADMIN_TOKEN, startStack, type Stack } from '../support/stack.js';

const MASTER_KEY = randomBytes(32).toString('base64');
const ENV = { MASTER_KEY, ALERTS_EVAL_INTERVAL_MS: '300', ALERTS_RETRY_BASE_MS: '50' };
let stack: Stack;
let replica: NestFastifyApplication;
let replicaUrl: string;
let hook: Receiver;
const SECRET = 'whsec-test-0123456789abcdef';

async function api<T>(path: string, init: { method?: string; body?: unknown; url?: string } = {}): Promise<T> {
  const response = await fetch(`${init.url ?? stack.url}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${response.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

interface AlertView {
  id: string;
  ruleKind: string;
  subject: string;
  state: string;
  title: string;
  summary: string;
  featureSlugs: string[];
  orgName: string | null;
}

beforeAll(async () => {
  stack = await startStack({ env: ENV });
  const config = loadConfig({ ADMIN_TOKEN, ALERTS_ALLOW_PRIVATE_URLS: 'true', LOG_LEVEL: 'warn', DATA_DIR: `/tmp/tallygate-alerts-replica-${randomBytes(4).toString('hex')}`, KEY_CACHE_TTL_MS: '0', LEDGER_FLUSH_INTERVAL_MS: '50', ...ENV });
  replica = await createApp(config, stack.databaseUrl);
  await replica.listen({ port: 0, host: '127.0.0.1' });
  replicaUrl = (await replica.getUrl()).replace('[::1]', '127.0.0.1');
  hook = await startReceiver();
  await api('/api/alerts/channels', { method: 'POST', body: { kind: 'webhook', name: 'test hook', url: `${hook.url}/alerts`, secret: SECRET } });
});
afterAll(async () => {
  await replica?.close();
  await stack?.close();
  await hook?.close();
});

const replicaClient = (feature = stack.features[1]) => new OpenAI({ baseURL: `${replicaUrl}/v1`, apiKey: feature.gatewayKey, maxRetries: 0 });
const chat = (client: OpenAI) => client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say something about budgets.' }] });

/** Both processes write what they queued, re-read budgets and evaluate: what a few intervals would do. */
async function settle(): Promise<void> {
  for (const app of [stack.app, replica]) await app.get(LedgerWriter).flush();
  for (const app of [stack.app, replica]) await app.get(HardBudgets).refresh();
  await Promise.all([stack.app.get(AlertsEvaluator).evaluate(), replica.get(AlertsEvaluator).evaluate()]);
  await Promise.all([stack.app.get(AlertsEvaluator).evaluate(), replica.get(AlertsEvaluator).evaluate()]);
}

describe('budgets crossed by real traffic', () => {
  it('fires 50, 80 and 100% exactly once each across two gateway processes, then refuses calls (hard) in OpenAI shape', async () => {
    const feature = stack.features[1];
    await chat(stack.client(feature));
    await stack.ledger.flush();
    const [{ cost }] = (await stack.db.query(`SELECT cost_nanos::text AS cost FROM usage_events WHERE feature_id = $1`, [feature.id])).rows as Array<{ cost: string }>;
    const perCall = BigInt(cost);
    expect(perCall).toBeGreaterThan(0n);
    // Ten calls' worth: 50% after 5 calls, 80% after 8, 100% after 10.
    const amount = perCall * 10n;
    const usd = `${amount / 1_000_000_000n}.${(amount % 1_000_000_000n).toString().padStart(9, '0')}`;
    const budget = await api<{ id: string; amountNanos: string; thresholds: number[] }>('/api/budgets', {
      method: 'POST',
      body: { name: 'beta monthly', featureId: feature.id, amountUsd: usd, enforcement: 'hard', forecastPercent: null, timeZone: 'Europe/Paris' },
    });
    expect(budget.amountNanos).toBe(amount.toString());
    expect(budget.thresholds).toEqual([50, 80, 100]);

    const fired = async () => (await api<{ alerts: AlertView[] }>('/api/alerts?state=all')).alerts.filter((a) => a.ruleKind === 'budget_threshold' && a.subject.startsWith(`budget:${budget.id}:`));
    const spent = async () =>
      BigInt(((await stack.db.query(`SELECT coalesce(sum(cost_nanos), 0)::text AS s FROM usage_events WHERE feature_id = $1`, [feature.id])).rows[0] as { s: string }).s);
    const steps: Array<{ percent: number; fired: number[] }> = [];
    for (let call = 2; (await spent()) < amount; call++) {
      // Alternate the two processes: each sees the other's spend only through Postgres.
      await chat(call % 2 ? stack.client(feature) : replicaClient(feature));
      await settle();
      steps.push({ percent: Number(((await spent()) * 100n) / amount), fired: (await fired()).map((a) => Number(a.subject.split(':')[2])).sort((a, b) => a - b) });
    }
    // After every call exactly the thresholds its spend reached have fired, each once.
    for (const step of steps) expect(step.fired).toEqual([50, 80, 100].filter((t) => step.percent >= t));
    expect(steps.at(-1)!.fired).toEqual([50, 80, 100]);
    expect(steps.some((s) => s.fired.length === 1)).toBe(true);

    // Evaluating again on both changes nothing: one alert per threshold, all still firing.
    await settle();
    const alerts = await fired();
    expect(alerts).toHaveLength(3);
    expect(alerts.every((a) => a.state === 'firing')).toBe(true);
    expect(alerts.find((a) => a.subject.includes(':100:'))!.summary).toMatch(/hard budget/);

    // Engineers read alerts without money; finance also gets each alert's details (spend and amount).
    const users = stack.app.get(UsersService);
    const read = async (role: 'engineer' | 'finance') => {
      await users.create({ email: `${role}@alerts.test`, password: `alerts password ${role}`, role });
      const signIn = await fetch(`${stack.url}/api/auth/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: `${role}@alerts.test`, password: `alerts password ${role}` }) });
      const cookie = signIn.headers.get('set-cookie')!.split(';')[0];
      return (await (await fetch(`${stack.url}/api/alerts`, { headers: { cookie } })).json()) as { alerts: unknown[] };
    };
    const engineerView = await read('engineer');
    expect(engineerView.alerts.length).toBeGreaterThanOrEqual(3);
    expect(moneyKeys(engineerView)).toEqual([]);
    expect(moneyKeys(await read('finance'))).toEqual(expect.arrayContaining(['.alerts[0].details.spentNanos']));

    // Hard: both processes refuse the next call with 429 insufficient_quota, before it reaches OpenAI.
    for (const client of [stack.client(feature), replicaClient(feature)]) {
      const error = await chat(client).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.APIError);
      expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(429);
      expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('feature_budget_exceeded');
      expect((error as InstanceType<typeof OpenAI.APIError>).type).toBe('insufficient_quota');
    }

    // One webhook per threshold, signed with the channel secret, none twice.
    await Promise.all([stack.app.get(DeliveriesWorker).drain(), replica.get(DeliveriesWorker).drain()]);
    const firing = await eventually(() => {
      const bodies = hook.received.map((r) => JSON.parse(r.body) as { event: string; alert: { id: string; title: string; rule: string } });
      const mine = bodies.filter((b) => b.event === 'firing' && b.alert.rule === 'budget_threshold');
      return mine.length >= 3 && mine;
    });
    expect(new Set(firing.map((b) => b.alert.id)).size).toBe(3);
    expect(firing.map((b) => b.alert.title).sort()).toEqual(['Budget beta monthly crossed 100%', 'Budget beta monthly crossed 50%', 'Budget beta monthly crossed 80%']);
    for (const r of hook.received) expect(r.headers['x-tallygate-signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(r.body).digest('hex')}`);

    // Raising the budget resolves the 100% episode (spend is back under it) and lets calls through.
    await api(`/api/budgets/${budget.id}`, { method: 'PATCH', body: { amountUsd: `${(Number(amount) * 3) / 1e9}` } });
    await settle();
    const after = await fired();
    expect(after.filter((a) => a.state === 'firing').map((a) => a.subject.split(':')[2])).toEqual([]);
    await chat(replicaClient(feature));
  });

  it('the feature budget set on the feature (admin UI, CLI --budget-usd) is the same budget', async () => {
    const feature = stack.features[0];
    await stack.orgsService.updateFeature(feature.id, { monthlyBudgetUsd: 12.5 });
    const { budgets } = await api<{ budgets: Array<{ featureId: string; origin: string | null; amountNanos: string; enforcement: string; forecastMethod: string }> }>('/api/budgets');
    const mirrored = budgets.find((b) => b.featureId === feature.id && b.origin === 'feature')!;
    expect(mirrored).toMatchObject({ amountNanos: '12500000000', enforcement: 'hard' });
    expect(mirrored.forecastMethod).toMatch(/^linear/);
    await stack.orgsService.updateFeature(feature.id, { monthlyBudgetUsd: null });
    expect((await api<{ budgets: Array<{ featureId: string; origin: string | null }> }>('/api/budgets')).budgets.find((b) => b.featureId === feature.id && b.origin === 'feature')).toBeUndefined();
  });
});

describe('billing failure of one org', () => {
  it('fires one alert naming its feature (the others stay ok) and resolves when the org recovers', async () => {
    const broke = stack.features[2];
    const brokeOrg = stack.orgs[2];
    for (let i = 0; i < 3; i++) {
      const error = await chat(stack.client(broke)).then(() => undefined, (e: unknown) => e);
      expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(429);
      await chat(i % 2 ? replicaClient(stack.features[0]) : stack.client(stack.features[0]));
    }
    await settle();
    const billing = async () => (await api<{ alerts: AlertView[] }>('/api/alerts?state=all')).alerts.filter((a) => a.ruleKind === 'billing_failure');
    const open = await billing();
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ state: 'firing', orgName: brokeOrg.name, featureSlugs: [broke.slug] });
    expect(open[0].summary).toContain(`Features now failing: ${broke.slug}`);
    expect(open[0].title).toContain('insufficient_quota');

    const health = await api<{ features: Array<{ featureSlug: string; state: string; orgName: string; since: string | null }> }>('/api/alerts/feature-health');
    expect(health.features.find((f) => f.featureSlug === broke.slug)).toMatchObject({ state: 'billing_failure', orgName: brokeOrg.name });
    expect(health.features.find((f) => f.featureSlug === broke.slug)!.since).not.toBeNull();
    expect(health.features.filter((f) => f.state === 'billing_failure')).toHaveLength(1);

    // Calls OpenAI does not bill per call (files) still succeed while the org is out of credit: not a recovery.
    await stack.client(broke).files.list();
    await settle();
    expect((await billing()).map((a) => a.state)).toEqual(['firing']);

    // The org gets credit again: its next call succeeds and the alert resolves (once, across both processes).
    stack.sim.setOrg({ id: brokeOrg.openaiOrgId, keys: [brokeOrg.upstreamKey], outOfCredit: false });
    await chat(replicaClient(broke));
    await settle();
    const resolved = await billing();
    expect(resolved).toHaveLength(1);
    expect(resolved[0].state).toBe('resolved');
    const board = await api<{ features: Array<{ featureSlug: string; state: string }> }>('/api/alerts/feature-health');
    expect(board.features.find((f) => f.featureSlug === broke.slug)!.state).toBe('ok');

    await Promise.all([stack.app.get(DeliveriesWorker).drain(), replica.get(DeliveriesWorker).drain()]);
    const events = await eventually(() => {
      const mine = hook.received.map((r) => JSON.parse(r.body) as { event: string; alert: { rule: string; features: string[] } }).filter((b) => b.alert.rule === 'billing_failure');
      return mine.length >= 2 && mine;
    });
    expect(events.map((e) => e.event)).toEqual(['firing', 'resolved']);
    expect(events[0].alert.features).toEqual([broke.slug]);
  });
});

describe('traffic rules', () => {
  it('429 share and upstream error rate fire per org and feature; a silenced rule opens its alert but sends nothing', async () => {
    const alpha = stack.features[0];
    await api('/api/alerts/rules/throttle_share', { method: 'PATCH', body: { params: { percent: 40, windowMinutes: 10, minRequests: 4 } } });
    await api('/api/alerts/rules/error_rate', { method: 'PATCH', body: { params: { percent: 40, windowMinutes: 10, minRequests: 4 }, silencedUntil: new Date(Date.now() + 3_600_000).toISOString() } });
    const faulty = (fault: string) => stack.client(alpha).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-sim-fault': fault } }).catch((e: unknown) => e);
    for (let i = 0; i < 8; i++) await faulty('429-requests');
    await settle();
    const open = async (kind: string) => (await api<{ alerts: AlertView[] }>('/api/alerts?state=firing')).alerts.filter((a) => a.ruleKind === kind);
    const throttled = await open('throttle_share');
    expect(throttled).toHaveLength(1);
    expect(throttled[0].orgName).toBe(stack.orgs[0].name);
    expect(throttled[0].title).toMatch(/^Throttling: \d+(\.\d)?% of alpha's calls got 429$/);

    for (let i = 0; i < 20; i++) await faulty('500');
    await settle();
    const errors = await open('error_rate');
    expect(errors).toHaveLength(1);
    expect(errors[0].featureSlugs).toEqual([alpha.slug]);
    // 429s are now under 40% of alpha's calls: that episode resolved.
    expect(await open('throttle_share')).toHaveLength(0);
    const { rows } = await stack.db.query(`SELECT count(*)::int AS n FROM alert_deliveries WHERE alert_id = $1`, [errors[0].id]);
    expect(rows[0].n).toBe(0);
    const health = await api<{ features: Array<{ featureSlug: string; state: string }> }>('/api/alerts/feature-health');
    expect(health.features.find((f) => f.featureSlug === alpha.slug)!.state).toBe('upstream_errors');
  });
});

describe('headroom rule', () => {
  it('fires when an org and model stayed under X% of its limit for Y minutes, not for a single low minute', async () => {
    const beta = stack.orgs[1];
    const minute = (ago: number) => new Date(Math.floor(Date.now() / 60_000) * 60_000 - ago * 60_000);
    const insert = (model: string, ago: number, remaining: number) =>
      stack.db.query(
        `INSERT INTO ratelimit_minutes (minute, org_id, model, observed_at, limit_requests, remaining_requests, min_remaining_requests, limit_tokens, remaining_tokens, min_remaining_tokens, observations)
         VALUES ($1, $2, $3, $1, 1000, $4, $4, 1000000, 900000, 900000, 1)`,
        [minute(ago), beta.id, model, remaining],
      );
    // gpt-4o: under 10% of its request limit for the last 6 minutes; gpt-4.1: low for one minute only.
    for (let ago = 0; ago <= 5; ago++) await insert('gpt-4o', ago, 50);
    for (let ago = 0; ago <= 5; ago++) await insert('gpt-4.1', ago, ago === 2 ? 30 : 600);
    await settle();
    const alerts = (await api<{ alerts: AlertView[] }>('/api/alerts?state=firing')).alerts.filter((a) => a.ruleKind === 'headroom_low');
    expect(alerts.map((a) => a.subject)).toEqual([`org:${beta.id}:model:gpt-4o`]);
    expect(alerts[0].summary).toContain('lowest 5%');
  });
});
