import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { AccessGuard } from './auth/access.guard.js';
import { AnalyticsModule } from './analytics/analytics.module.js';
import { AuthModule } from './auth/auth.module.js';
import { BatchesModule } from './batches/batches.module.js';
import { AlertsModule } from './alerts/alerts.module.js';
import { BudgetsModule } from './budgets/budgets.module.js';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { Clock } from './config/clock.js';
import type { AppConfig } from './config/config.js';
import { ConfigModule } from './config/config.module.js';
import { DashboardModule } from './dashboard/dashboard.module.js';
import { dataSourceOptions } from './database/data-source.js';
import { GatewayModule } from './gateway/gateway.module.js';
import { HealthController } from './health/health.controller.js';
import { OpenAIErrorFilter } from './http/error.filter.js';
import { LedgerModule } from './ledger/ledger.module.js';
import { OrgsModule } from './orgs/orgs.module.js';
import { PricingModule } from './pricing/pricing.module.js';
import { ReconciliationModule } from './reconciliation/reconciliation.module.js';
import { SharedStateModule } from './shared-state/shared-state.module.js';
import { RealtimeModule } from './realtime/realtime.module.js';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig, databaseUrl: string, clock?: Clock): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config, clock),
        SharedStateModule,
        TypeOrmModule.forRoot(dataSourceOptions(databaseUrl)),
        AuthModule,
        LedgerModule,
        PricingModule,
        OrgsModule,
        GatewayModule,
        AnalyticsModule,
        DashboardModule,
        ReconciliationModule,
        BatchesModule,
        RealtimeModule,
        BudgetsModule,
        AlertsModule,
      ],
      controllers: [HealthController],
      providers: [
        { provide: APP_FILTER, useClass: OpenAIErrorFilter },
        { provide: APP_GUARD, useClass: AccessGuard },
      ],
    };
  }
}
