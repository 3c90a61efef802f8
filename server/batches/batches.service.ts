// Batches metered at batch prices, exactly once: who created each batch (remembered from the gateway's
// answer), polls of its state upstream with the org's key, and once it is final (completed, expired,
// cancelled, failed), its output and error files streamed line by line into the ledger, one usage event per
// line, in chunks whose progress is saved so a restart or another replica resumes where it stopped.
import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { request } from 'undici';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { notFound, OpenAIError } from '../http/openai-error.js';
import { LedgerWriter } from '../ledger/ledger.writer.js';
import { OrgsService } from '../orgs/orgs.service.js';
import { PricingService } from '../pricing/pricing.service.js';
import { lineEvent, splitLines } from './batch-lines.js';
import { BatchesRepository, type BatchRow, type Creator, type UpstreamState } from './batches.repository.js';

/** OpenAI's final batch states: nothing more will run, the files are what was done. */
export const FINAL_STATUSES = new Set(['completed', 'expired', 'cancelled', 'failed']);

/** An upstream call that failed; `status` 0 when it never answered. */
export class UpstreamBatchError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

interface Upstream {
  baseUrl: string;
  headers: Record<string, string>;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const count = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.min(Math.floor(v), 2_147_483_647) : 0);
const id = (v: unknown) => (typeof v === 'string' && v !== '' && v.length <= 256 ? v : null);

/** What a batch object upstream says, bounded to what the row holds. */
export function upstreamState(batch: Json): UpstreamState {
  const status = typeof batch.status === 'string' ? batch.status.slice(0, 64) : 'unknown';
  const counts = isObject(batch.request_counts) ? batch.request_counts : {};
  const finalSeconds = [batch.completed_at, batch.cancelled_at, batch.expired_at, batch.failed_at].find((v) => typeof v === 'number' && v > 0) as number | undefined;
  return {
    status,
    requestTotal: count(counts.total),
    requestCompleted: count(counts.completed),
    requestFailed: count(counts.failed),
    outputFileId: id(batch.output_file_id),
    errorFileId: id(batch.error_file_id),
    finalAt: FINAL_STATUSES.has(status) ? new Date(finalSeconds !== undefined ? finalSeconds * 1000 : Date.now()) : null,
  };
}

@Injectable()
export class BatchesService {
  private readonly logger = new Logger('batches');
  /** Names this process's leases (a replica, a CLI run). */
  readonly owner = `${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly abort = new AbortController();

  constructor(
    private readonly repository: BatchesRepository,
    private readonly ledger: LedgerWriter,
    private readonly pricing: PricingService,
    private readonly orgs: OrgsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** The gateway answered a batches.create or files.create: remember whose it is (never on another path). */
  async remember(resource: { id: string; object: 'batch' | 'file'; status?: string; inputFileId?: string; endpoint?: string; purpose?: string }, who: Creator): Promise<void> {
    if (resource.object === 'file') {
      if (resource.purpose === 'batch') await this.repository.rememberFile(resource.id, who, resource.purpose);
      return;
    }
    await this.repository.rememberBatch(resource.id, who, resource.inputFileId ?? null, resource.endpoint ?? null, resource.status ?? 'validating');
  }

  list(limit: number, status?: string): Promise<BatchRow[]> {
    return this.repository.list(limit, status);
  }

  /** Stops metering in flight (shutdown): its progress so far is saved, the lease released. */
  stop(): void {
    this.abort.abort(new Error('shutting down'));
  }

  /** One watcher tick: up to `limit` due batches, one after the other (each a bounded amount of work per chunk). */
  async tick(limit: number): Promise<number> {
    const due = await this.repository.claimDue(this.owner, limit, this.config.BATCH_LEASE_MS);
    for (const batch of due) {
      if (this.abort.signal.aborted) {
        await this.repository.release(batch.id, this.owner, new Date(), null);
        continue;
      }
      await this.advance(batch).catch((error: unknown) => this.logger.warn(`batch ${batch.id}: ${(error as Error).message}`));
    }
    return due.length;
  }

  /**
   * The admin trigger: polls the batch now and meters it if final. A batch the gateway never saw created
   * needs its org (`orgRef`); its lines then belong to no feature. A metered batch is answered as it is.
   */
  async meterNow(batchId: string, orgRef?: string): Promise<BatchRow> {
    let row = await this.repository.get(batchId);
    if (!row) {
      if (!orgRef) throw notFound(`Batch ${batchId} was not created through this gateway; give its org ({"org": "<org id or name>"}) to meter it.`);
      const org = await this.orgs.findOrg(orgRef);
      await this.repository.rememberBatch(batchId, { orgId: org.id, featureId: null, gatewayKeyId: null }, null, null, 'unknown');
      row = (await this.repository.get(batchId))!;
    }
    if (row.meteredAt) return row;
    const claimed = await this.repository.claim(batchId, this.owner, this.config.BATCH_LEASE_MS);
    if (!claimed) throw new OpenAIError(409, `Batch ${batchId} is being polled or metered right now; try again in a minute.`, 'invalid_request_error', 'batch_busy');
    await this.advance(claimed, true);
    return (await this.repository.get(batchId))!;
  }

  /** Polls a claimed batch; meters it when final, else schedules its next poll (backing off). Releases it either way. */
  private async advance(batch: BatchRow, rethrow = false): Promise<void> {
    try {
      const upstream = await this.upstreamFor(batch.orgId);
      const object = await this.getJson(upstream, `/batches/${encodeURIComponent(batch.id)}`);
      const saved = await this.repository.saveUpstream(batch.id, this.owner, upstreamState(object));
      if (!saved) return; // the lease was lost: another replica has it now
      if (!FINAL_STATUSES.has(saved.status)) {
        await this.repository.release(batch.id, this.owner, this.nextPoll(saved.polls), null);
        return;
      }
      await this.meter(saved, upstream);
    } catch (error) {
      const message = (error as Error).message;
      // Stopped by shutdown: due again at once, for the next replica or start to resume.
      const stopped = this.abort.signal.aborted;
      await this.repository.release(batch.id, this.owner, stopped ? new Date() : this.nextPoll(batch.polls + 1), stopped ? null : message).catch(() => undefined);
      if (rethrow) {
        if (error instanceof OpenAIError) throw error;
        throw new OpenAIError(502, `Batch ${batch.id} could not be metered: ${message}`, 'api_error', 'batch_meter_failed');
      }
      throw error;
    }
  }

  private nextPoll(polls: number): Date {
    const wait = Math.min(this.config.BATCH_POLL_MAX_MS, this.config.BATCH_POLL_MIN_MS * 2 ** Math.min(Math.max(polls - 1, 0), 20));
    return new Date(Date.now() + wait);
  }

  /** The output file, then the error file, each resumed after the lines already metered. */
  private async meter(batch: BatchRow, upstream: Upstream): Promise<void> {
    const at = batch.finalAt ?? new Date();
    let outputLines = batch.outputLinesMetered;
    let errorLines = batch.errorLinesMetered;
    for (const [fileId, fromErrorFile] of [[batch.outputFileId, false], [batch.errorFileId, true]] as const) {
      if (!fileId) continue;
      const done = fromErrorFile ? errorLines : outputLines;
      const metered = await this.meterFile(batch, at, upstream, fileId, fromErrorFile, done, (lines) => {
        if (fromErrorFile) errorLines = lines;
        else outputLines = lines;
        return { outputLines, errorLines };
      });
      if (!metered) {
        // Shutting down (or the lease was lost): the progress saved is where the next one resumes.
        await this.repository.release(batch.id, this.owner, new Date(), null);
        return;
      }
    }
    const finished = await this.repository.finish(batch.id, this.owner);
    if (finished) this.logger.log(`batch ${batch.id} metered: ${finished.outputLinesMetered} output and ${finished.errorLinesMetered} error lines`);
  }

  /**
   * Streams one file: lines before `skip` were metered already; every chunk of lines is recorded, flushed,
   * checked in the ledger and saved as progress. False when it stopped early (lease lost, shutdown).
   */
  private async meterFile(
    batch: BatchRow,
    at: Date,
    upstream: Upstream,
    fileId: string,
    fromErrorFile: boolean,
    skip: number,
    progressAt: (lines: number) => { outputLines: number; errorLines: number },
  ): Promise<boolean> {
    const body = await this.getStream(upstream, `/files/${encodeURIComponent(fileId)}/content`);
    const price = (model: string | undefined, when: Date, usage: Parameters<PricingService['price']>[3]) => this.pricing.price(model, 'batch', when, usage);
    let line = 0;
    let chunk: string[] = [];
    const save = async (): Promise<boolean> => {
      if (chunk.length === 0) return true;
      await this.ledger.flush();
      const inLedger = await this.repository.ledgerSum(at, chunk);
      if (inLedger.found < new Set(chunk).size) throw new Error(`${chunk.length - inLedger.found} line event(s) of the chunk are not in the ledger yet (Postgres refused them?); retrying later`);
      const saved = await this.repository.saveProgress(batch.id, this.owner, { ...progressAt(line), addedNanos: inLedger.nanos, addedUnpriced: inLedger.unpriced }, this.config.BATCH_LEASE_MS);
      chunk = [];
      return saved;
    };
    try {
      for await (const text of splitLines(body, this.config.BATCH_MAX_LINE_BYTES)) {
        line++;
        if (line <= skip) continue;
        const event = lineEvent(batch, at, text, fromErrorFile, line, price);
        this.ledger.record(event);
        chunk.push(event.id);
        if (chunk.length >= this.config.BATCH_METER_CHUNK_LINES) {
          if (!(await save())) return false;
          if (this.abort.signal.aborted) return false;
        }
      }
      return await save();
    } finally {
      body.destroy();
    }
  }

  private async upstreamFor(orgId: string): Promise<Upstream> {
    const org = await this.repository.orgUpstream(orgId);
    if (!org) throw new Error(`its org ${orgId} no longer exists`);
    if (!org.sealed) throw new Error(`its org ${org.openaiOrgId} has no live upstream key; add one to meter it`);
    const headers: Record<string, string> = { authorization: `Bearer ${this.orgs.sealer.open(org.sealed)}`, 'openai-organization': org.openaiOrgId };
    if (org.projectId) headers['openai-project'] = org.projectId;
    return { baseUrl: org.baseUrl.replace(/\/$/, ''), headers };
  }

  private async send(upstream: Upstream, path: string) {
    let response;
    try {
      response = await request(`${upstream.baseUrl}${path}`, { method: 'GET', headers: upstream.headers, signal: this.abort.signal, headersTimeout: 30_000, bodyTimeout: 60_000 });
    } catch (error) {
      throw new UpstreamBatchError(`GET ${path} failed: ${(error as Error).message}`, 0);
    }
    if (response.statusCode !== 200) {
      const text = (await response.body.text().catch(() => '')).slice(0, 300);
      throw new UpstreamBatchError(`GET ${path} answered ${response.statusCode}: ${text}`, response.statusCode);
    }
    return response.body;
  }

  private async getJson(upstream: Upstream, path: string): Promise<Json> {
    const value: unknown = await (await this.send(upstream, path)).json();
    if (!isObject(value)) throw new UpstreamBatchError(`GET ${path} answered something that is not a batch`, 200);
    return value;
  }

  private getStream(upstream: Upstream, path: string) {
    return this.send(upstream, path);
  }
}
