// Requests to /v1 that carry no key Tallygate issued (none, malformed, unknown, or one it could not
// check) are counted per minute and reason, not written one ledger row each: an anonymous flood
// must not grow the ledger. The hot path bumps a number in a Map; a timer adds the counts to
// anonymous_minutes (one upsert per flush, so replicas add up), and /metrics reads the totals.
import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ANONYMOUS_REASONS, type AnonymousMinute } from '../contract/ratelimits.js';

// The reasons and the answer's shape are the API contract's (server/contract/ratelimits.ts).
export { ANONYMOUS_REASONS, type AnonymousMinute } from '../contract/ratelimits.js';
export type AnonymousReason = AnonymousMinute['reason'];

const FLUSH_INTERVAL_MS = 5_000;
/** Counts Postgres could not take are kept for the next flush, up to this many minutes x reasons (then the oldest go). */
const MAX_PENDING = 10_000;
const RETENTION_DAYS = 35;

const UPSERT_SQL = `
  INSERT INTO anonymous_minutes (minute, reason, requests)
  SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::bigint[])
  ON CONFLICT (minute, reason) DO UPDATE SET requests = anonymous_minutes.requests + EXCLUDED.requests`;

@Injectable()
export class AnonymousRequests implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('anonymous');
  /** `${minute ms}|${reason}` -> requests not yet written. */
  private pending = new Map<string, number>();
  private readonly totals: Record<AnonymousReason, number> = { missing_key: 0, malformed_key: 0, unknown_key: 0, key_unverified: 0 };
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;
  private prunedAt = 0;

  constructor(private readonly dataSource: DataSource) {}

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
    const rows = (await this.dataSource.query(
      `SELECT minute, reason, requests FROM anonymous_minutes WHERE minute >= $1 AND minute < $2 ORDER BY minute, reason`,
      [from, to],
    )) as Array<{ minute: Date; reason: AnonymousReason; requests: string }>;
    return rows.map((r) => ({ minute: r.minute.toISOString(), reason: r.reason, requests: Number(r.requests) }));
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
      await this.dataSource.query(UPSERT_SQL, [minutes, reasons, counts]);
      if (Date.now() - this.prunedAt > 3_600_000) {
        this.prunedAt = Date.now();
        await this.dataSource.query(`DELETE FROM anonymous_minutes WHERE minute < now() - interval '${RETENTION_DAYS} days'`);
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
