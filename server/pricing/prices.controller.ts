// Price management (admins) and the price list (finance reads it). Thin: validate, call the service.
import { Body, Controller, Get, HttpCode, Post, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../auth/principal.js';
import { Roles } from '../auth/roles.decorator.js';
import { OpenAIError } from '../http/openai-error.js';
import { validate } from '../http/validate.js';
import { PriceAdminService } from './price-admin.service.js';
import { addPriceSchema, correctPriceSchema, listPricesQuerySchema } from '../contract/index.js';

type GuardedRequest = FastifyRequest & { principal?: Principal };

function caller(request: GuardedRequest): Principal {
  if (!request.principal) throw new OpenAIError(401, 'Sign in first.', 'authentication_error', 'unauthenticated');
  return request.principal;
}

@ApiTags('admin')
@ApiBearerAuth()
@Controller('api/admin/prices')
export class PricesController {
  constructor(private readonly prices: PriceAdminService) {}

  @Get()
  @Roles('finance')
  list(@Query() query: unknown) {
    const input = validate(listPricesQuerySchema, query);
    return this.prices.list(input.model, input.includeRetired === 'true');
  }

  @Post()
  @Roles('admin')
  @HttpCode(201)
  add(@Body() body: unknown, @Req() request: GuardedRequest) {
    return this.prices.add(validate(addPriceSchema, body), caller(request), request.ip);
  }

  /** Corrects a price over a past period and re-costs its events (see PriceAdminService.correct). */
  @Post('corrections')
  @Roles('admin')
  @HttpCode(200)
  correct(@Body() body: unknown, @Req() request: GuardedRequest) {
    return this.prices.correct(validate(correctPriceSchema, body), caller(request), request.ip);
  }
}
