// Gateway replicas on one Postgres and one Redis (a redis-server this test starts, so it can
// stop it), the others in their own processes (test/support/replica-process.ts): a key revoked on one is refused by the other within a second, headroom seen by one
// shows on the other's /metrics, and Redis stopped mid-load causes no 5xx and loses no ledger row;
// when it returns, a change made meanwhile applies and /readyz says so.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../server/database/embedded-postgres.js';
import { startReplicaProcess, type ReplicaProcess } from '../support/replica-process.js';
import { ADMIN_TOKEN, startStack, type Stack } from '../support/stack.js';

let redis: ChildProcess | undefined;
let redisPort: number;
let stack: Stack;
let replica: ReplicaProcess;
let replicaUrl: string;

async function startRedis(): Promise<void> {
  if (redis && redis.exitCode === null) return;
  redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    redis!.stdout!.on('data', (chunk: Buffer) => String(chunk).includes('Ready to accept connections') && resolve());
    redis!.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)));
  });
}

async function stopRedis(): Promise<void> {
  const proc = redis;
  redis = undefined;
  if (!proc || proc.exitCode !== null) return;
  proc.kill('SIGKILL');
  await new Promise((resolve) => proc.once('exit', resolve));
}

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  for (;;) {
    const value = await read();
    if (ok(value)) return { value, ms: Date.now() - started };
    if (Date.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const ready = async (url: string) => (await (await fetch(`${url}/readyz`)).json()) as { sharedState: string };

beforeAll(async () => {
  redisPort = await freePort();
  await startRedis();
  // Caches that would keep a revoked key for a minute without the change notice.
  // org-beta is paced, so the outage test below loses Redis under shared pacing too.
  stack = await startStack({ env: { REDIS_URL: `redis://127.0.0.1:${redisPort}`, REDIS_PREFIX: `test-${randomBytes(4).toString('hex')}:`, KEY_CACHE_TTL_MS: '60000', PACING_ORGS: 'org-beta' } });
  // The other replica is its own process: it shares nothing with this one but Postgres and Redis.
  replica = await startReplicaProcess(stack);
  replicaUrl = replica.url;
  await until(() => ready(replicaUrl), (r) => r.sharedState === 'connected', 5_000);
}, 60_000);
afterAll(async () => {
  await replica?.stop();
  await stack?.close();
  await stopRedis();
});

const clientOf = (url: string, key: string) => new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0 });
const ask = (client: OpenAI) => client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });

describe('replicas sharing state through Redis', () => {
  it('refuses a key revoked on one replica on the other within a second', async () => {
    const issued = await stack.orgsService.issueGatewayKey(stack.features[0].id, 'replicated');
    const onReplica = clientOf(replicaUrl, issued.key);
    await ask(onReplica); // cached on the replica for a minute
    const revokedAt = Date.now();
    await stack.orgsService.revokeGatewayKey(issued.record.id);
    const { ms } = await until(
      () => ask(onReplica).then(() => 200, (e: unknown) => (e as { status?: number }).status ?? 0),
      (status) => status === 401,
      1_000,
    );
    console.log(`revocation applied on the other replica after ${ms} ms`);
    expect(ms).toBeLessThan(1_000);
    expect(Date.now() - revokedAt).toBeLessThan(1_500);
  });

  it("shows one replica's headroom on the other's /metrics", async () => {
    await ask(stack.client());
    const metric = `tallygate_ratelimit_remaining{org="${stack.orgs[0].openaiOrgId}"`;
    const { value } = await until(() => fetch(`${replicaUrl}/metrics`).then((r) => r.text()), (text) => text.includes(metric), 3_000);
    expect(value).toContain('tallygate_shared_state_up 1');
  });

  it('keeps serving with no 5xx and no ledger loss while Redis is down (pacing and a hard budget shared), and catches up when it returns', async () => {
    await stack.resetUsage();
    const key = stack.features[1].gatewayKey;
    // A hard budget far above this load: every call also checks and counts it in Redis.
    const budget = await fetch(`${stack.url}/api/budgets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'outage', featureId: stack.features[1].id, amountUsd: '1000', enforcement: 'hard', forecastPercent: null, timeZone: 'UTC' }),
    });
    expect(budget.status).toBe(201);
    const clients = [clientOf(stack.url, key), clientOf(replicaUrl, key)];
    const statuses: number[] = [];
    const load = (async () => {
      for (let i = 0; i < 100; i++) {
        await Promise.all(clients.map((c) => ask(c).then(() => statuses.push(200), (e: unknown) => statuses.push((e as { status?: number }).status ?? 0))));
      }
    })();
    await new Promise((r) => setTimeout(r, 150));
    await stopRedis();
    await load;
    expect(statuses).toHaveLength(200);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    // The other process writes its rows on its own timer.
    await until(async () => (await stack.events()).length, (n) => n >= 200, 10_000);
    expect((await stack.events()).length).toBe(200);
    await until(() => ready(replicaUrl), (r) => r.sharedState === 'unavailable', 5_000);
    expect(await fetch(`${replicaUrl}/metrics`).then((r) => r.text())).toContain('tallygate_shared_state_up 0');

    // A revocation while Redis is away is not heard; when Redis returns, the replica drops its cache.
    const issued = await stack.orgsService.issueGatewayKey(stack.features[1].id, 'during-outage');
    const onReplica = clientOf(replicaUrl, issued.key);
    await ask(onReplica);
    await stack.orgsService.revokeGatewayKey(issued.record.id);
    await ask(onReplica); // still cached: the notice was lost with Redis
    await startRedis();
    await until(() => ready(replicaUrl), (r) => r.sharedState === 'connected', 10_000);
    await until(
      () => ask(onReplica).then(() => 200, (e: unknown) => (e as { status?: number }).status ?? 0),
      (status) => status === 401,
      2_000,
    );
  }, 60_000);
});

describe('pacing shared by replicas', () => {
  // One org with a small request limit, paced; load split over both replicas. Counted at the
  // simulator: 429s OpenAI (the simulator) sent, versus the gateway's own pacing answers.
  async function burst(stackUnderTest: Stack, replicaBase: string, total: number) {
    const key = stackUnderTest.features[0].gatewayKey;
    const clients = [clientOf(stackUnderTest.url, key), clientOf(replicaBase, key)];
    const results = await Promise.all(
      Array.from({ length: total }, (_, i) =>
        ask(clients[i % 2]).then(
          () => 'ok',
          (e: unknown) => ((e as { code?: string }).code === 'gateway_paced' ? 'paced' : `upstream ${(e as { status?: number }).status}`),
        ),
      ),
    );
    const count = (what: string) => results.filter((r) => r === what).length;
    return { ok: count('ok'), paced: count('paced'), upstream429: results.filter((r) => r === 'upstream 429').length, other: results.filter((r) => r !== 'ok' && r !== 'paced' && r !== 'upstream 429') };
  }

  async function pacedPair(redisUrl: string | undefined) {
    const env: Record<string, string> = { PACING_ORGS: 'org-tight', PACING_MAX_WAIT_MS: '8000', PACING_MAX_QUEUE: '500' };
    if (redisUrl) Object.assign(env, { REDIS_URL: redisUrl, REDIS_PREFIX: `pace-${randomBytes(4).toString('hex')}:` });
    const paced = await startStack({ env, orgs: [{ id: 'org-tight', limits: { 'gpt-4o-mini': { rpm: 60, tpm: 10_000_000 } } }] });
    const other = await startReplicaProcess(paced);
    const otherUrl = other.url;
    if (redisUrl) await until(() => ready(otherUrl), (r) => r.sharedState === 'connected', 5_000);
    return { paced, other, otherUrl };
  }

  it('keeps upstream 429s at zero with Redis where two replicas pacing alone draw them', async () => {
    await startRedis().catch(() => undefined); // the outage test above restarted it already
    const measured: Record<string, Awaited<ReturnType<typeof burst>>> = {};
    for (const mode of ['alone', 'shared'] as const) {
      const { paced, other, otherUrl } = await pacedPair(mode === 'shared' ? `redis://127.0.0.1:${redisPort}` : undefined);
      try {
        // Probe once through each replica so both know the limit, then 70 at once against 60/min.
        await ask(clientOf(paced.url, paced.features[0].gatewayKey));
        await ask(clientOf(otherUrl, paced.features[0].gatewayKey));
        measured[mode] = await burst(paced, otherUrl, 70);
      } finally {
        await other.stop();
        await paced.close();
      }
    }
    console.log(`pacing across two replicas, 70 requests against 60 rpm: alone ${JSON.stringify(measured.alone)}, shared ${JSON.stringify(measured.shared)}`);
    // Alone is printed, not asserted: 7 to 9 upstream 429s on a quiet machine, none when CI's load spreads the burst out.
    expect(measured.shared.upstream429).toBe(0);
    expect(measured.shared.other).toEqual([]);
    // 58 fit at once, then one a second within the 8 s wait bound; a loaded machine answers late, and
    // late answers may only lower the shared estimate, so it may pace more than it must (47 seen in CI).
    expect(measured.shared.ok).toBeGreaterThanOrEqual(40);
  }, 90_000);
});

describe('hard budgets shared by replicas', () => {
  // Three replicas (this process's and two of their own) spend one feature's hard budget, one
  // client per replica calling back to back until refused. With Redis every replica sees the
  // others' calls at once: the overshoot is at most the calls in flight when the budget was
  // crossed, one per replica. Alone, each sees the others only through the rollup, a refresh later.
  async function spendOver(mode: 'shared' | 'alone') {
    const env: Record<string, string> = mode === 'shared' ? { REDIS_URL: `redis://127.0.0.1:${redisPort}`, REDIS_PREFIX: `budget-${randomBytes(4).toString('hex')}:` } : {};
    const s = await startStack({ env, simulator: { latency: { ttftMs: 15, perTokenMs: 0 } } });
    const processes = await Promise.all([startReplicaProcess(s), startReplicaProcess(s)]);
    try {
      const feature = s.features[1];
      const spentSoFar = async () => {
        const [row] = (await s.db.query(`SELECT coalesce(sum(cost_nanos), 0)::text AS spent, coalesce(max(cost_nanos), 0)::text AS top, count(*)::int AS calls FROM usage_events WHERE feature_id = $1 AND status = 200`, [feature.id])).rows as Array<{ spent: string; top: string; calls: number }>;
        return { spent: BigInt(row.spent), top: BigInt(row.top), calls: row.calls };
      };
      await ask(clientOf(s.url, feature.gatewayKey));
      await s.ledger.flush();
      const probe = await spentSoFar();
      const amount = probe.spent + probe.top * 30n; // room for 30 more calls
      const usd = `${amount / 1_000_000_000n}.${(amount % 1_000_000_000n).toString().padStart(9, '0')}`;
      const created = await fetch(`${s.url}/api/budgets`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'shared hard', featureId: feature.id, amountUsd: usd, enforcement: 'hard', forecastPercent: null, timeZone: 'UTC' }),
      });
      expect(created.status).toBe(201);
      const urls = [s.url, ...processes.map((p) => p.url)];
      const perReplica = await Promise.all(
        urls.map(async (url) => {
          const client = clientOf(url, feature.gatewayKey);
          for (let ok = 0; ok < 400; ok++) {
            const refused = await ask(client).then(
              () => false,
              (e: unknown) => {
                if ((e as { type?: string }).type === 'insufficient_quota' && (e as { status?: number }).status === 429) return true;
                throw e;
              },
            );
            if (refused) return ok;
          }
          return Infinity;
        }),
      );
      await s.ledger.flush();
      await Promise.all(processes.map((p) => p.stop())); // each flushes its ledger on the way out
      const after = await spentSoFar();
      return { perReplica, overshootNanos: after.spent - amount, callNanos: probe.top, calls: after.calls - probe.calls };
    } finally {
      await Promise.all(processes.map((p) => p.stop()));
      await s.close();
    }
  }

  it('overshoots a hard budget by at most one in-flight call per replica with Redis; alone, by a refresh of spend', async () => {
    await startRedis().catch(() => undefined);
    const shared = await spendOver('shared');
    const alone = await spendOver('alone');
    const inCalls = (r: typeof shared) => Number(r.overshootNanos) / Number(r.callNanos);
    console.log(
      `hard budget of 30 calls' room, three replicas: with Redis ${shared.calls} calls (${JSON.stringify(shared.perReplica)} per replica), overshoot ${inCalls(shared).toFixed(2)} calls; ` +
        `alone ${alone.calls} calls (${JSON.stringify(alone.perReplica)}), overshoot ${inCalls(alone).toFixed(2)} calls`,
    );
    expect(shared.perReplica.every((n) => Number.isFinite(n))).toBe(true);
    expect(shared.overshootNanos).toBeGreaterThanOrEqual(0n);
    expect(shared.overshootNanos).toBeLessThanOrEqual(3n * shared.callNanos);
    expect(inCalls(alone)).toBeGreaterThan(3);
  }, 120_000);
});
