// Syncs an org's usage (hourly buckets, every usage endpoint) and costs (daily) from OpenAI's admin API into
// Tallygate's own tables. Resumable: each page is stored with its watermark, so a restart picks up where the
// last page ended. One replica per org at a time (a lease row, renewed each page); the upserts make a bucket
// stored twice still stored once.
import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { OrgsService } from '../orgs/orgs.service.js';
import { OpenAIAdminClient } from './openai-admin.client.js';
import { ReconciliationRepository, type ReconOrgRow } from './reconciliation.repository.js';

/** The admin API's usage endpoints (`/v1/organization/usage/{name}`), with what each groups by. */
const USAGE_GROUP_BY: Record<string, string[]> = {
  completions: ['model', 'api_key_id', 'project_id', 'batch'],
  embeddings: ['model', 'api_key_id', 'project_id'],
  moderations: ['model', 'api_key_id', 'project_id'],
  images: ['model', 'api_key_id', 'project_id'],
  audio_speeches: ['model', 'api_key_id', 'project_id'],
  audio_transcriptions: ['model', 'api_key_id', 'project_id'],
  vector_stores: ['project_id'],
  code_interpreter_sessions: ['project_id'],
};
export const SYNC_ENDPOINTS = [...Object.keys(USAGE_GROUP_BY), 'costs'];

const HOUR = 3600;
const DAY = 86_400;
/** Long enough for a slow page plus its 429 waits; renewed after every page. */
const LEASE_MS = 120_000;

export interface SyncOutcome {
  orgId: string;
  /** skipped: another replica holds the org's lease, or the org has no admin key. */
  result: 'synced' | 'skipped' | 'failed';
  reason?: string;
  pages: number;
  buckets: number;
  ms: number;
}

export interface SyncOptions {
  signal?: AbortSignal;
  /** The clock, for tests; default Date.now(). */
  now?: number;
}

@Injectable()
export class SyncService {
  private readonly logger = new Logger('Reconciliation');
  /** Identifies this process's leases. */
  readonly owner = `${process.pid}-${randomUUID()}`;
  readonly client = new OpenAIAdminClient();
  private readonly running = new Map<string, Promise<SyncOutcome>>();
  /** Aborts every sync of this process at shutdown (on-demand ones included). */
  private readonly shutdown = new AbortController();

  constructor(
    private readonly repo: ReconciliationRepository,
    private readonly orgs: OrgsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  abortAll(): void {
    this.shutdown.abort(new Error('shutting down'));
  }

  /** Resolves when every sync of this process has stopped. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.running.values()]);
  }

  isRunning(orgId: string): boolean {
    return this.running.has(orgId);
  }

  /** Syncs one org, or joins the sync of it already running in this process. */
  syncOrg(orgId: string, options: SyncOptions = {}): Promise<SyncOutcome> {
    const current = this.running.get(orgId);
    if (current) return current;
    const signal = options.signal ? AbortSignal.any([options.signal, this.shutdown.signal]) : this.shutdown.signal;
    const run = this.run(orgId, { ...options, signal }).finally(() => this.running.delete(orgId));
    this.running.set(orgId, run);
    return run;
  }

  /** Every org with an admin key whose last full sync is older than `dueAfterMs` (0: all of them). */
  async syncDue(dueAfterMs: number, options: SyncOptions = {}): Promise<SyncOutcome[]> {
    const orgs = (await this.repo.orgs()).filter((o) => o.has_admin_key);
    const states = await this.repo.syncStates(orgs.map((o) => o.id));
    const now = options.now ?? Date.now();
    const due = orgs.filter((org) => {
      const mine = states.filter((s) => s.org_id === org.id);
      if (mine.length < SYNC_ENDPOINTS.length) return true;
      return mine.some((s) => !s.last_success_at || now - s.last_success_at.getTime() >= dueAfterMs);
    });
    const outcomes: SyncOutcome[] = [];
    for (const org of due) {
      if (options.signal?.aborted) break;
      outcomes.push(await this.syncOrg(org.id, options));
    }
    return outcomes;
  }

  private async run(orgId: string, options: SyncOptions): Promise<SyncOutcome> {
    const started = Date.now();
    const outcome: SyncOutcome = { orgId, result: 'synced', pages: 0, buckets: 0, ms: 0 };
    const [org] = await this.repo.orgs(orgId);
    const adminKey = org?.has_admin_key ? await this.orgs.openAdminKey(orgId) : undefined;
    if (!org || !adminKey) return { ...outcome, result: 'skipped', reason: 'no admin key: reconciliation is off for this org', ms: 0 };
    if (!(await this.repo.acquireLease(orgId, this.owner, LEASE_MS))) {
      return { ...outcome, result: 'skipped', reason: 'another replica is syncing this org', ms: Date.now() - started };
    }
    try {
      for (const endpoint of SYNC_ENDPOINTS) {
        if (options.signal?.aborted) break;
        try {
          await this.syncEndpoint(org, adminKey, endpoint, outcome, options);
        } catch (error) {
          if (options.signal?.aborted) {
            await this.repo.failRun(orgId, endpoint, 'interrupted (shutdown or cancel); the next sync resumes at the watermark');
            break;
          }
          const message = (error as Error).message;
          outcome.result = 'failed';
          outcome.reason = message;
          await this.repo.failRun(orgId, endpoint, message);
          this.logger.warn(`sync of ${org.name} ${endpoint} stopped: ${message}`);
        }
      }
    } finally {
      await this.repo.releaseLease(orgId, this.owner).catch(() => undefined);
    }
    outcome.ms = Date.now() - started;
    return outcome;
  }

  private async syncEndpoint(org: ReconOrgRow, adminKey: string, endpoint: string, outcome: SyncOutcome, options: SyncOptions): Promise<void> {
    const width = endpoint === 'costs' ? DAY : HOUR;
    const nowSec = Math.floor((options.now ?? Date.now()) / 1000);
    const horizon = Math.floor((nowSec - this.config.RECON_BACKFILL_DAYS * DAY) / width) * width;
    const [state] = (await this.repo.syncStates([org.id])).filter((s) => s.endpoint === endpoint);
    // From the watermark (the end of the last complete bucket stored): the bucket still filling is fetched again.
    const from = Math.max(horizon, state?.watermark ? Math.floor(state.watermark.getTime() / 1000) : horizon);
    // Through the end of the bucket still filling (end_time is exclusive): a call made this second is included.
    const complete = Math.floor(nowSec / width) * width;
    const to = complete + width;
    const total = Math.ceil((to - from) / width);
    await this.repo.startRun(org.id, endpoint, new Date(from * 1000), new Date(to * 1000), total);
    const path = endpoint === 'costs' ? 'organization/costs' : `organization/usage/${endpoint}`;
    const limit = Math.min(this.config.RECON_PAGE_BUCKETS, endpoint === 'costs' ? 180 : 168);
    let page: string | undefined;
    do {
      const query = new URLSearchParams({ start_time: String(from), end_time: String(to), bucket_width: endpoint === 'costs' ? '1d' : '1h', limit: String(limit) });
      for (const g of endpoint === 'costs' ? ['line_item', 'api_key_id', 'project_id'] : USAGE_GROUP_BY[endpoint]) query.append('group_by', g);
      if (page) query.set('page', page);
      const answer = await this.client.page(org.base_url, adminKey, path, query, options.signal);
      const lastEnd = answer.data.reduce((max, b) => Math.max(max, b.end_time), from);
      await this.repo.storePage(org.id, endpoint, answer.data, new Date(Math.min(lastEnd, complete) * 1000));
      outcome.pages++;
      outcome.buckets += answer.data.length;
      if (!(await this.repo.acquireLease(org.id, this.owner, LEASE_MS))) throw new Error('lost the sync lease to another replica');
      page = answer.has_more && answer.next_page ? answer.next_page : undefined;
    } while (page && !options.signal?.aborted);
    if (options.signal?.aborted) await this.repo.failRun(org.id, endpoint, 'interrupted (shutdown or cancel); the next sync resumes at the watermark');
    else await this.repo.finishRun(org.id, endpoint);
  }
}
