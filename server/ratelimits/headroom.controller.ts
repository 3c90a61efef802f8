// Engineer-facing rate-limit API: headroom per org and model, and throttling per feature
// (response shapes in docs/api-ratelimits.md).
import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Roles } from '../auth/roles.decorator.js';
import { validate } from '../http/validate.js';
import { AnonymousRequests } from './anonymous-requests.service.js';
import { HeadroomService } from './headroom.service.js';
import { latestQuerySchema, rangeQuerySchema } from '../contract/index.js';

@ApiTags('rate limits')
@ApiBearerAuth()
@Roles('engineer')
@Controller('api')
export class HeadroomController {
  constructor(
    private readonly headroom: HeadroomService,
    private readonly anonymous: AnonymousRequests,
  ) {}

  /** Latest limit, remaining and reset per org and model, with utilisation then and now. */
  @Get('headroom/latest')
  async latest(@Query() query: unknown) {
    const { limit: _limit, ...filters } = validate(latestQuerySchema, query);
    return { data: await this.headroom.latest(filters) };
  }

  /** The org and model pairs closest to their limit now. */
  @Get('headroom/closest')
  async closest(@Query() query: unknown) {
    return { data: await this.headroom.closest(validate(latestQuerySchema, query)) };
  }

  /** Utilisation per minute over a time range. */
  @Get('headroom/series')
  async series(@Query() query: unknown) {
    const range = validate(rangeQuerySchema, query);
    return { from: range.from.toISOString(), to: range.to.toISOString(), data: await this.headroom.series(range) };
  }

  /** 429s by kind and SDK retries per feature, org, model and minute. */
  @Get('throttling/series')
  async throttlingSeries(@Query() query: unknown) {
    const range = validate(rangeQuerySchema, query);
    return { from: range.from.toISOString(), to: range.to.toISOString(), data: await this.headroom.throttlingSeries(range) };
  }

  /** Requests without a key Tallygate issued, per minute and reason (they have no ledger rows). */
  @Get('throttling/anonymous')
  async anonymousSeries(@Query() query: unknown) {
    const range = validate(rangeQuerySchema, query);
    return { from: range.from.toISOString(), to: range.to.toISOString(), data: await this.anonymous.series(range.from, range.to) };
  }

  /** Totals per feature and org over a time range, most throttled first. */
  @Get('throttling/summary')
  async throttlingSummary(@Query() query: unknown) {
    const range = validate(rangeQuerySchema, query);
    return { from: range.from.toISOString(), to: range.to.toISOString(), data: await this.headroom.throttlingSummary(range) };
  }
}
