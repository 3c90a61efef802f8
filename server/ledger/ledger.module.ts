import { Module } from '@nestjs/common';
import { LedgerRepository } from './ledger.repository.js';
import { LedgerWriter } from './ledger.writer.js';
import { MonthToDateSpend } from './month-to-date.service.js';

@Module({ providers: [LedgerRepository, LedgerWriter, MonthToDateSpend], exports: [LedgerWriter, MonthToDateSpend] })
export class LedgerModule {}
