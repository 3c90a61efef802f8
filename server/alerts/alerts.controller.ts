// The alerts API: everyone reads rules, alerts, channels, deliveries and feature health (no money in
// them for engineers); admins tune rules, acknowledge and silence alerts, and manage channels.
import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { AuditService } from '../auth/audit.service.js';
import { CurrentCaller, type Caller } from '../auth/principal.decorator.js';
import { Roles } from '../auth/roles.decorator.js';
import {
  alertListQuerySchema,
  createChannelSchema,
  deliveryListQuerySchema,
  silenceSchema,
  updateChannelSchema,
  updateRuleSchema,
  type AlertList,
  type FeatureHealthList,
} from '../contract/alerts.js';
import { validate } from '../http/validate.js';
import { AlertsEvaluator } from './alerts.evaluator.js';
import { AlertsService } from './alerts.service.js';
import { FeatureHealthService } from './feature-health.service.js';

const who = (caller: Caller) => caller.principal.email ?? caller.principal.name ?? caller.principal.id;

@ApiTags('alerts')
@ApiBearerAuth()
@Controller('api/alerts')
export class AlertsController {
  constructor(
    private readonly alerts: AlertsService,
    private readonly health: FeatureHealthService,
    private readonly evaluator: AlertsEvaluator,
    private readonly audit: AuditService,
  ) {}

  /** Alerts, newest first: ?state=firing for what fires now (the dashboard's banner), resolved, or all. */
  @Get()
  @Roles('finance', 'engineer')
  async list(@Query() query: unknown, @CurrentCaller() caller: Caller): Promise<AlertList> {
    const q = validate(alertListQuerySchema, query);
    return { alerts: await this.alerts.alerts(q.state, q.limit, caller.principal.role !== 'engineer') };
  }

  @Get('rules')
  @Roles('finance', 'engineer')
  async rules(@CurrentCaller() caller: Caller) {
    const rules = await this.alerts.rules();
    // A drift bound in dollars is money: engineers see the rule, not its amount.
    if (caller.principal.role === 'engineer') for (const r of rules) delete r.params.usd;
    return { rules };
  }

  @Patch('rules/:kind')
  @Roles('admin')
  async updateRule(@Param('kind') kind: string, @Body() body: unknown, @CurrentCaller() caller: Caller) {
    const patch = validate(updateRuleSchema, body);
    const rule = await this.alerts.updateRule(kind, patch);
    await this.audit.record(caller.principal, { action: 'alert_rule.update', targetType: 'alert_rule', targetId: kind, details: patch }, caller.ip);
    return rule;
  }

  /** Runs every rule now (instead of at the next interval). */
  @Post('evaluate')
  @Roles('admin')
  @HttpCode(200)
  async evaluate(): Promise<AlertList> {
    await this.evaluator.evaluate();
    return { alerts: await this.alerts.alerts('firing', 500, true) };
  }

  @Post(':id/acknowledge')
  @Roles('admin')
  @HttpCode(200)
  async acknowledge(@Param('id', ParseUUIDPipe) id: string, @CurrentCaller() caller: Caller) {
    const alert = await this.alerts.acknowledge(id, who(caller));
    await this.audit.record(caller.principal, { action: 'alert.acknowledge', targetType: 'alert', targetId: id }, caller.ip);
    return alert;
  }

  @Post(':id/silence')
  @Roles('admin')
  @HttpCode(200)
  async silence(@Param('id', ParseUUIDPipe) id: string, @Body() body: unknown, @CurrentCaller() caller: Caller) {
    const { until } = validate(silenceSchema, body);
    const alert = await this.alerts.silence(id, until);
    await this.audit.record(caller.principal, { action: 'alert.silence', targetType: 'alert', targetId: id, details: { until } }, caller.ip);
    return alert;
  }

  @Get('feature-health')
  @Roles('finance', 'engineer')
  featureHealth(): Promise<FeatureHealthList> {
    return this.health.board();
  }

  @Get('channels')
  @Roles('finance', 'engineer')
  async channels() {
    return { channels: await this.alerts.channels() };
  }

  @Post('channels')
  @Roles('admin')
  async createChannel(@Body() body: unknown, @CurrentCaller() caller: Caller) {
    const channel = await this.alerts.createChannel(validate(createChannelSchema, body));
    await this.audit.record(caller.principal, { action: 'alert_channel.create', targetType: 'alert_channel', targetId: channel.id, details: { name: channel.name, kind: channel.kind, target: channel.target } }, caller.ip);
    return channel;
  }

  @Patch('channels/:id')
  @Roles('admin')
  async updateChannel(@Param('id', ParseUUIDPipe) id: string, @Body() body: unknown, @CurrentCaller() caller: Caller) {
    const patch = validate(updateChannelSchema, body);
    const channel = await this.alerts.updateChannel(id, patch);
    await this.audit.record(caller.principal, { action: 'alert_channel.update', targetType: 'alert_channel', targetId: id, details: patch }, caller.ip);
    return channel;
  }

  @Delete('channels/:id')
  @Roles('admin')
  @HttpCode(204)
  async deleteChannel(@Param('id', ParseUUIDPipe) id: string, @CurrentCaller() caller: Caller) {
    await this.alerts.deleteChannel(id);
    await this.audit.record(caller.principal, { action: 'alert_channel.delete', targetType: 'alert_channel', targetId: id }, caller.ip);
  }

  @Post('channels/:id/test')
  @Roles('admin')
  @HttpCode(202)
  sendTest(@Param('id', ParseUUIDPipe) id: string) {
    return this.alerts.sendTest(id);
  }

  @Get('deliveries')
  @Roles('finance', 'engineer')
  async deliveries(@Query() query: unknown) {
    return { deliveries: await this.alerts.deliveries(200, validate(deliveryListQuerySchema, query).channel) };
  }
}
