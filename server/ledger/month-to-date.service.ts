// Month-to-date spend per feature, for enforcing monthly budgets on the hot path. Read from the
// daily rollup (shared by every replica through Postgres) and cached briefly: a budget is
// enforced within BUDGET_CACHE_MS plus the ledger's flush interval, not to the last request.
import { Injectable } from '@nestjs/common';
import { Clock } from '../config/clock.js';
import { LedgerRepository } from './ledger.repository.js';

const BUDGET_CACHE_MS = 5_000;
/**
 * A feature's first check waits at most this for Postgres, then fails open: with Postgres
 * unreachable (a connect that hangs has no timeout of its own) the call must not stall on it.
 */
const FIRST_LOOKUP_MS = 1_000;

interface Cached {
  nanos: bigint;
  at: number;
  refreshing?: Promise<bigint>;
}

@Injectable()
export class MonthToDateSpend {
  private readonly features = new Map<string, Cached>();

  constructor(
    private readonly ledger: LedgerRepository,
    private readonly clock: Clock,
  ) {}

  /**
   * Forgets what is cached (one feature's, or every feature's): the next check reads the rollup.
   * For a change that must apply at once (a budget edited, a test that just spent).
   */
  invalidate(featureId?: string): void {
    if (featureId === undefined) this.features.clear();
    else this.features.delete(featureId);
  }

  /** Spend of the feature since the 1st of this UTC month, in nano-dollars (priced events only). */
  async featureNanos(featureId: string): Promise<bigint> {
    const cached = this.features.get(featureId);
    if (!cached) return this.firstRefresh(featureId);
    // Stale: answer with what we know and refresh in the background, so no request waits.
    if (this.clock.now() - cached.at > BUDGET_CACHE_MS && !cached.refreshing) void this.refresh(featureId).catch(() => undefined);
    return cached.nanos;
  }

  private firstRefresh(featureId: string): Promise<bigint> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer from Postgres within ${FIRST_LOOKUP_MS} ms`)), FIRST_LOOKUP_MS)));
    const refreshing = this.refresh(featureId);
    refreshing.catch(() => undefined); // when it loses the race
    return Promise.race([refreshing, late]).finally(() => clearTimeout(timer));
  }

  private refresh(featureId: string): Promise<bigint> {
    const cached = this.features.get(featureId);
    const refreshing = this.ledger
      .featureMonthToDateNanos(featureId)
      .then((nanos) => {
        this.features.set(featureId, { nanos, at: this.clock.now() });
        return nanos;
      })
      .finally(() => {
        const entry = this.features.get(featureId);
        if (entry) entry.refreshing = undefined;
      });
    // A failed refresh keeps what was known and is tried again in BUDGET_CACHE_MS, not on every
    // request: during an outage each would otherwise queue one more query on the pool.
    refreshing.catch(() => {
      const entry = this.features.get(featureId);
      if (entry) entry.at = this.clock.now();
    });
    if (cached) cached.refreshing = refreshing;
    return refreshing;
  }
}
