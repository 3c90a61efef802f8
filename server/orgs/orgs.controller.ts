// Admin REST API for orgs, upstream keys, features and gateway keys. Thin: validate, call the service.
import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { AuditService } from '../auth/audit.service.js';
import { CurrentCaller, type Caller } from '../auth/principal.decorator.js';
import { Roles } from '../auth/roles.decorator.js';
import { validate } from '../http/validate.js';
import {
  addUpstreamKeySchema,
  createFeatureSchema,
  createOrgSchema,
  issueGatewayKeySchema,
  updateFeatureSchema,
  updateOrgSchema,
} from './orgs.dto.js';
import { OrgsService } from './orgs.service.js';

const uuid = new ParseUUIDPipe({ version: '4' });

@ApiTags('admin')
@ApiBearerAuth()
@Roles('admin')
@Controller('api/admin')
export class OrgsController {
  constructor(
    private readonly orgs: OrgsService,
    private readonly audit: AuditService,
  ) {}

  @Get('orgs')
  listOrgs() {
    return this.orgs.listOrgs();
  }

  @Get('orgs/:id')
  getOrg(@Param('id', uuid) id: string) {
    return this.orgs.getOrg(id);
  }

  @Post('orgs')
  async createOrg(@Body() body: unknown, @CurrentCaller() caller: Caller) {
    const org = await this.orgs.createOrg(validate(createOrgSchema, body));
    const details = { name: org.name, openaiOrgId: org.openaiOrgId, baseUrl: org.baseUrl, upstreamKeys: org.upstreamKeys.map((k) => k.masked) };
    await this.audit.record(caller.principal, { action: 'org.create', targetType: 'org', targetId: org.id, details }, caller.ip);
    return org;
  }

  @Patch('orgs/:id')
  async updateOrg(@Param('id', uuid) id: string, @Body() body: unknown, @CurrentCaller() caller: Caller) {
    const patch = validate(updateOrgSchema, body);
    const org = await this.orgs.updateOrg(id, patch);
    await this.audit.record(caller.principal, { action: 'org.update', targetType: 'org', targetId: id, details: patch }, caller.ip);
    return org;
  }

  @Post('orgs/:id/keys')
  async addUpstreamKey(@Param('id', uuid) id: string, @Body() body: unknown, @CurrentCaller() caller: Caller) {
    const input = validate(addUpstreamKeySchema, body);
    const key = await this.orgs.addUpstreamKey(id, input.apiKey, input.label);
    await this.audit.record(caller.principal, { action: 'upstream_key.add', targetType: 'upstream_key', targetId: key.id, details: { orgId: id, masked: key.masked, label: key.label } }, caller.ip);
    return key;
  }

  @Delete('orgs/:id/keys/:keyId')
  async revokeUpstreamKey(@Param('id', uuid) id: string, @Param('keyId', uuid) keyId: string, @CurrentCaller() caller: Caller) {
    const key = await this.orgs.revokeUpstreamKey(id, keyId);
    await this.audit.record(caller.principal, { action: 'upstream_key.revoke', targetType: 'upstream_key', targetId: keyId, details: { orgId: id, masked: key.masked } }, caller.ip);
    return key;
  }

  @Get('features')
  listFeatures() {
    return this.orgs.listFeatures();
  }

  @Post('features')
  async createFeature(@Body() body: unknown, @CurrentCaller() caller: Caller) {
    const input = validate(createFeatureSchema, body);
    const feature = await this.orgs.createFeature(input);
    await this.audit.record(caller.principal, { action: 'feature.create', targetType: 'feature', targetId: feature.id, details: input }, caller.ip);
    return feature;
  }

  @Patch('features/:id')
  async updateFeature(@Param('id', uuid) id: string, @Body() body: unknown, @CurrentCaller() caller: Caller) {
    const patch = validate(updateFeatureSchema, body);
    const feature = await this.orgs.updateFeature(id, patch);
    await this.audit.record(caller.principal, { action: 'feature.update', targetType: 'feature', targetId: id, details: patch }, caller.ip);
    return feature;
  }

  @Get('gateway-keys')
  listGatewayKeys(@Query('feature', new ParseUUIDPipe({ version: '4', optional: true })) feature?: string) {
    return this.orgs.listGatewayKeys(feature);
  }

  @Post('features/:id/gateway-keys')
  @HttpCode(201)
  async issueGatewayKey(@Param('id', uuid) id: string, @Body() body: unknown, @CurrentCaller() caller: Caller) {
    const issued = await this.orgs.issueGatewayKey(id, validate(issueGatewayKeySchema, body).name);
    const { record } = issued;
    await this.audit.record(caller.principal, { action: 'gateway_key.issue', targetType: 'gateway_key', targetId: record.id, details: { featureId: id, name: record.name, masked: record.masked } }, caller.ip);
    return issued;
  }

  @Delete('gateway-keys/:id')
  async revokeGatewayKey(@Param('id', uuid) id: string, @CurrentCaller() caller: Caller) {
    const key = await this.orgs.revokeGatewayKey(id);
    await this.audit.record(caller.principal, { action: 'gateway_key.revoke', targetType: 'gateway_key', targetId: id, details: { masked: key.masked } }, caller.ip);
    return key;
  }
}
