// Takes usage events off the request path: a bounded in-memory queue, flushed in batches by one
// writer loop. When Postgres is slow or down, events wait; past LEDGER_MAX_QUEUE they spill to
// JSON-lines files under DATA_DIR/spill and are replayed once Postgres answers again. The insert
// is idempotent (ON CONFLICT on the event's own id), so a replay never writes a row twice. No event
// can hold up another: a row Postgres refuses for what it holds is set aside in DATA_DIR/rejected.
import { appendFile, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { boundUsageEvent } from './bounds.js';
import { LedgerRepository } from './ledger.repository.js';
import { batchParameters } from './ledger.sql.js';
import { retentionHorizon } from './retention.js';
import type { UsageEvent } from './usage-event.js';

/** "no partition of relation found for row" shares check_violation's SQLSTATE, without a constraint name. */
const NO_PARTITION = '23514';
const MAX_BACKOFF_MS = 10_000;

/**
 * SQLSTATE classes that say nothing about the rows being written: the connection or the server
 * failed (08, 53, 57, 58, XX, F0), the transaction lost a race (40, 55 lock not available), a
 * failover left a read-only server (25), or the schema or credentials are not what this version
 * expects (28, 3D, 42: a rolling deploy before its migration). Splitting a batch cannot help; it
 * waits and is retried whole. Any other SQLSTATE (22 data, 23 constraints, 54 limits such as an
 * index row too large, ...) depends on what the rows hold: the batch is split until the rows
 * Postgres refuses are alone.
 */
const NOT_THE_DATA = new Set(['08', '25', '28', '3D', '40', '42', '53', '55', '57', '58', 'F0', 'XX']);
/** A SQLSTATE; Node's own error codes (ECONNRESET, EPIPE, ETIMEDOUT) start with E, which no SQLSTATE class does. */
const SQLSTATE = /^[0-9A-DF-Z][0-9A-Z]{4}$/;

/** True when a failed write should be retried as it is; false when the rows themselves are refused. */
export function isTransientWriteError(error: unknown): boolean {
  if (error instanceof UnwritableBatch) return false;
  const code = (error as { code?: unknown } | null)?.code;
  // No SQLSTATE: the network, a timeout, the pool; Postgres never saw the rows.
  if (typeof code !== 'string' || !SQLSTATE.test(code)) return true;
  return NOT_THE_DATA.has(code.slice(0, 2));
}

/** The statement's parameters could not be built from the batch (an event that is not one): the data's fault. */
class UnwritableBatch extends Error {}

/** A write stopped by a transient failure, with the events it had not written yet (the rest is in Postgres). */
class WriteInterrupted extends Error {
  constructor(
    cause: Error,
    readonly unwritten: UsageEvent[],
  ) {
    super(cause.message, { cause });
  }
}

export interface LedgerStats {
  queued: number;
  written: number;
  spilled: number;
  failedFlushes: number;
  /** Events Postgres refused for what they hold, and spill lines that were not events (kept in DATA_DIR/rejected). */
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
  /** Where events wait while Postgres is away (DATA_DIR/spill), replayed by themselves. */
  readonly spillDir: string;
  /** Where events Postgres refused are kept (DATA_DIR/rejected), replayed only on request. */
  readonly rejectDir: string;
  /** Spill files of this process still being written: a replay must not read them half-written. */
  private readonly spillsInProgress = new Set<string>();
  private spillSeq = 0;
  private replayTimer?: NodeJS.Timeout;
  private replayBackoffMs = 0;
  private closing = false;
  private readonly stats: LedgerStats = { queued: 0, written: 0, spilled: 0, failedFlushes: 0, rejected: 0 };

  constructor(
    private readonly ledger: LedgerRepository,
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

  /**
   * Called on the request path: O(1), never waits, never throws. The event is bounded in place
   * (a few comparisons per field) so whatever it holds fits its columns.
   */
  record(event: UsageEvent): void {
    this.queue.push(boundUsageEvent(event));
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

  /**
   * The timer's write: what is queued now, then only full batches (see drain). Undefined when a
   * write is already under way or nothing is queued. Public so a test can run one tick itself.
   */
  tick(): Promise<void> | undefined {
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
        // Rows written before the failure stay written; only the rest waits.
        this.queue.unshift(...(error instanceof WriteInterrupted ? error.unwritten : batch));
        this.stats.failedFlushes++;
        this.backoffMs = Math.min(MAX_BACKOFF_MS, Math.max(250, this.backoffMs * 2));
        this.retryAt = Date.now() + this.backoffMs;
        this.logger.warn(`ledger write failed, ${this.queue.length} events waiting, retry in ${this.backoffMs} ms: ${(error as Error).message}`);
        return;
      }
    } while (this.queue.length > 0 && (everything || this.queue.length >= this.config.LEDGER_BATCH_SIZE));
  }

  /**
   * Writes a batch. When Postgres refuses the rows themselves (a value out of range, a constraint,
   * an index row too large: anything isTransientWriteError() does not call transient), retrying
   * would fail forever and hold up every event behind it: the batch is split until the rows it
   * refuses are alone, and those are set aside in DATA_DIR/rejected (not replayed), counted and
   * logged with their ids. One bad row among 1,000 costs ~20 statements. A transient failure stops
   * the write and throws WriteInterrupted with exactly the events not written yet, so none is
   * written or rejected twice. Public so a test can write a batch of its own making.
   */
  async write(batch: UsageEvent[]): Promise<void> {
    const parts = [batch]; // a stack: the next part to write is last
    while (parts.length > 0) {
      const part = parts.pop()!;
      try {
        await this.insertCreatingPartitions(part);
      } catch (error) {
        if (isTransientWriteError(error)) throw new WriteInterrupted(error as Error, [part, ...parts.reverse()].flat());
        if (part.length === 1) {
          await this.reject(part[0], error as Error);
          continue;
        }
        const half = Math.ceil(part.length / 2);
        parts.push(part.slice(half), part.slice(0, half));
      }
    }
  }

  private async insertCreatingPartitions(batch: UsageEvent[]): Promise<void> {
    try {
      await this.insert(batch);
    } catch (error) {
      const { code, constraint } = error as { code?: string; constraint?: string };
      if (code !== NO_PARTITION || constraint) throw error;
      const kept = await this.setAsideExpired(batch);
      if (!kept.length) return;
      await this.ensurePartitions(kept);
      await this.insert(kept);
    }
  }

  /**
   * Events from before the retention horizon (a spill replayed a year late) would re-create a
   * dropped month, and one written before the drop would be counted a second time in the rollups:
   * they are set aside in DATA_DIR/rejected instead, and the rest is written.
   */
  private async setAsideExpired(batch: UsageEvent[]): Promise<UsageEvent[]> {
    const horizon = retentionHorizon(this.config.LEDGER_RETENTION_MONTHS);
    if (!horizon) return batch;
    const kept: UsageEvent[] = [];
    for (const event of batch) {
      if (event.createdAt >= horizon) kept.push(event);
      else await this.reject(event, new Error(`older than the ledger's retention horizon (${horizon.toISOString().slice(0, 10)}, LEDGER_RETENTION_MONTHS=${this.config.LEDGER_RETENTION_MONTHS}): its month was removed`));
    }
    return kept;
  }

  private async reject(event: UsageEvent, error: Error): Promise<void> {
    const code = (error as { code?: string }).code;
    this.logger.error(`usage event ${event.id} refused by Postgres (${code ? `${code}: ` : ''}${error.message}); kept in ${this.rejectDir}`);
    await this.keepRejected(JSON.stringify(event), `event ${event.id}`);
  }

  /** Appends a line to DATA_DIR/rejected, where nothing is replayed by itself. */
  private async keepRejected(line: string, what: string): Promise<void> {
    this.stats.rejected++;
    try {
      await mkdir(this.rejectDir, { recursive: true });
      await appendFile(join(this.rejectDir, `rejected-${process.pid}.jsonl`), line + '\n', { mode: 0o600 });
    } catch (writeError) {
      this.logger.error(`could not keep refused ${what} (${(writeError as Error).message}): ${line}`);
    }
  }

  private async insert(batch: UsageEvent[]): Promise<void> {
    let parameters: string[];
    try {
      parameters = batchParameters(batch);
    } catch (error) {
      throw new UnwritableBatch(`not a writable usage event: ${(error as Error).message}`);
    }
    this.stats.written += await this.ledger.insertBatch(parameters);
  }

  private async ensurePartitions(batch: UsageEvent[]): Promise<void> {
    const times = batch.map((e) => e.createdAt.getTime());
    const from = new Date(Math.min(...times));
    const to = new Date(Math.max(...times));
    const months = (to.getUTCFullYear() - from.getUTCFullYear()) * 12 + to.getUTCMonth() - from.getUTCMonth() + 1;
    await this.ledger.ensurePartitions(from, months);
  }

  /**
   * Each spill is a file of its own, written whole (never appended to), and known to be in progress
   * until it is: a replay reads only finished files.
   */
  private spill(events: UsageEvent[]): void {
    const name = `ledger-${process.pid}-${Date.now()}-${String(++this.spillSeq).padStart(6, '0')}.jsonl`;
    const file = join(this.spillDir, name);
    const text = events.map((e) => JSON.stringify(e)).join('\n') + '\n';
    this.stats.spilled += events.length;
    this.spillPending = true;
    this.spillsInProgress.add(name);
    this.spilling = this.spilling
      .then(() => mkdir(this.spillDir, { recursive: true }))
      .then(() => writeFile(file, text, { mode: 0o600, flag: 'wx' }))
      .catch((error: Error) => {
        // Disk is the last resort; if it fails too, keep the events in memory rather than drop them.
        this.logger.error(`could not spill ${events.length} events to ${file}: ${error.message}`);
        this.queue.unshift(...events);
      })
      .finally(() => this.spillsInProgress.delete(name));
  }

  private replaying?: Promise<number>;

  /**
   * Writes spilled files back (after a restart or once Postgres recovers); one replay at a time.
   * A replay that fails (Postgres still away) is tried again on a timer, with backoff, not only
   * when a new write succeeds: a replica with no traffic must still catch up.
   */
  replaySpill(): Promise<number> {
    clearTimeout(this.replayTimer);
    this.replaying ??= this.replayFiles()
      .then(
        (replayed) => {
          this.replayBackoffMs = 0;
          return replayed;
        },
        (error: Error) => {
          this.replayBackoffMs = Math.min(MAX_BACKOFF_MS, Math.max(500, this.replayBackoffMs * 2));
          this.logger.warn(`spill replay failed, retry in ${this.replayBackoffMs} ms: ${error.message}`);
          if (!this.closing) {
            this.replayTimer = setTimeout(() => void this.replaySpill(), this.replayBackoffMs);
            this.replayTimer.unref();
          }
          return 0;
        },
      )
      .finally(() => (this.replaying = undefined));
    return this.replaying;
  }

  private async replayFiles(): Promise<number> {
    await this.spilling;
    let files: string[];
    try {
      files = (await readdir(this.spillDir)).filter((f) => f.endsWith('.jsonl') && !this.spillsInProgress.has(f)).sort();
    } catch {
      return 0;
    }
    let replayed = 0;
    for (const name of files) replayed += await this.replayFile(join(this.spillDir, name), name);
    if (replayed) this.logger.log(`replayed ${replayed} spilled events`);
    return replayed;
  }

  /**
   * One spill file: lines that are not usage events go to DATA_DIR/rejected (with the file and line
   * in the log) and the rest is written; the file is removed once all of it is in Postgres. When
   * Postgres fails meanwhile, the file is rewritten with what is still unwritten and the error
   * thrown, so a retry neither writes nor rejects anything twice.
   */
  private async replayFile(path: string, name: string): Promise<number> {
    const lines = (await readFile(path, 'utf8')).split('\n');
    const events: UsageEvent[] = [];
    let unreadable = 0;
    for (let i = 0; i < lines.length; i++) {
      if (!lines[i].trim()) continue;
      const event = readUsageEvent(lines[i]);
      if (event) events.push(event);
      else {
        unreadable++;
        this.logger.error(`${name} line ${i + 1} is not a usage event; kept in ${this.rejectDir}, the rest of the file is replayed`);
        await this.keepRejected(lines[i], `line ${i + 1} of ${name}`);
      }
    }
    if (unreadable) await this.rewriteSpill(path, events);
    const size = this.config.LEDGER_BATCH_SIZE;
    for (let i = 0; i < events.length; i += size) {
      try {
        await this.write(events.slice(i, i + size));
      } catch (error) {
        const unwritten = error instanceof WriteInterrupted ? [...error.unwritten, ...events.slice(i + size)] : events.slice(i);
        await this.rewriteSpill(path, unwritten);
        throw new Error(`replay of ${name} stopped, ${unwritten.length} events wait: ${(error as Error).message}`);
      }
    }
    await rm(path, { force: true });
    return events.length;
  }

  /**
   * Writes the events set aside in DATA_DIR/rejected again, once their cause is fixed (a migration,
   * a constraint relaxed, a line repaired by hand), as spill files are replayed: what is still not
   * an event or still refused is set aside again, in this process's own rejected file. Each file is
   * first renamed `*.replaying` so those new rejections never land in a file being read; one left
   * by an interrupted run is taken up again. For `npm run cli -- ledger:replay-rejected`.
   */
  async replayRejected(): Promise<{ files: number; events: number; setAsideAgain: number }> {
    let names: string[];
    try {
      names = (await readdir(this.rejectDir)).filter((f) => f.endsWith('.jsonl') || f.endsWith(REPLAYING)).sort();
    } catch {
      return { files: 0, events: 0, setAsideAgain: 0 };
    }
    const rejectedBefore = this.stats.rejected;
    let events = 0;
    for (const name of names) {
      const path = join(this.rejectDir, name);
      const claimed = name.endsWith(REPLAYING) ? path : path + REPLAYING;
      if (claimed !== path) await rename(path, claimed);
      events += await this.replayFile(claimed, name);
    }
    return { files: names.length, events, setAsideAgain: this.stats.rejected - rejectedBefore };
  }

  /** Replaces a spill file atomically (a crash leaves the old or the new one, never half of one). */
  private async rewriteSpill(path: string, events: UsageEvent[]): Promise<void> {
    const temporary = `${path}.rewrite`;
    await writeFile(temporary, events.map((e) => JSON.stringify(e)).join('\n') + '\n', { mode: 0o600 });
    await rename(temporary, path);
  }

  /** Nest calls this before TypeORM closes its connections: write out everything still queued. */
  async beforeApplicationShutdown(): Promise<void> {
    this.closing = true;
    clearInterval(this.timer);
    clearTimeout(this.replayTimer);
    await this.replaying;
    await this.flushing;
    this.retryAt = 0;
    await this.flush();
    if (this.queue.length > 0) this.spill(this.queue.splice(0));
    await this.spilling;
  }
}

const REPLAYING = '.replaying';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A usage event from a line of a spill or rejected file, bounded as record() bounds events; undefined
 * when the line is not one (cut short by a crash, edited by hand). Fields Postgres refuses are left
 * to it: such a row is isolated and rejected like any other.
 */
export function readUsageEvent(line: string): UsageEvent | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const fields = raw as Record<string, unknown>;
  if (typeof fields.id !== 'string' || !UUID.test(fields.id) || typeof fields.createdAt !== 'string') return undefined;
  const createdAt = new Date(fields.createdAt);
  if (Number.isNaN(createdAt.getTime())) return undefined;
  return boundUsageEvent({ ...(fields as unknown as UsageEvent), createdAt });
}
