import { Global, Module } from '@nestjs/common';
import { ApiTokensRepository } from './api-tokens.repository.js';
import { ApiTokensService } from './api-tokens.service.js';
import { AuditRepository } from './audit.repository.js';
import { AuditService } from './audit.service.js';
import { AuthController } from './auth.controller.js';
import { SessionsRepository } from './sessions.repository.js';
import { SessionsService } from './sessions.service.js';
import { UsersController } from './users.controller.js';
import { UsersRepository } from './users.repository.js';
import { UsersService } from './users.service.js';

/** Global so every capability can record audit entries, and the global AccessGuard can see sessions and tokens. */
@Global()
@Module({
  controllers: [AuthController, UsersController],
  providers: [AuditRepository, SessionsRepository, ApiTokensRepository, UsersRepository, AuditService, SessionsService, ApiTokensService, UsersService],
  exports: [AuditService, SessionsService, ApiTokensService, UsersService],
})
export class AuthModule {}
