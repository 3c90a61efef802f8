import { Module } from '@nestjs/common';
import { AlertsModule } from '../alerts/alerts.module.js';
import { BudgetsModule } from '../budgets/budgets.module.js';
import { LedgerModule } from '../ledger/ledger.module.js';
import { OrgsModule } from '../orgs/orgs.module.js';
import { PricingModule } from '../pricing/pricing.module.js';
import { RateLimitsModule } from '../ratelimits/ratelimits.module.js';
import { BackgroundResponses } from './background-responses.js';
import { GatewayRoutes } from './gateway.routes.js';
import { callHooksProvider } from './hooks/index.js';
import { ProxyService } from './proxy.service.js';
import { UpstreamClient } from './upstream.client.js';

@Module({
  imports: [LedgerModule, OrgsModule, PricingModule, RateLimitsModule, BudgetsModule, AlertsModule],
  providers: [callHooksProvider, ProxyService, UpstreamClient, GatewayRoutes, BackgroundResponses],
})
export class GatewayModule {}
