// The analytics API (docs/api-analytics.md). Thin: validate the query, call a service.
import { Controller, Get, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { CurrentCaller, type Caller } from '../auth/principal.decorator.js';
import { Roles } from '../auth/roles.decorator.js';
import { validate } from '../http/validate.js';
import { eventsExportQuerySchema, monthToDateQuerySchema, statementQuerySchema, usageQuerySchema } from '../contract/index.js';
import { AnalyticsService } from './analytics.service.js';
import { EventsExportService } from './events-export.service.js';
import { StatementService } from './statement.service.js';

@ApiTags('analytics')
@ApiBearerAuth()
@Controller('api/analytics')
export class AnalyticsController {
  constructor(
    private readonly analytics: AnalyticsService,
    private readonly statements: StatementService,
    private readonly exports: EventsExportService,
  ) {}

  /**
   * Requests, errors, tokens, audio, latency/TTFB percentiles and estimated/unpriced shares, plus
   * spend for finance and admins. Engineers see usage, not money: their answer has no money field.
   */
  @Get('usage')
  @Roles('finance', 'engineer')
  usage(@Query() query: unknown, @CurrentCaller() caller: Caller) {
    return this.analytics.usage(validate(usageQuerySchema, query), { latency: true, money: caller.principal.role !== 'engineer' });
  }

  /**
   * What the filter bar offers: every org, feature and model the caller may filter by, with names,
   * including those with no traffic. No money (no budgets), so engineers may read it.
   */
  @Get('catalog')
  @Roles('finance', 'engineer')
  catalog() {
    return this.analytics.catalog();
  }

  /** The same series without the latency histograms: what spend charts need, a little cheaper. */
  @Get('spend')
  @Roles('finance')
  spend(@Query() query: unknown) {
    return this.analytics.usage(validate(usageQuerySchema, query), { latency: false, money: true });
  }

  @Get('month-to-date')
  @Roles('finance')
  monthToDate(@Query() query: unknown) {
    return this.analytics.monthToDate(validate(monthToDateQuerySchema, query));
  }

  @Get('statements')
  @Roles('finance')
  async statement(@Query() query: unknown, @Res({ passthrough: true }) reply: FastifyReply) {
    const input = validate(statementQuerySchema, query);
    const statement = await this.statements.statement(input);
    if (input.format === 'json') return statement;
    // The file says whose month it is, and in which zone the month was cut.
    const safe = (text: string) => text.replace(/[^A-Za-z0-9_-]+/g, '_');
    const name = `statement-${safe(statement.org.name)}-${statement.month}-${safe(statement.tz)}.csv`;
    reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}"`);
    return this.statements.toCsv(statement);
  }

  @Get('exports/usage-events.csv')
  @Roles('finance')
  async exportEvents(@Query() query: unknown, @Res() reply: FastifyReply) {
    const { body, filename } = await this.exports.stream(validate(eventsExportQuerySchema, query));
    return reply
      .header('content-type', 'text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="${filename}"`)
      .header('cache-control', 'no-store')
      .send(body);
  }
}
