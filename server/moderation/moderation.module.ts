import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { LedgerModule } from '../ledger/ledger.module.js';
import { OrgsModule } from '../orgs/orgs.module.js';
import { ModerationController } from './moderation.controller.js';
import { ModerationHook } from './moderation.hook.js';
import { ModerationRepository } from './moderation.repository.js';
import { ModerationService } from './moderation.service.js';

@Module({
  imports: [AuthModule, LedgerModule, OrgsModule],
  controllers: [ModerationController],
  providers: [ModerationRepository, ModerationService, ModerationHook],
  exports: [ModerationService, ModerationHook],
})
export class ModerationModule {}
