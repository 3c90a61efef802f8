// The budgets API: finance reads every budget with its spend, forecast and run-out time; admins change them.
import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { AuditService } from '../auth/audit.service.js';
import { CurrentCaller, type Caller } from '../auth/principal.decorator.js';
import { Roles } from '../auth/roles.decorator.js';
import { createBudgetSchema, featureForecastQuerySchema, updateBudgetSchema, type BudgetList, type BudgetStatus, type FeatureForecastList } from '../contract/budgets.js';
import { validate } from '../http/validate.js';
import { BudgetsService } from './budgets.service.js';

@ApiTags('budgets')
@ApiBearerAuth()
@Controller('api/budgets')
export class BudgetsController {
  constructor(
    private readonly budgets: BudgetsService,
    private readonly audit: AuditService,
  ) {}

  @Get()
  @Roles('finance')
  async list(): Promise<BudgetList> {
    return { budgets: await this.budgets.list() };
  }

  /** Per feature: month to date in ?tz=, the month-end forecast with its method, its budget and when it runs out. */
  @Get('features')
  @Roles('finance')
  features(@Query() query: unknown): Promise<FeatureForecastList> {
    return this.budgets.featureForecasts(validate(featureForecastQuerySchema, query).tz);
  }

  @Post()
  @Roles('admin')
  async create(@Body() body: unknown, @CurrentCaller() caller: Caller): Promise<BudgetStatus> {
    const budget = await this.budgets.create(validate(createBudgetSchema, body));
    await this.audit.record(caller.principal, { action: 'budget.create', targetType: 'budget', targetId: budget.id, details: { name: budget.name, amountNanos: budget.amountNanos, enforcement: budget.enforcement } }, caller.ip);
    return budget;
  }

  @Patch(':id')
  @Roles('admin')
  async update(@Param('id', ParseUUIDPipe) id: string, @Body() body: unknown, @CurrentCaller() caller: Caller): Promise<BudgetStatus> {
    const patch = validate(updateBudgetSchema, body);
    const budget = await this.budgets.update(id, patch);
    await this.audit.record(caller.principal, { action: 'budget.update', targetType: 'budget', targetId: id, details: patch }, caller.ip);
    return budget;
  }

  @Delete(':id')
  @Roles('admin')
  @HttpCode(204)
  async remove(@Param('id', ParseUUIDPipe) id: string, @CurrentCaller() caller: Caller): Promise<void> {
    await this.budgets.remove(id);
    await this.audit.record(caller.principal, { action: 'budget.delete', targetType: 'budget', targetId: id }, caller.ip);
  }
}
