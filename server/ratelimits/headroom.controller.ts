// Engineer-facing rate-limit API: headroom per org and model, and throttling per feature
// (response shapes in docs/api-ratelimits.md).
import { Controller, Get, Inject, Query } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Roles } from '../auth/roles.decorator.js';
import { validate } from '../http/validate.js';
import { EPISODE_GAP_MINUTES, type ErrorsResponse } from '../contract/errors.js';
import { AnonymousRequests } from './anonymous-requests.service.js';
import { ErrorsService } from './errors.service.js';
import { HeadroomService } from './headroom.service.js';
import { latestQuerySchema, rangeQuerySchema, type LatestHeadroom } from '../contract/index.js';

@ApiTags('rate limits')
@ApiBearerAuth()
@Roles('engineer')
@Controller('api')
export class HeadroomController {
  constructor(
    private readonly headroom: HeadroomService,
    private readonly anonymous: AnonymousRequests,
    private readonly errors: ErrorsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Latest limit, remaining and reset per org and model, with utilisation then and now. */
  @Get('headroom/latest')
  async latest(@Query() query: unknown) {
    const { limit: _limit, ...filters } = validate(latestQuerySchema, query);
    return { data: await this.withStates(this.headroom.latest(filters), filters) };
  }

  /** Room under a limit is no use to an org whose calls fail upstream: each row says how its org fares. */
  private async withStates(rows: Promise<LatestHeadroom[]>, filters: { org?: string; model?: string }): Promise<LatestHeadroom[]> {
    const [found, states] = await Promise.all([rows, this.errors.orgStates({ org: filters.org, model: filters.model })]);
    return found.map((row) => ({ ...row, orgState: states.get(row.org.id) ?? { state: 'idle', requests: 0, failures: 0, since: null } }));
  }

  /** The org and model pairs closest to their limit now. */
  @Get('headroom/closest')
  async closest(@Query() query: unknown) {
    const filters = validate(latestQuerySchema, query);
    return { data: await this.withStates(this.headroom.closest(filters), filters) };
  }

  /** Utilisation per minute over a time range. */
  @Get('headroom/series')
  async series(@Query() query: unknown) {
    const range = validate(rangeQuerySchema, query);
    const [data, historySince] = await Promise.all([this.headroom.series(range), this.headroom.historySince()]);
    return { from: range.from.toISOString(), to: range.to.toISOString(), historySince, historyDays: this.config.RATELIMIT_HISTORY_DAYS, data };
  }

  /** 429s by kind and SDK retries per feature, org, model and minute. */
  @Get('throttling/series')
  async throttlingSeries(@Query() query: unknown) {
    const range = validate(rangeQuerySchema, query);
    return { from: range.from.toISOString(), to: range.to.toISOString(), data: await this.headroom.throttlingSeries(range) };
  }

  /** Failed calls by kind (billing, upstream key, 5xx, gateway, rate limit, request) per org and feature, with their episodes. */
  @Get('throttling/errors')
  async errorsByKind(@Query() query: unknown): Promise<ErrorsResponse> {
    const range = validate(rangeQuerySchema, query);
    return { from: range.from.toISOString(), to: range.to.toISOString(), episodeGapMinutes: EPISODE_GAP_MINUTES, data: await this.errors.byKind(range) };
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
