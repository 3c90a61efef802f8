// Reconciliation's API: the report (JSON and CSV), the per-key drill-down and sync status for finance, and
// an on-demand sync for admins. Thin: validate, call a service.
import { Body, Controller, Get, HttpCode, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Roles } from '../auth/roles.decorator.js';
import { badRequest } from '../http/openai-error.js';
import { validate } from '../http/validate.js';
import { reportQuerySchema, syncRequestSchema } from '../contract/index.js';
import { ReconciliationService } from './reconciliation.service.js';
import { SyncService } from './sync.service.js';

@ApiTags('reconciliation')
@ApiBearerAuth()
@Controller()
export class ReconciliationController {
  constructor(
    private readonly reconciliation: ReconciliationService,
    private readonly sync: SyncService,
  ) {}

  /** Per org × day (and model) the ledger beside OpenAI's usage and costs, the difference and its causes. */
  @Get('api/analytics/reconciliation')
  @Roles('finance')
  report(@Query() query: unknown) {
    return this.reconciliation.report(validate(reportQuerySchema, query));
  }

  @Get('api/analytics/reconciliation/export.csv')
  @Roles('finance')
  async csv(@Query() query: unknown, @Res({ passthrough: true }) reply: FastifyReply) {
    const input = validate(reportQuerySchema, query);
    const report = await this.reconciliation.report(input);
    reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', `attachment; filename="reconciliation-${input.from}-${input.to}.csv"`);
    return this.reconciliation.toCsv(report);
  }

  /** OpenAI's figures per API key id, with the Tallygate upstream key each is (or "outside Tallygate"). */
  @Get('api/analytics/reconciliation/keys')
  @Roles('finance')
  keys(@Query() query: unknown) {
    const input = validate(reportQuerySchema, query);
    if (!input.org) throw badRequest('Give the organization: ?org=<org id>.', 'org');
    return this.reconciliation.keys({ ...input, org: input.org });
  }

  /** Per org: reconciliation on or off, and the sync's progress (buckets done / total, ETA, last error). */
  @Get('api/analytics/reconciliation/status')
  @Roles('finance')
  status() {
    return this.reconciliation.states();
  }

  /** Starts a sync now (one org, or every org with an admin key) and answers at once; progress is in status. */
  @Post('api/admin/reconciliation/sync')
  @Roles('admin')
  @HttpCode(202)
  async startSync(@Body() body: unknown) {
    const { orgId } = validate(syncRequestSchema, body ?? {});
    if (orgId) void this.sync.syncOrg(orgId).catch(() => undefined);
    else void this.sync.syncDue(0).catch(() => undefined);
    return { started: true, status: await this.reconciliation.states(orgId) };
  }
}
