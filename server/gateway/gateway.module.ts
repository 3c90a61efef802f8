import { Module } from '@nestjs/common';
import { AttributionModule } from '../attribution/attribution.module.js';
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
  imports: [AttributionModule, LedgerModule, OrgsModule, PricingModule, RateLimitsModule],
  providers: [callHooksProvider, ProxyService, UpstreamClient, GatewayRoutes, BackgroundResponses],
})
export class GatewayModule {}
