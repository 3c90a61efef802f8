import { Module } from '@nestjs/common';
import { AttributionModule } from '../attribution/attribution.module.js';
import { BatchesModule } from '../batches/batches.module.js';
import { AlertsModule } from '../alerts/alerts.module.js';
import { BudgetsModule } from '../budgets/budgets.module.js';
import { LedgerModule } from '../ledger/ledger.module.js';
import { ModerationModule } from '../moderation/moderation.module.js';
import { OrgsModule } from '../orgs/orgs.module.js';
import { PricingModule } from '../pricing/pricing.module.js';
import { RateLimitsModule } from '../ratelimits/ratelimits.module.js';
import { BackgroundResponses } from './background-responses.js';
import { GatewayRoutes } from './gateway.routes.js';
import { callHooksProvider, GATEWAY_HOOKS } from './hooks/index.js';
import { ProxyService } from './proxy.service.js';
import { UpstreamClient } from './upstream.client.js';

@Module({
  imports: [AttributionModule, LedgerModule, OrgsModule, PricingModule, RateLimitsModule, ModerationModule, BatchesModule, BudgetsModule, AlertsModule],
  providers: [...GATEWAY_HOOKS, callHooksProvider, ProxyService, UpstreamClient, GatewayRoutes, BackgroundResponses],
})
export class GatewayModule {}
