import { Global, Module } from '@nestjs/common';
import { ApiTokensService } from './api-tokens.service.js';
import { AuditService } from './audit.service.js';
import { AuthController } from './auth.controller.js';
import { SessionsService } from './sessions.service.js';
import { UsersController } from './users.controller.js';
import { UsersService } from './users.service.js';

/** Global so every capability can record audit entries, and the global AccessGuard can see sessions and tokens. */
@Global()
@Module({
  controllers: [AuthController, UsersController],
  providers: [AuditService, SessionsService, ApiTokensService, UsersService],
  exports: [AuditService, SessionsService, ApiTokensService, UsersService],
})
export class AuthModule {}
