import { Global, Module } from '@nestjs/common';
import { AuditService } from './audit.service.js';

/** Global so every capability can record audit entries without importing auth's internals. */
@Global()
@Module({ providers: [AuditService], exports: [AuditService] })
export class AuthModule {}
