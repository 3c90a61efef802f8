import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { BudgetHook } from './budget.hook.js';
import { BudgetsController } from './budgets.controller.js';
import { BudgetsRepository } from './budgets.repository.js';
import { BudgetsService } from './budgets.service.js';
import { HardBudgets } from './hard-budgets.js';

/** Budgets per org and feature (docs/alerting.md): status for finance, hard ones enforced by BudgetHook. */
@Module({
  imports: [AuthModule],
  controllers: [BudgetsController],
  providers: [BudgetsRepository, BudgetsService, HardBudgets, BudgetHook],
  exports: [BudgetsService, HardBudgets, BudgetHook],
})
export class BudgetsModule {}
