// Runs the sync on a schedule. Every replica ticks; the due check reads the last success from Postgres and
// each org is taken under a lease, so a schedule's sync runs once across replicas. Stops on shutdown (the
// page in flight is abandoned; the next start resumes at the watermark).
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type BeforeApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { SyncService } from './sync.service.js';

/** How often a replica checks whether a sync is due (a check is one small query). */
const TICK_MS = 60_000;
/** First check soon after start, so a new admin key's backfill begins without waiting a whole tick. */
const FIRST_TICK_MS = 5_000;

@Injectable()
export class SyncScheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Reconciliation');
  private timer: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();
  private ticking: Promise<unknown> | undefined;

  constructor(
    private readonly sync: SyncService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.RECON_SYNC_INTERVAL_MS === 0) return;
    const schedule = (ms: number) => {
      this.timer = setTimeout(() => {
        this.ticking = this.sync
          .syncDue(this.config.RECON_SYNC_INTERVAL_MS, { signal: this.abort.signal })
          .catch((error: unknown) => this.logger.warn(`scheduled sync failed: ${(error as Error).message}`))
          .finally(() => {
            this.ticking = undefined;
            if (!this.abort.signal.aborted) schedule(Math.min(TICK_MS, this.config.RECON_SYNC_INTERVAL_MS));
          });
      }, ms);
      this.timer.unref();
    };
    schedule(Math.min(FIRST_TICK_MS, this.config.RECON_SYNC_INTERVAL_MS));
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearTimeout(this.timer);
    this.abort.abort(new Error('shutting down'));
    this.sync.abortAll();
    await this.ticking;
    await this.sync.settled();
  }
}
