import { Module } from '@nestjs/common';
import { LedgerModule } from '../ledger/ledger.module.js';
import { AnonymousRequests } from './anonymous-requests.service.js';
import { ErrorsRepository } from './errors.repository.js';
import { ErrorsService } from './errors.service.js';
import { HeadroomController } from './headroom.controller.js';
import { HeadroomService } from './headroom.service.js';
import { HeadroomSnapshot } from './headroom.snapshot.js';
import { MetricsController } from './metrics.controller.js';
import { MetricsService } from './metrics.service.js';
import { PacingService } from './pacing.service.js';
import { RateLimitObserver } from './rate-limit.observer.js';
import { RateLimitsRepository } from './ratelimits.repository.js';

/** Rate-limit headroom, throttling, pacing and Prometheus metrics; the gateway uses PacingService, RateLimitObserver and AnonymousRequests. */
@Module({
  imports: [LedgerModule],
  controllers: [HeadroomController, MetricsController],
  providers: [RateLimitsRepository, ErrorsRepository, ErrorsService, HeadroomService, HeadroomSnapshot, MetricsService, PacingService, RateLimitObserver, AnonymousRequests],
  exports: [PacingService, RateLimitObserver, AnonymousRequests, MetricsService],
})
export class RateLimitsModule {}
