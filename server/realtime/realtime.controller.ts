// Realtime activity per feature: sessions relayed, and the WebRTC sessions the gateway could not meter.
import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Roles } from '../auth/roles.decorator.js';
import { realtimeActivityQuerySchema, type RealtimeActivity } from '../contract/realtime.js';
import { validate } from '../http/validate.js';
import { RealtimeSessionsRepository } from './realtime-sessions.repository.js';

@ApiTags('realtime')
@ApiBearerAuth()
@Controller()
export class RealtimeController {
  constructor(private readonly sessions: RealtimeSessionsRepository) {}

  /** Counts only (no money): voice spend is in the spend views under the `realtime` endpoint family. */
  @Get('api/analytics/realtime')
  @Roles('finance', 'engineer')
  async activity(@Query() query: unknown): Promise<RealtimeActivity> {
    const input = validate(realtimeActivityQuerySchema, query);
    return { from: input.from, to: input.to, features: await this.sessions.activity(input) };
  }
}
