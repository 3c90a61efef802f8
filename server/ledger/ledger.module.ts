import { Module } from '@nestjs/common';
import { LedgerWriter } from './ledger.writer.js';
import { MonthToDateSpend } from './month-to-date.service.js';
import { RetentionRepository } from './retention.repository.js';
import { LedgerRetention } from './retention.js';

@Module({ providers: [LedgerWriter, MonthToDateSpend, RetentionRepository, LedgerRetention], exports: [LedgerWriter, MonthToDateSpend, LedgerRetention] })
export class LedgerModule {}
