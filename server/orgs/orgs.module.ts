import { Module } from '@nestjs/common';
import { OrgAdminKey } from './admin-key.entity.js';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Feature, FeatureOrg } from './feature.entity.js';
import { GatewayKey } from './gateway-key.entity.js';
import { Org } from './org.entity.js';
import { KeyUsageController } from './key-usage.controller.js';
import { KeyUsageRepository } from './key-usage.repository.js';
import { OrgsController } from './orgs.controller.js';
import { ChangeNotices } from './change-notices.js';
import { OrgsService } from './orgs.service.js';
import { RouteResolver } from './route-resolver.js';
import { RoutesRepository } from './routes.repository.js';
import { UpstreamKey } from './upstream-key.entity.js';

@Module({
  imports: [TypeOrmModule.forFeature([Org, UpstreamKey, Feature, FeatureOrg, GatewayKey, OrgAdminKey])],
  controllers: [OrgsController, KeyUsageController],
  providers: [OrgsService, RoutesRepository, RouteResolver, ChangeNotices, KeyUsageRepository],
  exports: [OrgsService, RouteResolver],
})
export class OrgsModule {}
