// Admin REST API for orgs, upstream keys, features and gateway keys. Thin: validate, call the service.
import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Put, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { CurrentCaller, type Caller } from '../auth/principal.decorator.js';
import { Roles } from '../auth/roles.decorator.js';
import { validate } from '../http/validate.js';
import {
  addUpstreamKeySchema,
  adminKeySchema,
  openaiKeyIdSchema,
  createFeatureSchema,
  createOrgSchema,
  issueGatewayKeySchema,
  updateFeatureSchema,
  updateOrgSchema,
  gatewayKeysQuerySchema,
} from '../contract/index.js';
import { OrgsService } from './orgs.service.js';

const uuid = new ParseUUIDPipe({ version: '4' });

@ApiTags('admin')
@ApiBearerAuth()
@Roles('admin')
@Controller('api/admin')
export class OrgsController {
  constructor(private readonly orgs: OrgsService) {}

  @Get('orgs')
  listOrgs() {
    return this.orgs.listOrgs();
  }

  @Get('orgs/:id')
  getOrg(@Param('id', uuid) id: string) {
    return this.orgs.getOrg(id);
  }

  @Post('orgs')
  createOrg(@Body() body: unknown, @CurrentCaller() caller: Caller) {
    return this.orgs.createOrg(validate(createOrgSchema, body), caller);
  }

  @Patch('orgs/:id')
  updateOrg(@Param('id', uuid) id: string, @Body() body: unknown, @CurrentCaller() caller: Caller) {
    return this.orgs.updateOrg(id, validate(updateOrgSchema, body), caller);
  }

  @Post('orgs/:id/keys')
  addUpstreamKey(@Param('id', uuid) id: string, @Body() body: unknown, @CurrentCaller() caller: Caller) {
    const input = validate(addUpstreamKeySchema, body);
    return this.orgs.addUpstreamKey(id, input.apiKey, input.label, caller);
  }

  @Delete('orgs/:id/keys/:keyId')
  revokeUpstreamKey(@Param('id', uuid) id: string, @Param('keyId', uuid) keyId: string, @CurrentCaller() caller: Caller) {
    return this.orgs.revokeUpstreamKey(id, keyId, caller);
  }

  @Patch('orgs/:id/keys/:keyId')
  setUpstreamKeyOpenaiId(@Param('id', uuid) id: string, @Param('keyId', uuid) keyId: string, @Body() body: unknown, @CurrentCaller() caller: Caller) {
    return this.orgs.setUpstreamKeyOpenaiId(id, keyId, validate(openaiKeyIdSchema, body).openaiKeyId, caller);
  }

  @Put('orgs/:id/admin-key')
  setAdminKey(@Param('id', uuid) id: string, @Body() body: unknown, @CurrentCaller() caller: Caller) {
    return this.orgs.setAdminKey(id, validate(adminKeySchema, body).adminKey, caller);
  }

  @Delete('orgs/:id/admin-key')
  @HttpCode(204)
  removeAdminKey(@Param('id', uuid) id: string, @CurrentCaller() caller: Caller) {
    return this.orgs.removeAdminKey(id, caller);
  }

  @Get('features')
  listFeatures() {
    return this.orgs.listFeatures();
  }

  @Post('features')
  createFeature(@Body() body: unknown, @CurrentCaller() caller: Caller) {
    return this.orgs.createFeature(validate(createFeatureSchema, body), caller);
  }

  @Patch('features/:id')
  updateFeature(@Param('id', uuid) id: string, @Body() body: unknown, @CurrentCaller() caller: Caller) {
    return this.orgs.updateFeature(id, validate(updateFeatureSchema, body), caller);
  }

  @Get('gateway-keys')
  listGatewayKeys(@Query() query: unknown) {
    return this.orgs.listGatewayKeys(validate(gatewayKeysQuerySchema, query).feature);
  }

  @Post('features/:id/gateway-keys')
  @HttpCode(201)
  issueGatewayKey(@Param('id', uuid) id: string, @Body() body: unknown, @CurrentCaller() caller: Caller) {
    return this.orgs.issueGatewayKey(id, validate(issueGatewayKeySchema, body).name, caller);
  }

  @Delete('gateway-keys/:id')
  revokeGatewayKey(@Param('id', uuid) id: string, @CurrentCaller() caller: Caller) {
    return this.orgs.revokeGatewayKey(id, caller);
  }
}
