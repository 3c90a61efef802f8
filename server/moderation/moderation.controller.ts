// The moderation API (docs/moderation.md): policies (admins set them; engineers read them) and
// what was flagged where. Not for finance: it is about content, not money. Thin: validate, call.
import { Body, Controller, Delete, Get, Param, Put, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { CurrentCaller, type Caller } from '../auth/principal.decorator.js';
import { Roles } from '../auth/roles.decorator.js';
import { moderationPolicyInput, moderationQuery } from '../contract/moderation.js';
import { validate } from '../http/validate.js';
import { ModerationService } from './moderation.service.js';

@ApiTags('moderation')
@ApiBearerAuth()
@Controller()
export class ModerationController {
  constructor(private readonly moderation: ModerationService) {}

  @Get('api/moderation/policies')
  @Roles('engineer')
  list() {
    return this.moderation.list();
  }

  @Get('api/moderation/policies/:feature')
  @Roles('engineer')
  get(@Param('feature') feature: string) {
    return this.moderation.get(feature);
  }

  /** Flagged share by feature and category over time, the policies in force, guardrail latency and recent blocks. */
  @Get('api/moderation/summary')
  @Roles('engineer')
  summary(@Query() query: unknown) {
    return this.moderation.summary(validate(moderationQuery, query));
  }

  @Put('api/admin/moderation/policies/:feature')
  @Roles('admin')
  set(@Param('feature') feature: string, @Body() body: unknown, @CurrentCaller() caller: Caller) {
    return this.moderation.set(feature, validate(moderationPolicyInput, body), caller.principal, caller.ip);
  }

  @Delete('api/admin/moderation/policies/:feature')
  @Roles('admin')
  remove(@Param('feature') feature: string, @CurrentCaller() caller: Caller) {
    return this.moderation.remove(feature, caller.principal, caller.ip);
  }
}
