import { Module } from '@nestjs/common';
import { LedgerModule } from '../ledger/ledger.module.js';
import { OrgsModule } from '../orgs/orgs.module.js';
import { PricingModule } from '../pricing/pricing.module.js';
import { RealtimeSessionsRepository } from './realtime-sessions.repository.js';
import { RealtimeController } from './realtime.controller.js';
import { RealtimeRelay } from './realtime.relay.js';

/** The Realtime WebSocket relay (/v1/realtime) and its session records. */
@Module({
  imports: [LedgerModule, OrgsModule, PricingModule],
  controllers: [RealtimeController],
  providers: [RealtimeRelay, RealtimeSessionsRepository],
  exports: [RealtimeRelay],
})
export class RealtimeModule {}
