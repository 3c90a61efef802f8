// The batches API: the list with progress, line counts and cost (engineers: without money), and the admin
// trigger that polls and meters one batch now. Thin: validate, call a service.
import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { CurrentCaller, type Caller } from '../auth/principal.decorator.js';
import { Roles } from '../auth/roles.decorator.js';
import { batchListQuerySchema, meterBatchSchema, type BatchList, type BatchView } from '../contract/batches.js';
import { validate } from '../http/validate.js';
import { BatchesService } from './batches.service.js';
import { BatchesRepository, type BatchRow } from './batches.repository.js';

@ApiTags('batches')
@ApiBearerAuth()
@Controller()
export class BatchesController {
  constructor(
    private readonly batches: BatchesService,
    private readonly repository: BatchesRepository,
  ) {}

  @Get('api/batches')
  @Roles('finance', 'engineer')
  async list(@Query() query: unknown, @CurrentCaller() caller: Caller): Promise<BatchList> {
    const input = validate(batchListQuerySchema, query);
    const rows = await this.batches.list(input.limit, input.status);
    return { batches: await this.views(rows, caller.principal.role !== 'engineer') };
  }

  @Post('api/admin/batches/:id/meter')
  @Roles()
  @HttpCode(200)
  async meter(@Param('id') id: string, @Body() body: unknown): Promise<BatchView> {
    const input = validate(meterBatchSchema, body ?? {});
    const row = await this.batches.meterNow(id.slice(0, 256), input.org);
    return (await this.views([row], true))[0];
  }

  private async views(rows: BatchRow[], money: boolean): Promise<BatchView[]> {
    const names = await this.repository.names(rows);
    return rows.map((r) => ({
      id: r.id,
      orgId: r.orgId,
      orgName: names.orgs.get(r.orgId) ?? null,
      featureId: r.featureId,
      featureSlug: r.featureId ? (names.features.get(r.featureId) ?? null) : null,
      endpoint: r.endpoint,
      status: r.status,
      requestTotal: r.requestTotal,
      requestCompleted: r.requestCompleted,
      requestFailed: r.requestFailed,
      linesMetered: r.outputLinesMetered + r.errorLinesMetered,
      unpricedLines: r.unpricedLines,
      createdAt: r.createdAt.toISOString(),
      finalAt: r.finalAt?.toISOString() ?? null,
      meteredAt: r.meteredAt?.toISOString() ?? null,
      nextPollAt: r.nextPollAt.toISOString(),
      lastError: r.lastError,
      ...(money ? { costNanos: r.costNanos } : {}),
    }));
  }
}
