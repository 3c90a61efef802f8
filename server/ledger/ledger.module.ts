import { Module } from '@nestjs/common';
import { LedgerRepository } from './ledger.repository.js';
import { LedgerWriter } from './ledger.writer.js';
import { MonthToDateSpend } from './month-to-date.service.js';
import { RetentionRepository } from './retention.repository.js';
import { LedgerRetention } from './retention.js';

@Module({ providers: [LedgerRepository, LedgerWriter, MonthToDateSpend, RetentionRepository, LedgerRetention], exports: [LedgerWriter, MonthToDateSpend, LedgerRetention] })
export class LedgerModule {}
