// The attribution API (docs/attribution.md). Thin: validate, call a service.
import { Body, Controller, Delete, Get, Param, Patch, Post, Put, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AnalyticsService } from '../analytics/analytics.service.js';
import { CurrentCaller, type Caller } from '../auth/principal.decorator.js';
import { Roles } from '../auth/roles.decorator.js';
import { declareTagSchema, featureAttributionSchema, tagCatalogQuerySchema, tagName, tagStatementQuerySchema, updateTagSchema } from '../contract/attribution.js';
import { validate } from '../http/validate.js';
import { AttributionService } from './attribution.service.js';
import { TagStatementService } from './tag-statement.service.js';

@ApiTags('admin')
@ApiBearerAuth()
@Roles('admin')
@Controller('api/admin')
export class AttributionAdminController {
  constructor(private readonly attribution: AttributionService) {}

  @Get('tags')
  listTags() {
    return this.attribution.listTags();
  }

  @Post('tags')
  declareTag(@Body() body: unknown, @CurrentCaller() caller: Caller) {
    return this.attribution.declareTag(validate(declareTagSchema, body), caller);
  }

  @Patch('tags/:name')
  updateTag(@Param('name') name: string, @Body() body: unknown, @CurrentCaller() caller: Caller) {
    return this.attribution.updateTag(validate(tagName, name), validate(updateTagSchema, body), caller);
  }

  @Delete('tags/:name')
  removeTag(@Param('name') name: string, @CurrentCaller() caller: Caller) {
    return this.attribution.removeTag(validate(tagName, name), caller);
  }

  @Get('features/:id/attribution')
  featureAttribution(@Param('id') id: string) {
    return this.attribution.featureAttribution(id);
  }

  @Put('features/:id/attribution')
  setFeatureAttribution(@Param('id') id: string, @Body() body: unknown, @CurrentCaller() caller: Caller) {
    return this.attribution.setFeatureAttribution(id, validate(featureAttributionSchema, body), caller);
  }
}

@ApiTags('analytics')
@ApiBearerAuth()
@Controller('api/analytics')
export class AttributionAnalyticsController {
  constructor(
    private readonly statements: TagStatementService,
    private readonly analytics: AnalyticsService,
  ) {}

  /** Tag names and their busiest values in a range, for the filter bar. No money, so engineers may read it. */
  @Get('tags')
  @Roles('finance', 'engineer')
  async tags(@Query() query: unknown) {
    const input = validate(tagCatalogQuerySchema, query);
    const range = await this.analytics.resolveRange(input.from, input.to, input.tz, { wholeHours: false });
    return this.statements.catalog(range.from, range.to);
  }

  /** A feature's month per value of a tag (per customer), adding up to the feature's month. */
  @Get('tag-statements')
  @Roles('finance')
  async statement(@Query() query: unknown, @Res({ passthrough: true }) reply: FastifyReply) {
    const input = validate(tagStatementQuerySchema, query);
    const statement = await this.statements.statement(input);
    if (input.format === 'json') return statement;
    const name = `statement-${statement.feature.slug.replace(/[^A-Za-z0-9_-]+/g, '_')}-${input.tag.replace(/[^A-Za-z0-9_-]+/g, '_')}-${statement.month}.csv`;
    reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}"`);
    return this.statements.toCsv(statement);
  }
}
