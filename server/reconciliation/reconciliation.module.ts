import { Module, type OnModuleInit } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { OrgsModule } from '../orgs/orgs.module.js';
import { RateLimitsModule } from '../ratelimits/ratelimits.module.js';
import { MetricsService } from '../ratelimits/metrics.service.js';
import { ReconciliationController } from './reconciliation.controller.js';
import { ReconciliationRepository } from './reconciliation.repository.js';
import { ReconciliationService, type Drift } from './reconciliation.service.js';
import { SyncScheduler } from './sync.scheduler.js';
import { SyncService } from './sync.service.js';

/** A scrape reads the drift at most this often: it runs the whole report for the last 7 days. */
const DRIFT_CACHE_MS = 60_000;

/**
 * Reconciliation with OpenAI's Usage and Costs APIs (docs/reconciliation.md). Other modules (alerts) use
 * ReconciliationService.driftAbove() for "drift above X% or $Y".
 */
@Module({
  imports: [OrgsModule, RateLimitsModule],
  controllers: [ReconciliationController],
  providers: [ReconciliationRepository, ReconciliationService, SyncService, SyncScheduler],
  exports: [ReconciliationService, SyncService],
})
export class ReconciliationModule implements OnModuleInit {
  private cached: { at: number; drift: Promise<Drift[]> } | undefined;

  constructor(
    private readonly metrics: MetricsService,
    private readonly reconciliation: ReconciliationService,
  ) {}

  onModuleInit(): void {
    const drift = () => {
      if (!this.cached || Date.now() - this.cached.at > DRIFT_CACHE_MS) {
        this.cached = { at: Date.now(), drift: this.reconciliation.drift() };
        this.cached.drift.catch(() => (this.cached = undefined));
      }
      return this.cached.drift;
    };
    new Gauge({
      name: 'tallygate_reconciliation_drift_usd',
      help: "OpenAI's cost minus the ledger's over the last 7 complete UTC days, per org with an admin key",
      labelNames: ['org'],
      registers: [this.metrics.registry],
      async collect() {
        this.reset();
        for (const d of await drift()) this.set({ org: d.orgName }, Number(d.differenceNanos) / 1e9);
      },
    });
    new Gauge({
      name: 'tallygate_reconciliation_drift_percent',
      help: "That difference as a percentage of OpenAI's cost",
      labelNames: ['org'],
      registers: [this.metrics.registry],
      async collect() {
        this.reset();
        for (const d of await drift()) this.set({ org: d.orgName }, d.percent);
      },
    });
  }
}
