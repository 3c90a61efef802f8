// Hard budgets as the gateway enforces them: each one's spend in its period, in memory, so the
// verdict before a call is a Map lookup and no call waits on Postgres or Redis.
//
// Alone (no REDIS_URL, or while Redis is away) a replica knows the rollup's spend, re-read every
// BUDGET_REFRESH_MS, plus the calls it made itself since: a burst spread over N replicas can
// overshoot by what the others spend in one refresh.
//
// With Redis the replicas also count the open hours together. The rollup is the truth for every
// hour that ended over two minutes ago (all replicas have written its rows); for the open hours
// (the current one, and the one before in its first two minutes) every replica adds each call's
// cost, as it queues the call's event, to a counter per budget and hour
// (`budget-spend:<budget id>:<hour ms>`, forgotten after three hours) and reads the open counters
// back in the same script. So the enforced spend is
//     rollup's closed hours + max(Redis's open hours, rollup's open hours, this replica's view)
// and cannot drift: a counter never outlives its hour, starts at the rollup's spend in its hour
// (a budget created mid-hour counts the hour's earlier calls), and what Redis misses (a call
// while it was away, spend that bypasses the gateway's hooks such as batch output) is in the
// rollup when the hour closes, and in this replica's view (the rollup plus its own calls) within
// a refresh. The increment that crosses a budget is published, so every
// replica refuses its next call at once: the overshoot is what was in flight at the crossing.
// Every PULL_MS each replica also reads the open counters of all hard budgets (one MGET), for
// what a lost notice missed. Nothing waits for Redis: the add and the pull are not on a call's path.
import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { OpenAIError } from '../http/openai-error.js';
import { SharedState } from '../shared-state/shared-state.js';
import { BudgetsRepository, type BudgetRow } from './budgets.repository.js';

/** How often each replica re-reads hard budgets' spend from Postgres. */
export const BUDGET_REFRESH_MS = 5_000;
/** How often each replica reads the shared counters (with Redis). */
const PULL_MS = 1_000;
const HOUR_MS = 3_600_000;
/** A counter is kept this long after its hour began (its hour closes two minutes after it ends). */
const COUNTER_TTL_MS = 3 * HOUR_MS;
/** Published by the replica whose increment crossed a budget's amount: `<budget id> <spend>`. */
const CROSSED = 'budget-crossed';
/** Published after an admin change to budgets: every replica re-reads them. */
const CHANGED = 'budgets-changed';

/** A hard budget and what is known here of its spend in the current period (integer nano-dollars). */
export interface HardBudget {
  id: string;
  name: string;
  orgId: string | null;
  featureId: string | null;
  featureSlug: string | null;
  orgName: string | null;
  amount: bigint;
  periodEnd: Date;
  timeZone: string;
  /** The enforced spend: the largest of the views below. */
  spent: bigint;
  /** The rollup's spend in the period at the last refresh, and the part of it before `openFrom`. */
  ledger: bigint;
  closed: bigint;
  /** Epoch ms of the first open hour (from Postgres's clock). */
  openFrom: number;
  /** This replica's calls since the last refresh. */
  local: bigint;
  /** The open hours' shared counters as last read (null: not known, Redis off or away). */
  shared: bigint | null;
  /** The spend another replica announced when it crossed the amount. */
  heard: bigint;
  /** This replica's latest increment not yet answered by Redis (they are answered in order). */
  adding?: Promise<unknown>;
}

/** Near its amount (90%), a call waits for this replica's unanswered increments, at most this long. */
const NEAR_WAIT_MS = 50;

/** KEYS: the counters to add to (ARGV[3] of them), then every open counter to read back. ARGV: nanos, ttl ms, count. */
const ADD = `
local n = tonumber(ARGV[3])
for i = 1, n do
  redis.call('INCRBY', KEYS[i], ARGV[1])
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
local out = {}
for i = n + 1, #KEYS do out[#out + 1] = redis.call('GET', KEYS[i]) or '0' end
return out`;

type Commands = Redis & { tallygateBudgetAdd(numberOfKeys: number, ...args: string[]): Promise<string[]> };

/**
 * The budget's first open hour: the rollup's (over two minutes ago, truncated), but never before the
 * period's first whole hour (UTC hours, as the rollup counts them): in the first minutes of a month
 * the previous month's last hour is still open, and belongs to the previous period.
 */
export function openFromOf(r: Pick<BudgetRow, 'open_from' | 'period_start'>): number {
  return Math.max(new Date(r.open_from).getTime(), Math.ceil(new Date(r.period_start).getTime() / HOUR_MS) * HOUR_MS);
}

/** A feature's budget may be scoped to one of its orgs (as its spend is in the rollup query); an org's always matches. */
const applies = (b: HardBudget, orgId: string | null) => b.orgId === null || b.orgId === orgId;

function settle(b: HardBudget): void {
  let spent = b.ledger + b.local;
  if (b.shared !== null && b.closed + b.shared > spent) spent = b.closed + b.shared;
  b.spent = b.heard > spent ? b.heard : spent;
}

@Injectable()
export class HardBudgets implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Budgets');
  /** By the feature or org id they cover. Empty when there are none: the hook then does nothing. */
  private byTarget = new Map<string, HardBudget[]>();
  private byId = new Map<string, HardBudget>();
  private timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly repository: BudgetsRepository,
    private readonly shared: SharedState,
  ) {}

  get count(): number {
    return this.byTarget.size;
  }

  async onApplicationBootstrap(): Promise<void> {
    this.shared.subscribe(CROSSED, (message) => this.heard(message));
    this.shared.subscribe(CHANGED, (from) => from !== this.shared.replicaId && void this.refresh().catch(() => undefined));
    // Back from an outage (or a restarted Redis): seed the counters again at once.
    this.shared.onReconnect(() => void this.refresh().catch(() => undefined));
    await this.refresh().catch((error: Error) => this.logger.warn(`hard budgets not loaded: ${error.message}`));
    const every = (ms: number, run: () => Promise<void>, what: string) => {
      const timer = setInterval(() => void run().catch((error: Error) => this.logger.warn(`hard budgets not ${what}: ${error.message}`)), ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(BUDGET_REFRESH_MS, () => this.refresh(), 'refreshed');
    if (this.shared.status !== 'off') every(PULL_MS, () => this.pull(), 'pulled');
  }

  onApplicationShutdown(): void {
    for (const timer of this.timers) clearInterval(timer);
  }

  /** After an admin change: re-read here at once, and tell the other replicas. */
  async changed(): Promise<void> {
    await this.refresh().catch(() => undefined);
    this.shared.publish(CHANGED, this.shared.replicaId);
  }

  /** Re-reads every hard budget's spend (one query), then the shared counters. Fails open: on error the last verdicts stand. */
  async refresh(): Promise<void> {
    const rows = (await this.repository.status()).filter((r) => r.enforcement === 'hard');
    const byTarget = new Map<string, HardBudget[]>();
    const byId = new Map<string, HardBudget>();
    for (const r of rows) {
      // A custom period not begun or already over enforces nothing.
      if (new Date(r.period_start) > r.now || new Date(r.period_end) <= r.now) continue;
      const openFrom = openFromOf(r);
      const before = this.byId.get(r.id);
      const hard: HardBudget = {
        id: r.id,
        name: r.name,
        orgId: r.org_id,
        featureId: r.feature_id,
        featureSlug: r.feature_slug,
        orgName: r.org_name,
        amount: BigInt(r.amount_nanos),
        periodEnd: new Date(r.period_end),
        timeZone: r.time_zone,
        spent: 0n,
        ledger: BigInt(r.spent_nanos),
        closed: BigInt(r.spent_closed_nanos),
        openFrom,
        local: 0n,
        // The counters read last stand until the pull below, if they still cover the same hours.
        shared: before && before.openFrom === openFrom ? before.shared : null,
        heard: 0n,
      };
      settle(hard);
      const target = r.feature_id ?? r.org_id!;
      byTarget.set(target, [...(byTarget.get(target) ?? []), hard]);
      byId.set(r.id, hard);
    }
    await this.seed(rows.filter((r) => byId.has(r.id))).catch(() => undefined);
    this.byTarget = byTarget;
    this.byId = byId;
    await this.pull().catch(() => undefined);
  }

  /**
   * Starts each open hour's counter at the rollup's spend in that hour, unless a replica already
   * counts it (SET NX): a budget created mid-hour, or a Redis that restarted, then counts the
   * hour's earlier calls too. Runs before this replica adds to a budget it did not know.
   */
  private async seed(rows: BudgetRow[]): Promise<void> {
    const redis = this.shared.client;
    if (!redis || !rows.length) return;
    const pipeline = redis.pipeline();
    for (const r of rows) {
      const hour = new Date(r.hour_start).getTime();
      const openFrom = openFromOf(r);
      const inHour = BigInt(r.spent_hour_nanos);
      pipeline.set(this.key(r.id, hour), inHour.toString(), 'PX', COUNTER_TTL_MS, 'NX');
      if (openFrom < hour) pipeline.set(this.key(r.id, openFrom), (BigInt(r.spent_nanos) - BigInt(r.spent_closed_nanos) - inHour).toString(), 'PX', COUNTER_TTL_MS, 'NX');
    }
    await pipeline.exec();
  }

  /** The first hard budget this call would break (feature's, then its org's), or undefined. Synchronous: on the hot path. */
  exhausted(featureId: string, orgId: string): HardBudget | undefined {
    for (const target of [featureId, orgId]) {
      const budgets = this.byTarget.get(target);
      if (!budgets) continue;
      for (const b of budgets) if (b.spent >= b.amount && applies(b, orgId)) return b;
    }
    return undefined;
  }

  /** A call's cost (its event created at `at`), counted here at once and added to the shared counters (not awaited). */
  addSpend(featureId: string | null, orgId: string | null, nanos: bigint, at: Date): void {
    const covering = this.covering(featureId, orgId);
    if (!covering.length) return;
    for (const b of covering) {
      b.local += nanos;
      settle(b);
    }
    const redis = this.commands();
    const hour = Math.floor(at.getTime() / HOUR_MS) * HOUR_MS;
    // A call that began in a closed hour is in the rollup once its row is written.
    const counted = covering.filter((b) => hour >= b.openFrom);
    if (!redis || !counted.length) return;
    const open = counted.map((b) => this.openKeys(b, hour));
    const adding = redis.tallygateBudgetAdd(counted.length + open.flat().length, ...counted.map((b) => this.key(b.id, hour)), ...open.flat(), nanos.toString(), String(COUNTER_TTL_MS), String(counted.length)).then(
      (values) => {
        let at = 0;
        for (const [i, b] of counted.entries()) {
          let sum = 0n;
          for (let k = 0; k < open[i].length; k++) sum += BigInt(values[at++] ?? '0');
          const current = this.byId.get(b.id);
          if (!current || current.openFrom !== b.openFrom) continue;
          if (current.shared === null || sum > current.shared) current.shared = sum;
          settle(current);
          // Exactly one increment crosses (the script is atomic): it tells every replica.
          const total = current.closed + sum;
          if (total >= current.amount && total - nanos < current.amount) this.shared.publish(CROSSED, `${b.id} ${total}`);
        }
      },
      // Not counted in Redis: the rollup has it within a refresh.
      (error: Error) => this.logger.debug?.(`budget spend not shared: ${error.message}`),
    );
    for (const b of counted) {
      b.adding = adding;
      void adding.finally(() => b.adding === adding && (b.adding = undefined));
    }
  }

  /**
   * Before a call under a budget near its amount: this replica's increments still on their way to
   * Redis, whose answers may show the budget crossed by others (undefined: nothing to wait for, the
   * usual case). So a replica never admits a call on a view older than its own last call.
   */
  settling(featureId: string, orgId: string): Promise<unknown> | undefined {
    let waits: Promise<unknown>[] | undefined;
    for (const b of this.covering(featureId, orgId)) if (b.adding && b.spent * 10n >= b.amount * 9n) (waits ??= []).push(b.adding);
    if (!waits) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise((resolve) => (timer = setTimeout(resolve, NEAR_WAIT_MS)));
    return Promise.race([Promise.allSettled(waits), timeout]).finally(() => clearTimeout(timer));
  }

  /** The hard budgets a call of this feature through this org counts against: its feature's, then its org's. */
  private covering(featureId: string | null, orgId: string | null): HardBudget[] {
    const out: HardBudget[] = [];
    for (const target of [featureId, orgId]) {
      if (!target) continue;
      for (const b of this.byTarget.get(target) ?? []) if (applies(b, orgId)) out.push(b);
    }
    return out;
  }

  private key(budgetId: string, hour: number): string {
    return this.shared.key(`budget-spend:${budgetId}:${hour}`);
  }

  /** The counters of a budget's open hours: from its first open hour to the latest (now's, or the call's). */
  private openKeys(b: HardBudget, latest = 0): string[] {
    const last = Math.max(latest, Math.floor(Date.now() / HOUR_MS) * HOUR_MS, b.openFrom);
    const keys: string[] = [];
    for (let hour = b.openFrom; hour <= last && keys.length < 4; hour += HOUR_MS) keys.push(this.key(b.id, hour));
    return keys;
  }

  /** Reads the open counters of every hard budget (one MGET). */
  private async pull(): Promise<void> {
    const redis = this.shared.client;
    const budgets = [...this.byId.values()];
    if (!redis) {
      for (const b of budgets) if (b.shared !== null) ((b.shared = null), settle(b));
      return;
    }
    if (!budgets.length) return;
    const keys = budgets.map((b) => this.openKeys(b));
    const values = await redis.mget(...keys.flat());
    let at = 0;
    for (const [i, b] of budgets.entries()) {
      let sum = 0n;
      for (let k = 0; k < keys[i].length; k++) sum += BigInt(values[at++] ?? '0');
      const current = this.byId.get(b.id);
      if (current !== b) continue; // refreshed meanwhile
      b.shared = sum;
      settle(b);
    }
  }

  private heard(message: string): void {
    const [id, spent] = message.split(' ');
    const b = this.byId.get(id);
    if (!b || !/^\d{1,20}$/.test(spent ?? '')) return;
    b.heard = BigInt(spent);
    settle(b);
  }

  private commands(): Commands | undefined {
    const redis = this.shared.client as Commands | undefined;
    if (redis && !redis.tallygateBudgetAdd) redis.defineCommand('tallygateBudgetAdd', { lua: ADD });
    return redis;
  }
}

/** The refusal of a call (or a Realtime session) under a spent hard budget: OpenAI's shape, not sent. */
export function budgetExceeded(b: HardBudget): OpenAIError {
  // Cents, or micro-dollars below a cent (a tiny budget must not read "$0.00 of $0.00").
  const usd = (n: bigint) => `$${(Number(n) / 1e9).toFixed(n < 10_000_000n ? 6 : 2)}`;
  const whose = b.featureId ? `Feature ${b.featureSlug}` : `Organization ${b.orgName}`;
  return new OpenAIError(
    429,
    `${whose} has used its budget "${b.name}" (${usd(b.spent)} of ${usd(b.amount)}). The request was not sent to OpenAI. Ask an admin to raise the budget; it renews at ${b.periodEnd.toISOString()} (${b.timeZone}).`,
    'insufficient_quota',
    b.featureId ? 'feature_budget_exceeded' : 'org_budget_exceeded',
  );
}
