import { Module } from '@nestjs/common';
import { LedgerModule } from '../ledger/ledger.module.js';
import { OrgsModule } from '../orgs/orgs.module.js';
import { PricingModule } from '../pricing/pricing.module.js';
import { BatchCreatorHook } from './batch.hook.js';
import { BatchWatcher } from './batch.watcher.js';
import { BatchesController } from './batches.controller.js';
import { BatchesRepository } from './batches.repository.js';
import { BatchesService } from './batches.service.js';

/**
 * Batch API metering (docs/batch.md): the gateway's hook remembers each batch's creator, the watcher polls
 * and meters batches at batch prices, exactly once across replicas and restarts.
 */
@Module({
  imports: [LedgerModule, OrgsModule, PricingModule],
  controllers: [BatchesController],
  providers: [BatchesRepository, BatchesService, BatchCreatorHook, BatchWatcher],
  exports: [BatchesService, BatchCreatorHook],
})
export class BatchesModule {}

/** The same service for the CLI, without the watcher or the API. */
@Module({
  imports: [LedgerModule, OrgsModule, PricingModule],
  providers: [BatchesRepository, BatchesService],
  exports: [BatchesService],
})
export class BatchesCliModule {}
