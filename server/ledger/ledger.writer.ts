// Takes usage events off the request path: a bounded in-memory queue, flushed in batches by one
// writer loop. When Postgres is slow or down, events wait; past LEDGER_MAX_QUEUE they spill to
// JSON-lines files under DATA_DIR/spill and are replayed once Postgres answers again. The insert
// is idempotent (ON CONFLICT on the event's own id), so a replay never writes a row twice.
import { appendFile, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { batchParameters, INSERT_BATCH_SQL } from './ledger.sql.js';
import type { UsageEvent } from './usage-event.js';

const NO_PARTITION = '23514';
const MAX_BACKOFF_MS = 10_000;

export interface LedgerStats {
  queued: number;
  written: number;
  spilled: number;
  failedFlushes: number;
  /** Events Postgres refused as data (kept in DATA_DIR/rejected). */
  rejected: number;
}

@Injectable()
export class LedgerWriter implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('ledger');
  private queue: UsageEvent[] = [];
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;
  private spilling: Promise<void> = Promise.resolve();
  private backoffMs = 0;
  private spillPending = false;
  private retryAt = 0;
  private readonly spillDir: string;
  private readonly rejectDir: string;
  private readonly stats: LedgerStats = { queued: 0, written: 0, spilled: 0, failedFlushes: 0, rejected: 0 };

  constructor(
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.spillDir = resolve(config.DATA_DIR, 'spill');
    this.rejectDir = resolve(config.DATA_DIR, 'rejected');
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.tick(), this.config.LEDGER_FLUSH_INTERVAL_MS || 250);
    this.timer.unref();
    void this.replaySpill();
  }

  /** Called on the request path: O(1), never waits, never throws. */
  record(event: UsageEvent): void {
    this.queue.push(event);
    if (this.queue.length >= this.config.LEDGER_BATCH_SIZE) void this.tick();
    if (this.queue.length > this.config.LEDGER_MAX_QUEUE) this.spill(this.queue.splice(0, this.config.LEDGER_BATCH_SIZE));
  }

  snapshot(): LedgerStats {
    return { ...this.stats, queued: this.queue.length };
  }

  /** Writes everything queued now; resolves when done or when Postgres refused (events kept). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    return this.start(true);
  }

  /** The timer's write: what is queued now, then only full batches (see drain). */
  private tick(): Promise<void> | undefined {
    return this.flushing ? undefined : this.start(false);
  }

  private start(everything: boolean): Promise<void> | undefined {
    if (Date.now() < this.retryAt || this.queue.length === 0) return;
    this.flushing = this.drain(everything).finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /**
   * Writes batches until the queue is empty (`everything`) or holds less than a full batch. Going on
   * with the few events that arrived during the last write would keep Postgres busy with tiny
   * batches: each statement has a fixed cost (~5 ms of planning and rollup upserts), and at 2,000
   * req/s such a loop settled on ~50 events per batch, ~145 µs of Postgres CPU per event instead
   * of ~40 (measured). Leftovers wait for the next tick, at most LEDGER_FLUSH_INTERVAL_MS.
   */
  private async drain(everything: boolean): Promise<void> {
    do {
      const batch = this.queue.splice(0, this.config.LEDGER_BATCH_SIZE);
      try {
        await this.write(batch);
        this.backoffMs = 0;
        this.retryAt = 0;
        if (this.spillPending) {
          this.spillPending = false;
          void this.replaySpill();
        }
      } catch (error) {
        this.queue.unshift(...batch);
        this.stats.failedFlushes++;
        this.backoffMs = Math.min(MAX_BACKOFF_MS, Math.max(250, this.backoffMs * 2));
        this.retryAt = Date.now() + this.backoffMs;
        this.logger.warn(`ledger write failed, ${this.queue.length} events waiting, retry in ${this.backoffMs} ms: ${(error as Error).message}`);
        return;
      }
    } while (this.queue.length > 0 && (everything || this.queue.length >= this.config.LEDGER_BATCH_SIZE));
  }

  /**
   * Writes a batch. When Postgres refuses the data itself (SQLSTATE class 22: a value out of range
   * from a misbehaving upstream, say), retrying would fail forever and hold up every event behind
   * it: the batch is split until the rows it refuses are alone, and those are set aside in
   * DATA_DIR/rejected (not replayed), logged with their ids.
   */
  private async write(batch: UsageEvent[]): Promise<void> {
    try {
      await this.insertCreatingPartitions(batch);
    } catch (error) {
      if (!String((error as { code?: string }).code ?? '').startsWith('22')) throw error;
      if (batch.length === 1) return this.reject(batch[0], error as Error);
      const half = Math.ceil(batch.length / 2);
      await this.write(batch.slice(0, half));
      await this.write(batch.slice(half));
    }
  }

  private async insertCreatingPartitions(batch: UsageEvent[]): Promise<void> {
    try {
      await this.insert(batch);
    } catch (error) {
      if ((error as { code?: string }).code !== NO_PARTITION) throw error;
      await this.ensurePartitions(batch);
      await this.insert(batch);
    }
  }

  private async reject(event: UsageEvent, error: Error): Promise<void> {
    this.stats.rejected++;
    this.logger.error(`usage event ${event.id} refused by Postgres (${error.message}); kept in ${this.rejectDir}`);
    const line = JSON.stringify(event);
    try {
      await mkdir(this.rejectDir, { recursive: true });
      await appendFile(join(this.rejectDir, `rejected-${process.pid}.jsonl`), line + '\n', { mode: 0o600 });
    } catch (writeError) {
      this.logger.error(`could not keep refused event ${event.id} (${(writeError as Error).message}): ${line}`);
    }
  }

  private async insert(batch: UsageEvent[]): Promise<void> {
    const [{ inserted }] = (await this.dataSource.query(INSERT_BATCH_SQL, batchParameters(batch))) as [{ inserted: number }];
    this.stats.written += inserted;
  }

  private async ensurePartitions(batch: UsageEvent[]): Promise<void> {
    const times = batch.map((e) => e.createdAt.getTime());
    const from = new Date(Math.min(...times));
    const to = new Date(Math.max(...times));
    const months = (to.getUTCFullYear() - from.getUTCFullYear()) * 12 + to.getUTCMonth() - from.getUTCMonth() + 1;
    await this.dataSource.query('SELECT ensure_usage_partitions($1, $2)', [from.toISOString(), months]);
  }

  private spill(events: UsageEvent[]): void {
    const file = join(this.spillDir, `ledger-${process.pid}-${Date.now()}.jsonl`);
    const text = events.map((e) => JSON.stringify(e)).join('\n') + '\n';
    this.stats.spilled += events.length;
    this.spillPending = true;
    this.spilling = this.spilling
      .then(() => mkdir(this.spillDir, { recursive: true }))
      .then(() => appendFile(file, text, { mode: 0o600 }))
      .catch((error: Error) => {
        // Disk is the last resort; if it fails too, keep the events in memory rather than drop them.
        this.logger.error(`could not spill ${events.length} events to ${file}: ${error.message}`);
        this.queue.unshift(...events);
      });
  }

  private replaying?: Promise<number>;

  /** Writes spilled files back (after a restart or once Postgres recovers); one replay at a time. */
  replaySpill(): Promise<number> {
    this.replaying ??= this.replayFiles()
      .catch((error: Error) => {
        this.logger.warn(`spill replay failed, will retry: ${error.message}`);
        return 0;
      })
      .finally(() => (this.replaying = undefined));
    return this.replaying;
  }

  private async replayFiles(): Promise<number> {
    await this.spilling;
    let files: string[];
    try {
      files = (await readdir(this.spillDir)).filter((f) => f.endsWith('.jsonl')).sort();
    } catch {
      return 0;
    }
    let replayed = 0;
    for (const name of files) {
      const path = join(this.spillDir, name);
      const events = (await readFile(path, 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const raw = JSON.parse(line) as UsageEvent;
          return { ...raw, createdAt: new Date(raw.createdAt) };
        });
      try {
        for (let i = 0; i < events.length; i += this.config.LEDGER_BATCH_SIZE) {
          await this.write(events.slice(i, i + this.config.LEDGER_BATCH_SIZE));
        }
      } catch (error) {
        this.logger.warn(`spill replay of ${name} postponed: ${(error as Error).message}`);
        return replayed;
      }
      await rm(path, { force: true });
      replayed += events.length;
    }
    if (replayed) this.logger.log(`replayed ${replayed} spilled events`);
    return replayed;
  }

  /** Nest calls this before TypeORM closes its connections: write out everything still queued. */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.flushing;
    this.retryAt = 0;
    await this.flush();
    if (this.queue.length > 0) this.spill(this.queue.splice(0));
    await this.spilling;
  }
}
