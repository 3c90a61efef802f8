// Requests to /v1 that carry no key Tallygate issued (none, malformed, unknown, or one it could not
// check) are counted per minute and reason, not written one ledger row each: an anonymous flood
// must not grow the ledger. The hot path bumps a number in a Map; a timer adds the counts to
// anonymous_minutes (one upsert per flush, so replicas add up), and /metrics reads the totals.
import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { ANONYMOUS_REASONS, type AnonymousMinute } from '../contract/ratelimits.js';
import { RateLimitsRepository } from './ratelimits.repository.js';

// The reasons and the answer's shape are the API contract's (server/contract/ratelimits.ts).
export { ANONYMOUS_REASONS, type AnonymousMinute } from '../contract/ratelimits.js';
export type AnonymousReason = AnonymousMinute['reason'];

const FLUSH_INTERVAL_MS = 5_000;
/** Counts Postgres could not take are kept for the next flush, up to this many minutes x reasons (then the oldest go). */
const MAX_PENDING = 10_000;
const RETENTION_DAYS = 35;

@Injectable()
export class AnonymousRequests implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('anonymous');
  /** `${minute ms}|${reason}` -> requests not yet written. */
  private pending = new Map<string, number>();
  private readonly totals: Record<AnonymousReason, number> = { missing_key: 0, malformed_key: 0, unknown_key: 0, key_unverified: 0 };
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;
  private prunedAt = 0;

  constructor(private readonly history: RateLimitsRepository) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.flush(), FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  /** On the request path: O(1), no I/O, never throws. */
  count(reason: AnonymousReason, at = Date.now()): void {
    this.totals[reason]++;
    const key = `${at - (at % 60_000)}|${reason}`;
    this.pending.set(key, (this.pending.get(key) ?? 0) + 1);
  }

  /** Requests counted by this replica since it started, by reason (for /metrics). */
  snapshot(): Readonly<Record<AnonymousReason, number>> {
    return this.totals;
  }

  /** Adds what was counted to anonymous_minutes; on failure keeps it for the next try. */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /** Per minute and reason over [from, to), as written (the last few seconds may still be in memory). */
  async series(from: Date, to: Date): Promise<AnonymousMinute[]> {
    const rows = await this.history.anonymousMinutes(from, to);
    return rows.map((r) => ({ minute: r.minute.toISOString(), reason: r.reason as AnonymousReason, requests: Number(r.requests) }));
  }

  private async write(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const minutes: string[] = [];
    const reasons: string[] = [];
    const counts: string[] = [];
    for (const [key, n] of batch) {
      const at = key.indexOf('|');
      minutes.push(new Date(Number(key.slice(0, at))).toISOString());
      reasons.push(key.slice(at + 1));
      counts.push(String(n));
    }
    try {
      await this.history.addAnonymous(minutes, reasons, counts);
      if (Date.now() - this.prunedAt > 3_600_000) {
        this.prunedAt = Date.now();
        await this.history.pruneAnonymous(RETENTION_DAYS);
      }
    } catch (error) {
      this.logger.warn(`anonymous request counts not written yet (${(error as Error).message}); kept for the next try`);
      for (const [key, n] of batch) this.pending.set(key, (this.pending.get(key) ?? 0) + n);
      while (this.pending.size > MAX_PENDING) this.pending.delete(this.pending.keys().next().value as string);
    }
  }

  /** Before TypeORM closes its pool: write what is left. */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.flushing;
    await this.flush();
  }
}
