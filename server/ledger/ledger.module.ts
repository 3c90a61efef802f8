import { Module } from '@nestjs/common';
import { LedgerWriter } from './ledger.writer.js';
import { MonthToDateSpend } from './month-to-date.service.js';

@Module({ providers: [LedgerWriter, MonthToDateSpend], exports: [LedgerWriter, MonthToDateSpend] })
export class LedgerModule {}
