import { Module, type OnModuleInit } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { AuthModule } from '../auth/auth.module.js';
import { BudgetsModule } from '../budgets/budgets.module.js';
import { RateLimitsModule } from '../ratelimits/ratelimits.module.js';
import { MetricsService } from '../ratelimits/metrics.service.js';
import { ReconciliationModule } from '../reconciliation/reconciliation.module.js';
import { AlertsController } from './alerts.controller.js';
import { AlertsEvaluator } from './alerts.evaluator.js';
import { AlertsHook } from './alerts.hook.js';
import { AlertsRepository } from './alerts.repository.js';
import { AlertsService } from './alerts.service.js';
import { DeliveriesWorker } from './deliveries.worker.js';
import { FeatureHealthService } from './feature-health.service.js';

/**
 * A scrape reads the open alerts from Postgres at most this often. Budgets are not exported: /metrics is
 * read by engineers, who see no money (budget alerts show as tallygate_alerts_firing{rule="budget_threshold"}).
 */
const SCRAPE_CACHE_MS = 15_000;

/** Alert rules, alerts, channels and feature health (docs/alerting.md). AlertsHook sees every call end. */
@Module({
  imports: [AuthModule, BudgetsModule, ReconciliationModule, RateLimitsModule],
  controllers: [AlertsController],
  providers: [AlertsRepository, AlertsService, AlertsEvaluator, DeliveriesWorker, FeatureHealthService, AlertsHook],
  exports: [AlertsHook, AlertsEvaluator, DeliveriesWorker],
})
export class AlertsModule implements OnModuleInit {
  constructor(
    private readonly metrics: MetricsService,
    private readonly repository: AlertsRepository,
  ) {}

  onModuleInit(): void {
    const cached = <T>(read: () => Promise<T>) => {
      let entry: { at: number; value: Promise<T> } | undefined;
      return () => {
        if (!entry || Date.now() - entry.at > SCRAPE_CACHE_MS) {
          entry = { at: Date.now(), value: read() };
          entry.value.catch(() => (entry = undefined));
        }
        return entry.value;
      };
    };
    const open = cached(() => this.repository.openAlerts());
    new Gauge({
      name: 'tallygate_alerts_firing',
      help: "Tallygate's own alerts firing now, by rule and severity (the same episodes its channels are told about).",
      labelNames: ['rule', 'severity'],
      registers: [this.metrics.registry],
      async collect() {
        this.reset();
        const counts = new Map<string, { rule: string; severity: string; n: number }>();
        for (const a of await open()) {
          const key = `${a.rule_kind}|${a.severity}`;
          counts.set(key, { rule: a.rule_kind, severity: a.severity, n: (counts.get(key)?.n ?? 0) + 1 });
        }
        for (const c of counts.values()) this.set({ rule: c.rule, severity: c.severity }, c.n);
      },
    });
  }
}
