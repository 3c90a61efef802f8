// Alerting's logic behind the API: rules (tune, disable, silence), alerts (acknowledge, silence), channels
// (secrets sealed like upstream keys, never shown again) and the notification each delivery sends.
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import {
  RULE_DESCRIPTIONS,
  ruleKindSchema,
  ruleParamSchemas,
  type Alert,
  type Channel,
  type CreateChannel,
  type Delivery,
  type Rule,
  type RuleKind,
} from '../contract/alerts.js';
import { badRequest, notFound } from '../http/openai-error.js';
import { validate } from '../http/validate.js';
import { KeySealer, maskSecret } from '../orgs/key-sealer.js';
import { AlertsRepository, type AlertRow, type ChannelRow, type DeliveryRow } from './alerts.repository.js';
import type { Notification, WebhookSecret } from './channels.js';

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

@Injectable()
export class AlertsService {
  readonly sealer: KeySealer;

  constructor(
    private readonly repository: AlertsRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.sealer = new KeySealer(config.MASTER_KEY, config.MASTER_KEY_PREVIOUS);
  }

  async rules(): Promise<Rule[]> {
    return (await this.repository.rules()).map((r) => ({
      kind: r.kind,
      description: RULE_DESCRIPTIONS[r.kind] ?? r.kind,
      enabled: r.enabled,
      // Stored params over the defaults, so a reader sees every value in force.
      params: { ...(ruleParamSchemas[r.kind]?.safeParse({}).data ?? {}), ...r.params },
      silencedUntil: iso(r.silenced_until),
      updatedAt: iso(r.updated_at)!,
    }));
  }

  async updateRule(kind: string, patch: { enabled?: boolean; params?: Record<string, unknown>; silencedUntil?: string | null }): Promise<Rule> {
    const rule = validate(ruleKindSchema, kind) as RuleKind;
    const params = patch.params === undefined ? undefined : (validate(ruleParamSchemas[rule], patch.params) as Record<string, unknown>);
    await this.repository.updateRule(rule, { ...patch, params });
    return (await this.rules()).find((r) => r.kind === rule)!;
  }

  async alerts(state: 'firing' | 'resolved' | 'all', limit: number, withDetails: boolean): Promise<Array<Alert & { details?: Record<string, unknown> }>> {
    return (await this.repository.listAlerts(state, limit)).map((a) => toAlert(a, withDetails));
  }

  async acknowledge(id: string, by: string): Promise<Alert> {
    const alert = await this.repository.alert(id);
    if (!alert) throw notFound(`No alert ${id}.`);
    await this.repository.acknowledge(id, by);
    return toAlert((await this.repository.alert(id))!, false);
  }

  async silence(id: string, until: string | null): Promise<Alert> {
    if (!(await this.repository.silenceAlert(id, until))) throw notFound(`No alert ${id}.`);
    return toAlert((await this.repository.alert(id))!, false);
  }

  async channels(): Promise<Channel[]> {
    return (await this.repository.channels()).map(toChannel);
  }

  async createChannel(input: CreateChannel): Promise<Channel> {
    let target: string;
    let secret: WebhookSecret | null = null;
    let masked: string | null = null;
    if (input.kind === 'email') target = input.to.join(', ');
    else {
      const url = new URL(input.url);
      // Only the origin is shown: a Slack URL's path is its token, a webhook's may carry one too.
      target = url.origin;
      secret = input.kind === 'webhook' ? { url: input.url, secret: input.secret } : { url: input.url };
      masked = input.kind === 'webhook' ? maskSecret(input.secret) : `${url.origin}/…${input.url.slice(-4)}`;
    }
    const id = await this.repository.createChannel({ name: input.name, kind: input.kind, target, sealed: secret && this.sealer.seal(JSON.stringify(secret)), masked, enabled: input.enabled });
    return toChannel((await this.repository.channel(id))!);
  }

  async updateChannel(id: string, patch: { name?: string; enabled?: boolean }): Promise<Channel> {
    if (!(await this.repository.updateChannel(id, patch))) throw notFound(`No channel ${id}.`);
    return toChannel((await this.repository.channel(id))!);
  }

  async deleteChannel(id: string): Promise<void> {
    if (!(await this.repository.deleteChannel(id))) throw notFound(`No channel ${id}.`);
  }

  /** Queues a test notification to one channel; the delivery log shows how it went. */
  async sendTest(id: string): Promise<{ deliveryId: string }> {
    const channel = await this.repository.channel(id);
    if (!channel) throw notFound(`No channel ${id}.`);
    if (!channel.enabled) throw badRequest(`Channel ${channel.name} is disabled; enable it first.`, 'id');
    return { deliveryId: await this.repository.queueTest(id) };
  }

  async deliveries(limit: number, channelId?: string): Promise<Delivery[]> {
    return (await this.repository.deliveries(limit, channelId)).map(toDelivery);
  }

  /** Re-seals channel secrets (webhook URLs and signing secrets) under the current MASTER_KEY; returns how many. */
  async resealSecrets(): Promise<number> {
    let resealed = 0;
    for (const channel of await this.repository.channels()) {
      if (!channel.sealed || this.sealer.isCurrent(channel.sealed)) continue;
      await this.repository.resealChannel(channel.id, this.sealer.seal(this.sealer.open(channel.sealed)));
      resealed++;
    }
    return resealed;
  }

  /** The opened secret of a webhook or Slack channel (for the delivery worker only). */
  channelSecret(channel: ChannelRow): WebhookSecret {
    if (!channel.sealed) throw new Error(`channel ${channel.name} has no sealed URL`);
    return JSON.parse(this.sealer.open(channel.sealed)) as WebhookSecret;
  }

  /** What a delivery sends: the alert as every channel renders it. */
  async notification(event: Notification['event'], alertId: string | null): Promise<Notification> {
    const sentAt = new Date().toISOString();
    const url = this.config.ALERTS_DASHBOARD_URL ? `${this.config.ALERTS_DASHBOARD_URL.replace(/\/+$/, '')}/#/alerts` : null;
    const alert = alertId ? await this.repository.alert(alertId) : undefined;
    if (!alert) {
      return {
        event,
        alert: { id: null, rule: 'test', severity: 'info', title: 'Test notification from Tallygate', summary: 'This channel works: alerts will arrive here.', org: null, features: [], startedAt: sentAt, resolvedAt: null, url },
        sentAt,
      };
    }
    return {
      event,
      alert: {
        id: alert.id,
        rule: alert.rule_kind,
        severity: alert.severity,
        title: alert.title,
        summary: alert.summary,
        org: alert.org_name,
        features: alert.feature_slugs ?? [],
        startedAt: iso(alert.started_at)!,
        resolvedAt: iso(alert.resolved_at),
        url,
      },
      sentAt,
    };
  }
}

function toAlert(a: AlertRow, withDetails: boolean): Alert & { details?: Record<string, unknown> } {
  return {
    id: a.id,
    ruleKind: a.rule_kind,
    subject: a.subject,
    severity: a.severity,
    title: a.title,
    summary: a.summary,
    orgId: a.org_id,
    orgName: a.org_name,
    featureIds: a.feature_ids,
    featureSlugs: a.feature_slugs ?? [],
    state: a.resolved_at ? 'resolved' : 'firing',
    startedAt: iso(a.started_at)!,
    lastSeenAt: iso(a.last_seen_at)!,
    resolvedAt: iso(a.resolved_at),
    acknowledgedAt: iso(a.acknowledged_at),
    acknowledgedBy: a.acknowledged_by,
    silencedUntil: iso(a.silenced_until),
    ...(withDetails ? { details: a.details } : {}),
  };
}

function toChannel(c: ChannelRow): Channel {
  return { id: c.id, name: c.name, kind: c.kind, target: c.target, secretMasked: c.masked, enabled: c.enabled, createdAt: iso(c.created_at)! };
}

function toDelivery(d: DeliveryRow): Delivery {
  return {
    id: d.id,
    alertId: d.alert_id,
    alertTitle: d.alert_title,
    channelId: d.channel_id,
    channelName: d.channel_name,
    event: d.event,
    status: d.status,
    attempts: d.attempts,
    responseCode: d.response_code,
    error: d.error,
    createdAt: iso(d.created_at)!,
    deliveredAt: iso(d.delivered_at),
    nextAttemptAt: d.status === 'pending' ? iso(d.next_attempt_at) : null,
  };
}
