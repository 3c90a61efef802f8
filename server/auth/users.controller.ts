// Admin API for dashboard users, API tokens and the audit log. Thin: validate, call a service, audit.
import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { validate } from '../http/validate.js';
import { ApiTokensService } from './api-tokens.service.js';
import { auditQuerySchema, createApiTokenSchema, createUserSchema, updateUserSchema } from '../contract/index.js';
import { AuditService } from './audit.service.js';
import { CurrentCaller, type Caller } from './principal.decorator.js';
import { Roles } from './roles.decorator.js';
import { UsersService } from './users.service.js';

const uuid = new ParseUUIDPipe({ version: '4' });

@ApiTags('admin')
@ApiBearerAuth()
@Roles('admin')
@Controller('api/admin')
export class UsersController {
  constructor(
    private readonly users: UsersService,
    private readonly apiTokens: ApiTokensService,
    private readonly audit: AuditService,
  ) {}

  @Get('users')
  listUsers() {
    return this.users.list();
  }

  @Get('users/:id')
  getUser(@Param('id', uuid) id: string) {
    return this.users.get(id);
  }

  @Post('users')
  async createUser(@Body() body: unknown, @CurrentCaller() caller: Caller) {
    const input = validate(createUserSchema, body);
    const user = await this.users.create(input);
    await this.audit.record(caller.principal, { action: 'user.create', targetType: 'user', targetId: user.id, details: { email: user.email, role: user.role } }, caller.ip);
    return user;
  }

  @Patch('users/:id')
  async updateUser(@Param('id', uuid) id: string, @Body() body: unknown, @CurrentCaller() caller: Caller) {
    const { password, ...changes } = validate(updateUserSchema, body);
    const user = await this.users.update(id, { password, ...changes });
    const details = { ...changes, ...(password ? { passwordChanged: true } : {}) };
    await this.audit.record(caller.principal, { action: 'user.update', targetType: 'user', targetId: id, details }, caller.ip);
    return user;
  }

  /** Disables (users are never deleted: the audit log refers to them). */
  @Delete('users/:id')
  async disableUser(@Param('id', uuid) id: string, @CurrentCaller() caller: Caller) {
    const user = await this.users.update(id, { disabled: true });
    await this.audit.record(caller.principal, { action: 'user.disable', targetType: 'user', targetId: id, details: { email: user.email } }, caller.ip);
    return user;
  }

  @Get('api-tokens')
  listApiTokens() {
    return this.apiTokens.list();
  }

  @Post('api-tokens')
  @HttpCode(201)
  async createApiToken(@Body() body: unknown, @CurrentCaller() caller: Caller) {
    const issued = await this.apiTokens.create(validate(createApiTokenSchema, body), caller.principal);
    const { record } = issued;
    await this.audit.record(
      caller.principal,
      { action: 'api_token.create', targetType: 'api_token', targetId: record.id, details: { name: record.name, role: record.role, masked: record.masked, expiresAt: record.expiresAt } },
      caller.ip,
    );
    return issued;
  }

  @Delete('api-tokens/:id')
  async revokeApiToken(@Param('id', uuid) id: string, @CurrentCaller() caller: Caller) {
    const record = await this.apiTokens.revoke(id);
    await this.audit.record(caller.principal, { action: 'api_token.revoke', targetType: 'api_token', targetId: id, details: { name: record.name } }, caller.ip);
    return record;
  }

  @Get('audit')
  listAudit(@Query() query: unknown) {
    return this.audit.list(validate(auditQuerySchema, query));
  }
}
