// Key rotations under continuous traffic: the master secret (re-seal every upstream key, replicas
// rolled one by one) and an org's upstream key (add new, traffic moves, revoke old). No request may fail.
import { randomBytes } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { AlertsService } from '../../server/alerts/alerts.service.js';
import { createApp } from '../../server/app.js';
import { loadConfig } from '../../server/config/config.js';
import { KeySealer } from '../../server/orgs/key-sealer.js';
import { OrgsService } from '../../server/orgs/orgs.service.js';
import { ADMIN_TOKEN, startStack, type Stack } from '../support/stack.js';

const MASTER_A = randomBytes(32).toString('base64');
const MASTER_B = randomBytes(32).toString('base64');

let stack: Stack;
const replicas: NestFastifyApplication[] = [];
beforeAll(async () => {
  stack = await startStack({ env: { MASTER_KEY: MASTER_A } });
});
afterEach(async () => {
  for (const app of replicas.splice(0)) await app.close();
});
afterAll(() => stack?.close());

/** Another replica of the gateway on the same database, as a rolling deploy starts one. */
async function startReplica(env: Record<string, string>): Promise<{ app: NestFastifyApplication; url: string }> {
  const databaseUrl = stack.databaseUrl;
  const config = loadConfig({ ADMIN_TOKEN, LOG_LEVEL: 'warn', DATA_DIR: `/tmp/tallygate-replica-${randomBytes(4).toString('hex')}`, KEY_CACHE_TTL_MS: '0', ...env });
  const app = await createApp(config, databaseUrl);
  await app.listen({ port: 0, host: '127.0.0.1' });
  replicas.push(app);
  return { app, url: (await app.getUrl()).replace('[::1]', '127.0.0.1') };
}

/** Requests on `concurrency` loops against whichever gateways are in `targets`, until stopped. */
function traffic(targets: string[], concurrency = 4) {
  let running = true;
  const result = { ok: 0, failed: [] as string[] };
  const loops = Array.from({ length: concurrency }, async (_, i) => {
    for (let n = 0; running; n++) {
      const url = targets[(i + n) % targets.length];
      const feature = stack.features[(i + n) % 2]; // alpha and beta: two orgs, two upstream keys
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: feature.gatewayKey, maxRetries: 0 });
      try {
        await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `ping ${n}` }], max_tokens: 5 });
        result.ok++;
      } catch (error) {
        result.failed.push(`${url}: ${(error as Error).message}`);
      }
    }
  });
  return {
    result,
    async stop() {
      running = false;
      await Promise.all(loops);
      return result;
    },
  };
}
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Lets at least `count` more requests succeed (progress, not wall time: the first calls warm up slowly). */
async function progress(load: ReturnType<typeof traffic>, count = 15): Promise<void> {
  const target = load.result.ok + count;
  const deadline = Date.now() + 10_000;
  while (load.result.ok < target && load.result.failed.length === 0 && Date.now() < deadline) await pause(20);
}

// Upstream rotation first: the master rotation below leaves the stack's own replica (old secret only) unable to open keys.
it('rotates an upstream key under traffic: add the new key, traffic moves, revoke the old, zero failures', async () => {
  const [alpha] = stack.orgs;
  const newKey = `sk-test-alpha-new-${randomBytes(8).toString('hex')}`;
  const admin = (method: string, path: string, body?: unknown) =>
    fetch(`${stack.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, any> }));

  const load = traffic([stack.url]);
  await progress(load);
  // 1. The new key exists at OpenAI alongside the old one.
  stack.sim.setOrg({ id: alpha.openaiOrgId, keys: [alpha.upstreamKey, newKey] });
  // 2. Added in Tallygate: the newest live key carries traffic from now on.
  const added = await admin('POST', `/api/admin/orgs/${alpha.id}/keys`, { apiKey: newKey, label: 'rotation' });
  expect(added.status).toBe(201);
  await progress(load);
  // 3. The old key is revoked in Tallygate, then (after in-flight requests and caches drain) at OpenAI.
  const org = await admin('GET', `/api/admin/orgs/${alpha.id}`);
  const old = org.body.upstreamKeys.find((k: { id: string; revokedAt: string | null }) => k.id !== added.body.id && !k.revokedAt);
  expect((await admin('DELETE', `/api/admin/orgs/${alpha.id}/keys/${old.id}`)).status).toBe(200);
  await pause(200);
  stack.sim.setOrg({ id: alpha.openaiOrgId, keys: [newKey] });
  const unauthorizedBefore = stack.sim.stats().unauthorized;
  await progress(load, 30);
  const done = await load.stop();

  expect(done.failed).toEqual([]);
  expect(done.ok).toBeGreaterThan(20);
  // Traffic after OpenAI dropped the old key went through on the new one.
  expect(stack.sim.stats().unauthorized).toBe(unauthorizedBefore);
  const after = await admin('GET', `/api/admin/orgs/${alpha.id}`);
  expect(after.body.upstreamKeys.filter((k: { revokedAt: string | null }) => !k.revokedAt).map((k: { masked: string }) => k.masked)).toEqual([`sk-…${newKey.slice(-4)}`]);
});

it('rotates the master secret with every key usable before, during and after, and no failed request', async () => {
  // An alert channel's URL and signing secret are sealed too: the rotation must cover them.
  const channel = await fetch(`${stack.url}/api/alerts/channels`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ kind: 'webhook', name: 'rotation', url: 'https://hooks.example.com/tallygate', secret: 'whsec-rotation-0123456789' }),
  });
  expect(channel.status).toBe(201);
  const targets = [stack.url];
  const load = traffic(targets);
  await progress(load);
  const before = load.result.ok;

  // Roll: a replica with MASTER_KEY=new, MASTER_KEY_PREVIOUS=old joins, then the old one leaves.
  const rolled = await startReplica({ MASTER_KEY: MASTER_B, MASTER_KEY_PREVIOUS: MASTER_A });
  targets.push(rolled.url);
  await progress(load);
  targets.splice(0, 1); // the old replica is drained (kept alive: the stack owns it)
  await progress(load);

  // `npm run cli -- keys:reseal` calls exactly these two.
  const resealed = await rolled.app.get(OrgsService).resealUpstreamKeys();
  const [{ keys }] = (await stack.db.query('SELECT count(*)::int AS keys FROM upstream_keys')).rows as Array<{ keys: number }>;
  expect(resealed).toBe(keys); // revoked ones too: nothing stays under the old secret
  expect(await rolled.app.get(OrgsService).resealUpstreamKeys()).toBe(0); // idempotent
  expect(await rolled.app.get(AlertsService).resealSecrets()).toBe(1);
  expect(await rolled.app.get(AlertsService).resealSecrets()).toBe(0);
  await progress(load);

  // MASTER_KEY_PREVIOUS dropped: a replica that knows only the new secret serves every key.
  const final = await startReplica({ MASTER_KEY: MASTER_B });
  targets.push(final.url);
  await progress(load, 30);
  const done = await load.stop();

  expect(done.failed).toEqual([]);
  expect(before).toBeGreaterThanOrEqual(15);
  expect(done.ok).toBeGreaterThanOrEqual(before + 60);
  const sealed = (await stack.db.query('SELECT sealed FROM upstream_keys UNION ALL SELECT sealed FROM alert_channels WHERE sealed IS NOT NULL')).rows as Array<{ sealed: string }>;
  const onlyNew = new KeySealer(MASTER_B);
  const onlyOld = new KeySealer(MASTER_A);
  for (const { sealed: value } of sealed) {
    expect(onlyNew.isCurrent(value)).toBe(true);
    expect(() => onlyOld.open(value)).toThrow();
  }
  // Every org's key opens to what the upstream accepts, through the final replica.
  for (const feature of stack.features.slice(0, 2)) {
    const client = new OpenAI({ baseURL: `${final.url}/v1`, apiKey: feature.gatewayKey, maxRetries: 0 });
    await expect(client.models.list()).resolves.toBeTruthy();
  }
});
