import { Module } from '@nestjs/common';
import { AnalyticsController } from './analytics.controller.js';
import { AnalyticsRepository } from './analytics.repository.js';
import { AnalyticsService } from './analytics.service.js';
import { EventsExportService } from './events-export.service.js';
import { EventsRepository } from './events.repository.js';
import { RollupsRepository } from './rollups.repository.js';
import { StatementService } from './statement.service.js';
import { ReconciliationModule } from '../reconciliation/reconciliation.module.js';

@Module({
  // The statement's reconciliation block reads ReconciliationService (no module of reconciliation imports this one).
  imports: [ReconciliationModule],
  controllers: [AnalyticsController],
  providers: [AnalyticsRepository, RollupsRepository, EventsRepository, AnalyticsService, StatementService, EventsExportService],
  exports: [AnalyticsService, StatementService],
})
export class AnalyticsModule {}
