// The alerts API's shapes (/api/alerts/...): rules, alerts (episodes), channels, deliveries and feature
// health. Validated by the server, imported by the dashboard. No money here: budget alerts speak in
// percentages, so every role may read alerts (engineers never see money).
import { z } from 'zod';
import { defineRoutes } from './route.js';

export const RULE_KINDS = [
  'budget_threshold',
  'budget_forecast',
  'billing_failure',
  'headroom_low',
  'throttle_share',
  'error_rate',
  'latency_p95',
  'reconciliation_drift',
] as const;
export const ruleKindSchema = z.enum(RULE_KINDS);
export type RuleKind = z.infer<typeof ruleKindSchema>;

const percent = z.number().min(0.1).max(100);
const windowMinutes = z.number().int().min(1).max(1440);
const minRequests = z.number().int().min(1).max(1_000_000);

/** Each rule's parameters, with its defaults (what a rule without stored params uses). */
export const ruleParamSchemas = {
  budget_threshold: z.strictObject({}),
  budget_forecast: z.strictObject({}),
  billing_failure: z.strictObject({ windowMinutes: windowMinutes.default(10) }),
  headroom_low: z.strictObject({ percent: percent.default(10), minutes: windowMinutes.default(5) }),
  throttle_share: z.strictObject({ percent: percent.default(20), windowMinutes: windowMinutes.default(10), minRequests: minRequests.default(20) }),
  error_rate: z.strictObject({ percent: percent.default(10), windowMinutes: windowMinutes.default(10), minRequests: minRequests.default(20) }),
  latency_p95: z.strictObject({ ms: z.number().int().min(1).max(3_600_000).default(20_000), windowMinutes: windowMinutes.default(10), minRequests: minRequests.default(20) }),
  reconciliation_drift: z.strictObject({ percent: percent.default(5), usd: z.string().regex(/^\d{1,9}(\.\d{1,9})?$/).default('10') }),
} satisfies Record<RuleKind, z.ZodType>;

export const RULE_DESCRIPTIONS: Record<RuleKind, string> = {
  budget_threshold: "A budget's spend crossed one of its thresholds (50/80/100% by default) in the current period.",
  budget_forecast: "A budget's period-end forecast is above its forecast threshold (100% by default).",
  billing_failure: "An org's calls fail for billing (insufficient_quota, billing_hard_limit_reached, ...) or its upstream key is refused (401); names the features now failing.",
  headroom_low: 'An org and model stayed below X% of its request or token limit for Y minutes.',
  throttle_share: "Over X% of an org's calls were answered 429 (rate limits) in the window.",
  error_rate: "Over X% of a feature's calls failed upstream (5xx, timeouts, unreachable) in the window.",
  latency_p95: "An org's upstream latency p95 was above the bound in the window.",
  reconciliation_drift: "OpenAI's cost differs from the ledger's by more than X% or $Y over the last 7 days.",
};

export const ruleSchema = z.object({
  kind: ruleKindSchema,
  description: z.string(),
  enabled: z.boolean(),
  params: z.record(z.string(), z.unknown()),
  silencedUntil: z.string().nullable(),
  updatedAt: z.string(),
});
export type Rule = z.infer<typeof ruleSchema>;

export const updateRuleSchema = z.strictObject({
  enabled: z.boolean().optional(),
  params: z.record(z.string(), z.unknown()).optional(),
  /** Notifications of this rule are held until then (null lifts the silence). */
  silencedUntil: z.string().datetime({ offset: true }).nullable().optional(),
});

export const alertSchema = z.object({
  id: z.string().uuid(),
  ruleKind: ruleKindSchema,
  subject: z.string(),
  severity: z.enum(['info', 'warning', 'critical']),
  title: z.string(),
  summary: z.string(),
  orgId: z.string().nullable(),
  orgName: z.string().nullable(),
  featureIds: z.array(z.string()),
  featureSlugs: z.array(z.string()),
  state: z.enum(['firing', 'resolved']),
  startedAt: z.string(),
  lastSeenAt: z.string(),
  resolvedAt: z.string().nullable(),
  acknowledgedAt: z.string().nullable(),
  acknowledgedBy: z.string().nullable(),
  silencedUntil: z.string().nullable(),
});
export type Alert = z.infer<typeof alertSchema>;

export const alertListQuerySchema = z.strictObject({
  state: z.enum(['firing', 'resolved', 'all']).default('all'),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
export const silenceSchema = z.strictObject({ until: z.string().datetime({ offset: true }) });

export const CHANNEL_KINDS = ['webhook', 'slack', 'email'] as const;
const url = z.string().url().max(2000).regex(/^https?:\/\//, 'must be an http(s) URL');
export const createChannelSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('webhook'), name: z.string().trim().min(1).max(100), url, secret: z.string().min(16).max(200), enabled: z.boolean().default(true) }),
  z.strictObject({ kind: z.literal('slack'), name: z.string().trim().min(1).max(100), url, enabled: z.boolean().default(true) }),
  z.strictObject({ kind: z.literal('email'), name: z.string().trim().min(1).max(100), to: z.array(z.string().email()).min(1).max(20), enabled: z.boolean().default(true) }),
]);
export type CreateChannel = z.infer<typeof createChannelSchema>;
export const updateChannelSchema = z.strictObject({ name: z.string().trim().min(1).max(100).optional(), enabled: z.boolean().optional() });

export const channelSchema = z.object({
  id: z.string().uuid(),
  name: z.string(),
  kind: z.enum(CHANNEL_KINDS),
  /** Webhook/Slack: the URL's origin only (the rest may carry a token); email: the recipients. */
  target: z.string(),
  /** The sealed secret, masked (webhook signing secret, or Slack's URL). */
  secretMasked: z.string().nullable(),
  enabled: z.boolean(),
  createdAt: z.string(),
});
export type Channel = z.infer<typeof channelSchema>;

export const deliverySchema = z.object({
  id: z.string(),
  alertId: z.string().nullable(),
  alertTitle: z.string().nullable(),
  channelId: z.string(),
  channelName: z.string(),
  event: z.enum(['firing', 'resolved', 'test']),
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number(),
  responseCode: z.number().nullable(),
  error: z.string().nullable(),
  createdAt: z.string(),
  deliveredAt: z.string().nullable(),
  nextAttemptAt: z.string().nullable(),
});
export type Delivery = z.infer<typeof deliverySchema>;

export const FEATURE_STATES = ['ok', 'throttled', 'billing_failure', 'upstream_errors', 'budget_exhausted', 'paused'] as const;
export type FeatureState = (typeof FEATURE_STATES)[number];
export const FEATURE_STATE_LABELS: Record<FeatureState, string> = {
  ok: 'OK',
  throttled: 'Throttled',
  billing_failure: 'Billing failure',
  upstream_errors: 'Upstream errors',
  budget_exhausted: 'Budget exhausted',
  paused: 'Paused by a hard limit',
};
export const featureHealthSchema = z.object({
  featureId: z.string(),
  featureSlug: z.string(),
  featureName: z.string(),
  orgId: z.string(),
  orgName: z.string(),
  state: z.enum(FEATURE_STATES),
  /** Since when the feature is in this state (null for ok with no recent trouble). */
  since: z.string().nullable(),
  /** One line: why (e.g. "12 of 15 calls failed with insufficient_quota in 5 min"). */
  reason: z.string(),
  requests: z.number(),
});
export type FeatureHealth = z.infer<typeof featureHealthSchema>;
export const featureHealthListSchema = z.object({ windowMinutes: z.number(), features: z.array(featureHealthSchema) });
export type FeatureHealthList = z.infer<typeof featureHealthListSchema>;

/** Admins and finance also get each alert's details (spend and amount for budget alerts: money); engineers do not. */
export const alertWithDetailsSchema = alertSchema.extend({ details: z.record(z.string(), z.unknown()).optional() });
export const alertListSchema = z.object({ alerts: z.array(alertWithDetailsSchema) });
export type AlertList = z.infer<typeof alertListSchema>;
export const deliveryListQuerySchema = z.strictObject({ channel: z.string().uuid().optional() });

const idParams = z.strictObject({ id: z.string().uuid() });

export const alertRoutes = defineRoutes({
  listAlerts: { method: 'GET', path: '/api/alerts', summary: 'Alerts, newest first: ?state=firing for what fires now, resolved, or all', roles: ['finance', 'engineer'], query: alertListQuerySchema, response: alertListSchema },
  alertRules: { method: 'GET', path: '/api/alerts/rules', summary: 'Every alert rule with its parameters, on/off and silence', roles: ['finance', 'engineer'], response: z.object({ rules: z.array(ruleSchema) }) },
  updateAlertRule: { method: 'PATCH', path: '/api/alerts/rules/:kind', summary: 'Turn a rule on or off, tune its parameters, silence it (audited)', roles: [], params: z.strictObject({ kind: ruleKindSchema }), body: updateRuleSchema, response: ruleSchema },
  evaluateAlerts: { method: 'POST', path: '/api/alerts/evaluate', summary: 'Run every rule now; answers what fires', roles: [], response: alertListSchema },
  acknowledgeAlert: { method: 'POST', path: '/api/alerts/:id/acknowledge', summary: 'Acknowledge an alert (audited)', roles: [], params: idParams, response: alertSchema },
  silenceAlert: { method: 'POST', path: '/api/alerts/:id/silence', summary: "Hold an alert's notifications until a time (audited)", roles: [], params: idParams, body: silenceSchema, response: alertSchema },
  featureHealth: { method: 'GET', path: '/api/alerts/feature-health', summary: 'Each feature now: OK, throttled, billing failure, upstream errors, budget exhausted or paused, and why', roles: ['finance', 'engineer'], response: featureHealthListSchema },
  listAlertChannels: { method: 'GET', path: '/api/alerts/channels', summary: 'Notification channels (webhook, Slack, email), secrets masked', roles: ['finance', 'engineer'], response: z.object({ channels: z.array(channelSchema) }) },
  createAlertChannel: { method: 'POST', path: '/api/alerts/channels', summary: 'Add a webhook, Slack or email channel (audited)', roles: [], body: createChannelSchema, response: channelSchema, status: 201 },
  updateAlertChannel: { method: 'PATCH', path: '/api/alerts/channels/:id', summary: 'Rename a channel or turn it on or off (audited)', roles: [], params: idParams, body: updateChannelSchema, response: channelSchema },
  deleteAlertChannel: { method: 'DELETE', path: '/api/alerts/channels/:id', summary: 'Delete a channel (audited)', roles: [], params: idParams, response: null, status: 204 },
  testAlertChannel: { method: 'POST', path: '/api/alerts/channels/:id/test', summary: 'Queue a test notification to a channel', roles: [], params: idParams, response: z.object({ deliveryId: z.string() }), status: 202 },
  listAlertDeliveries: { method: 'GET', path: '/api/alerts/deliveries', summary: 'The last 200 notification deliveries (?channel= for one channel), with status and attempts', roles: ['finance', 'engineer'], query: deliveryListQuerySchema, response: z.object({ deliveries: z.array(deliverySchema) }) },
});
