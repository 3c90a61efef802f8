import { Module } from '@nestjs/common';
import { LedgerRepository } from './ledger.repository.js';
import { LedgerWriter } from './ledger.writer.js';
import { RetentionRepository } from './retention.repository.js';
import { LedgerRetention } from './retention.js';

@Module({ providers: [LedgerRepository, LedgerWriter, RetentionRepository, LedgerRetention], exports: [LedgerWriter, LedgerRetention] })
export class LedgerModule {}
