// The simulator's mutable state: orgs by key, rate-limit buckets, stats and the seeded error dice.
import type { SimulatedOrg, SimulatorOptions } from './simulator.js';
import { RateLimiter } from './rate-limits.js';
import { StatsRecorder } from './stats.js';
import { listPrices, SimulatorBilling } from './billing.js';
import { seededRandom } from './tokens.js';

export class SimulatorRuntime {
  readonly limiter = new RateLimiter();
  readonly stats = new StatsRecorder();
  readonly billing: SimulatorBilling;
  /** Admin API calls allowed per admin key per second (OpenAI rate-limits its usage endpoints); 0 = unlimited. */
  readonly adminRequestsPerSecond: number;
  readonly ttftMs: number;
  readonly perTokenMs: number;
  private readonly errorRate: number;
  private readonly seed: number;
  private random: () => number;
  private readonly orgsById = new Map<string, SimulatedOrg>();
  private readonly orgsByKey = new Map<string, SimulatedOrg>();
  private readonly orgsByAdminKey = new Map<string, SimulatedOrg>();

  constructor(options: SimulatorOptions) {
    this.ttftMs = Math.max(0, options.latency?.ttftMs ?? 0);
    this.perTokenMs = Math.max(0, options.latency?.perTokenMs ?? 0);
    this.errorRate = Math.min(1, Math.max(0, options.errorRate ?? 0));
    this.seed = options.seed ?? 1;
    this.random = seededRandom(this.seed);
    this.billing = new SimulatorBilling({ ...listPrices(), ...options.prices });
    this.adminRequestsPerSecond = options.adminRequestsPerSecond ?? 0;
    for (const org of options.orgs) this.setOrg(org);
  }

  orgForKey(key: string): SimulatedOrg | undefined {
    return this.orgsByKey.get(key);
  }

  orgForAdminKey(key: string): SimulatedOrg | undefined {
    return this.orgsByAdminKey.get(key);
  }

  /** Adds or replaces an org; its buckets restart so new limits apply at once. */
  setOrg(org: SimulatedOrg): void {
    const previous = this.orgsById.get(org.id);
    if (previous) for (const key of previous.keys) this.orgsByKey.delete(key);
    if (previous) for (const key of previous.adminKeys ?? []) this.orgsByAdminKey.delete(key);
    const copy: SimulatedOrg = { ...org, keys: [...org.keys], limits: org.limits ? { ...org.limits } : undefined };
    this.orgsById.set(org.id, copy);
    for (const key of copy.keys) this.orgsByKey.set(key, copy);
    for (const key of copy.adminKeys ?? []) this.orgsByAdminKey.set(key, copy);
    this.limiter.forgetOrg(org.id);
  }

  reset(): void {
    this.limiter.clear();
    this.stats.reset();
    this.billing.reset();
    this.random = seededRandom(this.seed);
  }

  /** Decides, from the seeded sequence, whether this request fails upstream-style. */
  drawServerError(): 500 | 503 | undefined {
    if (this.errorRate <= 0) return undefined;
    if (this.random() >= this.errorRate) return undefined;
    return this.random() < 0.5 ? 500 : 503;
  }
}
