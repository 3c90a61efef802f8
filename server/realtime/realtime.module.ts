import { Module, type OnModuleInit } from '@nestjs/common';
import { Counter, Gauge } from 'prom-client';
import { BudgetsModule } from '../budgets/budgets.module.js';
import { LedgerModule } from '../ledger/ledger.module.js';
import { OrgsModule } from '../orgs/orgs.module.js';
import { PricingModule } from '../pricing/pricing.module.js';
import { MetricsService } from '../ratelimits/metrics.service.js';
import { RateLimitsModule } from '../ratelimits/ratelimits.module.js';
import { RealtimeSessionsRepository } from './realtime-sessions.repository.js';
import { RealtimeController } from './realtime.controller.js';
import { RealtimeRelay } from './realtime.relay.js';

/** The Realtime WebSocket relay (/v1/realtime) and its session records. */
@Module({
  imports: [BudgetsModule, LedgerModule, OrgsModule, PricingModule, RateLimitsModule],
  controllers: [RealtimeController],
  providers: [RealtimeRelay, RealtimeSessionsRepository],
  exports: [RealtimeRelay],
})
export class RealtimeModule implements OnModuleInit {
  constructor(
    private readonly metrics: MetricsService,
    private readonly relay: RealtimeRelay,
  ) {}

  onModuleInit(): void {
    const relay = this.relay;
    new Gauge({
      name: 'tallygate_realtime_sessions_open',
      help: 'Realtime WebSocket sessions open through this replica',
      registers: [this.metrics.registry],
      collect() {
        this.set(relay.snapshot().open);
      },
    });
    for (const [name, help, key] of [
      ['tallygate_realtime_sessions_opened_total', 'Realtime sessions opened through this replica', 'opened'],
      ['tallygate_realtime_sessions_refused_total', 'Realtime upgrades refused (auth, bounds, budget, upstream) by this replica', 'refused'],
    ] as const) {
      new Counter({
        name,
        help,
        registers: [this.metrics.registry],
        collect() {
          this.reset();
          this.inc(relay.snapshot()[key]);
        },
      });
    }
  }
}
