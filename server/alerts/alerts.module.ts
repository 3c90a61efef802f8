import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { BudgetsModule } from '../budgets/budgets.module.js';
import { ReconciliationModule } from '../reconciliation/reconciliation.module.js';
import { AlertsController } from './alerts.controller.js';
import { AlertsEvaluator } from './alerts.evaluator.js';
import { AlertsHook } from './alerts.hook.js';
import { AlertsRepository } from './alerts.repository.js';
import { AlertsService } from './alerts.service.js';
import { DeliveriesWorker } from './deliveries.worker.js';
import { FeatureHealthService } from './feature-health.service.js';

/** Alert rules, alerts, channels and feature health (docs/alerting.md). AlertsHook sees every call end. */
@Module({
  imports: [AuthModule, BudgetsModule, ReconciliationModule],
  controllers: [AlertsController],
  providers: [AlertsRepository, AlertsService, AlertsEvaluator, DeliveriesWorker, FeatureHealthService, AlertsHook],
  exports: [AlertsHook, AlertsEvaluator, DeliveriesWorker],
})
export class AlertsModule {}
