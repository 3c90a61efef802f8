// Ledger retention: raw usage events older than LEDGER_RETENTION_MONTHS are removed a whole
// monthly partition at a time (optionally exported first to gzip CSV), while every rollup that
// statements and charts read is kept. One replica at a time (an advisory lock); the others skip.
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import QueryStream from 'pg-query-stream';
import { csvRow } from '../contract/csv.js';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { NO_ORG } from './no-org.js';
import { RetentionRepository, type LedgerPartition } from './retention.repository.js';

/**
 * The first instant whose events are kept: the start of the UTC month `months` before this one.
 * With 13 months on 2026-12-15, events from 2025-11-01 on are kept. Undefined when retention is off.
 */
export function retentionHorizon(months: number, now = new Date()): Date | undefined {
  if (!(months > 0)) return undefined;
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - months, 1));
}

export interface RetentionReport {
  horizon: string | null;
  dryRun: boolean;
  /** Partitions wholly before the horizon, oldest first. */
  partitions: Array<{ name: string; from: string; to: string; rows: number; exportedTo: string | null; dropped: boolean }>;
  /** Another replica held the lock: nothing was done. */
  skipped?: 'locked' | 'off';
}

export type Progress = (message: string) => void;

const PROGRESS_EVERY_MS = 5_000;

@Injectable()
export class LedgerRetention implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('retention');
  private timer?: ReturnType<typeof setTimeout>;
  private running?: Promise<RetentionReport>;

  constructor(
    private readonly repository: RetentionRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    const every = this.config.LEDGER_RETENTION_INTERVAL_MS;
    if (!(this.config.LEDGER_RETENTION_MONTHS > 0) || every <= 0) return;
    const tick = (delay: number) => {
      this.timer = setTimeout(() => {
        void this.run().catch((error: Error) => this.logger.error(`retention run failed: ${error.message}`)).finally(() => tick(every));
      }, delay);
      this.timer.unref();
    };
    tick(Math.min(every, 60_000)); // first run a minute after start, then every interval
  }

  onModuleDestroy(): void {
    clearTimeout(this.timer);
  }

  horizon(now = new Date()): Date | undefined {
    return retentionHorizon(this.config.LEDGER_RETENTION_MONTHS, now);
  }

  /** One pass: export (when LEDGER_RETENTION_EXPORT_DIR is set) and drop every partition before the horizon. */
  run(options: { dryRun?: boolean; now?: Date; progress?: Progress } = {}): Promise<RetentionReport> {
    // A manual run while the timer's is under way joins it rather than racing it.
    this.running ??= this.pass(options).finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass({ dryRun = false, now = new Date(), progress }: { dryRun?: boolean; now?: Date; progress?: Progress }): Promise<RetentionReport> {
    const horizon = this.horizon(now);
    if (!horizon) return { horizon: null, dryRun, partitions: [], skipped: 'off' };
    const say = (message: string) => {
      this.logger.log(message);
      progress?.(message);
    };
    const client = await this.repository.connect();
    let locked = false;
    try {
      locked = await this.repository.tryLock(client);
      if (!locked) return { horizon: horizon.toISOString(), dryRun, partitions: [], skipped: 'locked' };
      const expired = (await this.repository.partitions(client)).filter((p) => p.to <= horizon);
      const report: RetentionReport = { horizon: horizon.toISOString(), dryRun, partitions: [] };
      for (const [i, partition] of expired.entries()) {
        const rows = await this.repository.rowCount(client, partition.name);
        const line = { name: partition.name, from: partition.from.toISOString(), to: partition.to.toISOString(), rows, exportedTo: null as string | null, dropped: false };
        report.partitions.push(line);
        say(`${dryRun ? 'would remove' : 'removing'} ${partition.name} (${rows.toLocaleString('en-US')} events, partition ${i + 1} of ${expired.length}; rollups are kept)`);
        if (dryRun) continue;
        if (this.config.LEDGER_RETENTION_EXPORT_DIR) line.exportedTo = await this.export(client, partition, rows, say);
        await this.repository.detachAndDrop(client, partition.name);
        line.dropped = true;
        say(`removed ${partition.name}${line.exportedTo ? ` (exported to ${line.exportedTo})` : ''}`);
      }
      if (!expired.length) say(`nothing to remove: no ledger partition ends before ${horizon.toISOString().slice(0, 10)}`);
      return report;
    } finally {
      if (locked) await this.repository.unlock(client).catch(() => undefined);
      client.release();
    }
  }

  /**
   * Streams the partition to `<dir>/<partition>.csv.gz` (written as .partial, renamed when whole and
   * its row count checked), with progress and an ETA. A failure leaves the partition in place.
   */
  private async export(client: Awaited<ReturnType<RetentionRepository['connect']>>, partition: LedgerPartition, total: number, say: (m: string) => void): Promise<string> {
    const dir = resolve(this.config.LEDGER_RETENTION_EXPORT_DIR!);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, `${partition.name}.csv.gz`);
    const partial = `${file}.partial`;
    const started = Date.now();
    let written = 0;
    let header: string[] | undefined;
    let lastReport = started;
    const toCsv = new Transform({
      writableObjectMode: true,
      transform(row: Record<string, unknown>, _encoding, done) {
        let out = '';
        if (!header) out += csvRow((header = Object.keys(row)));
        out += csvRow(header.map((k) => cell(k, row[k])));
        written++;
        const now = Date.now();
        if (now - lastReport >= PROGRESS_EVERY_MS) {
          lastReport = now;
          const rate = written / ((now - started) / 1000);
          const eta = rate > 0 ? Math.round((total - written) / rate) : null;
          say(`exporting ${partition.name}: ${written.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} events (${Math.floor((100 * written) / Math.max(total, 1))}%)${eta !== null ? `, about ${eta} s left` : ''}`);
        }
        done(null, out);
      },
    });
    try {
      await pipeline(client.query(new QueryStream(this.repository.exportSql(partition.name), [], { batchSize: 5_000, highWaterMark: 5_000 })), toCsv, createGzip(), createWriteStream(partial, { mode: 0o600 }));
      if (written !== total) throw new Error(`exported ${written} events of ${total}; the partition is kept`);
      await rename(partial, file);
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
    return file;
  }
}

/** Values as Postgres prints them: timestamps in ISO, the rest as text; no org as empty, as the app's own CSV export has it. */
function cell(column: string, value: unknown): unknown {
  if (column === 'org_id' && value === NO_ORG) return null;
  return value instanceof Date ? value.toISOString() : value;
}
