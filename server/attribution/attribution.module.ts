import { Module } from '@nestjs/common';
import { AnalyticsModule } from '../analytics/analytics.module.js';
import { AttributionAnalyticsController, AttributionAdminController } from './attribution.controller.js';
import { AttributionHook } from './attribution.hook.js';
import { AttributionRepository } from './attribution.repository.js';
import { AttributionService } from './attribution.service.js';
import { TagStatementService } from './tag-statement.service.js';

/** End user and tags per call (the gateway's AttributionHook), their settings, and spend per tag value. */
@Module({
  imports: [AnalyticsModule],
  controllers: [AttributionAdminController, AttributionAnalyticsController],
  providers: [AttributionRepository, AttributionService, AttributionHook, TagStatementService],
  exports: [AttributionService, AttributionHook],
})
export class AttributionModule {}
