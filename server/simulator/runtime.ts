// The simulator's mutable state: orgs by key, rate-limit buckets, stats and the seeded error dice.
import type { SimulatedOrg, SimulatorOptions } from './simulator.js';
import { RateLimiter } from './rate-limits.js';
import { StatsRecorder } from './stats.js';
import { ResourceStore } from './store.js';
import { listPrices, SimulatorBilling } from './billing.js';
import { seededRandom } from './tokens.js';

/** Each phase of a batch, fine-tuning job, video or background response: short, so the demo shows them finish. */
const DEFAULT_JOB_PHASE_MS = 1_000;
const DEFAULT_BATCH_EXPIRY_MS = 86_400_000;
/** A request as it reached the simulator: what a gateway in front of it forwarded. */
export interface ReceivedRequest {
  method: string;
  /** Path and query exactly as received (not decoded). */
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

/** How many of the latest requests are kept for tests to inspect. */
const RECEIVED_KEPT = 32;

export class SimulatorRuntime {
  readonly limiter = new RateLimiter();
  readonly stats = new StatsRecorder();
  readonly store = new ResourceStore();
  readonly billing: SimulatorBilling;
  /** Admin API calls allowed per admin key per second (OpenAI rate-limits its usage endpoints); 0 = unlimited. */
  readonly adminRequestsPerSecond: number;
  readonly ttftMs: number;
  readonly perTokenMs: number;
  readonly jobPhaseMs: number;
  /** How long a batch spends on each line of its input while in_progress (so a cancel or expiry can cut it). */
  readonly batchLineMs: number;
  /** When an unfinished batch expires (OpenAI: its 24 h completion window). */
  readonly batchExpiryMs: number;
  private readonly errorRate: number;
  private readonly seed: number;
  private random: () => number;
  private readonly orgsById = new Map<string, SimulatedOrg>();
  private readonly orgsByKey = new Map<string, SimulatedOrg>();
  private readonly receivedRing: ReceivedRequest[] = [];
  private receivedNext = 0;
  private readonly orgsByAdminKey = new Map<string, SimulatedOrg>();

  constructor(options: SimulatorOptions) {
    this.ttftMs = Math.max(0, options.latency?.ttftMs ?? 0);
    this.perTokenMs = Math.max(0, options.latency?.perTokenMs ?? 0);
    this.jobPhaseMs = Math.max(0, options.jobPhaseMs ?? DEFAULT_JOB_PHASE_MS);
    this.errorRate = Math.min(1, Math.max(0, options.errorRate ?? 0));
    this.seed = options.seed ?? 1;
    this.random = seededRandom(this.seed);
    this.billing = new SimulatorBilling({ ...listPrices(), ...options.prices }, { ...listPrices('batch'), ...options.batchPrices });
    this.batchLineMs = Math.max(0, options.batchLineMs ?? 0);
    this.batchExpiryMs = Math.max(0, options.batchExpiryMs ?? DEFAULT_BATCH_EXPIRY_MS);
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

  /** Keeps a reference (no copy: this runs on every request of a benchmark) to the request's line and headers. */
  receive(method: string, url: string, headers: ReceivedRequest['headers']): void {
    this.receivedRing[this.receivedNext] = { method, url, headers };
    this.receivedNext = (this.receivedNext + 1) % RECEIVED_KEPT;
  }

  /** The latest requests received, oldest first. */
  received(): ReceivedRequest[] {
    return [...this.receivedRing.slice(this.receivedNext), ...this.receivedRing.slice(0, this.receivedNext)];
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
