// Watches the batches the gateway has seen until they end, without depending on the app polling. Every
// replica ticks; each tick claims at most BATCH_WATCH_MAX_PER_TICK due batches under a lease (FOR UPDATE
// SKIP LOCKED), so replicas share the work and a batch is polled or metered by one at a time. The table is
// the state, so a restart simply carries on. Stops on shutdown; metering in flight saves its progress.
import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { BatchesService } from './batches.service.js';

@Injectable()
export class BatchWatcher implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('batches');
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<unknown> | undefined;
  private stopped = false;

  constructor(
    private readonly batches: BatchesService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.BATCH_WATCH_INTERVAL_MS === 0) return;
    this.schedule(Math.min(1_000, this.config.BATCH_WATCH_INTERVAL_MS));
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.ticking = this.batches
        .tick(this.config.BATCH_WATCH_MAX_PER_TICK)
        .catch((error: unknown) => this.logger.warn(`batch watcher tick failed: ${(error as Error).message}`))
        .finally(() => {
          this.ticking = undefined;
          if (!this.stopped) this.schedule(this.config.BATCH_WATCH_INTERVAL_MS);
        });
    }, ms);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.batches.stop();
    await this.ticking;
  }
}
