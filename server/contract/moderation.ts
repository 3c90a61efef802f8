// The moderation API's shapes: a feature's policy (set by admins), and what engineers and admins read.
import { z } from 'zod';
import { defineRoutes } from './route.js';

/** OpenAI's moderation categories (omni-moderation), in the order its responses list them. */
export const CATEGORIES = [
  'harassment',
  'harassment/threatening',
  'hate',
  'hate/threatening',
  'illicit',
  'illicit/violent',
  'self-harm',
  'self-harm/intent',
  'self-harm/instructions',
  'sexual',
  'sexual/minors',
  'violence',
  'violence/graphic',
] as const;
export type Category = (typeof CATEGORIES)[number];
export const PRESETS = ['strict', 'default', 'lenient'] as const;
export type Preset = (typeof PRESETS)[number];
export const GUARDRAIL_MODES = ['off', 'monitor', 'block'] as const;
export type GuardrailMode = (typeof GUARDRAIL_MODES)[number];
export const FAIL_MODES = ['open', 'closed'] as const;
export type FailMode = (typeof FAIL_MODES)[number];

const threshold = z.number().min(0).max(1);

export const moderationPolicyInput = z
  .object({
    preset: z.enum(PRESETS).default('default'),
    thresholds: z.partialRecord(z.enum(CATEGORIES), threshold).default({}),
    guardrail: z.enum(GUARDRAIL_MODES).default('off'),
    failMode: z.enum(FAIL_MODES).default('open'),
    timeoutMs: z.number().int().min(50).max(30_000).default(2_000),
    storeInputs: z.boolean().default(false),
  })
  .strict();
export type ModerationPolicyInput = z.infer<typeof moderationPolicyInput>;

export const moderationQuery = z
  .object({
    from: z.iso.datetime({ offset: true }),
    to: z.iso.datetime({ offset: true }),
    zone: z.string().min(1).max(64).default('UTC'),
    bucket: z.enum(['hour', 'day']).default('hour'),
    feature: z.string().min(1).max(2_000).optional(),
  })
  .strict();
export type ModerationQuery = z.infer<typeof moderationQuery>;

export const moderationPolicyView = z.object({
  featureId: z.string(),
  featureSlug: z.string(),
  featureName: z.string(),
  preset: z.enum(PRESETS),
  thresholds: z.partialRecord(z.enum(CATEGORIES), threshold),
  /** The threshold in force per category (null: OpenAI's own flag). */
  effective: z.record(z.string(), threshold.nullable()),
  guardrail: z.enum(GUARDRAIL_MODES),
  failMode: z.enum(FAIL_MODES),
  timeoutMs: z.number(),
  storeInputs: z.boolean(),
  updatedAt: z.string().nullable(),
});
export type ModerationPolicyView = z.infer<typeof moderationPolicyView>;

export const moderationSummary = z.object({
  from: z.string(),
  to: z.string(),
  bucket: z.enum(['hour', 'day']),
  /** Every bucket start of the range, empty ones included. */
  buckets: z.array(z.string()),
  categories: z.array(z.string()),
  series: z.array(
    z.object({ bucket: z.string(), featureId: z.string().nullable(), calls: z.number(), flagged: z.number(), categories: z.record(z.string(), z.number()) }),
  ),
  policies: z.array(moderationPolicyView),
  guardrailLatency: z.array(z.object({ featureId: z.string().nullable(), checks: z.number(), p50Ms: z.number().nullable(), p95Ms: z.number().nullable() })),
  recent: z.array(
    z.object({
      id: z.string(),
      createdAt: z.string(),
      featureId: z.string().nullable(),
      orgId: z.string().nullable(),
      endpoint: z.string(),
      model: z.string().nullable(),
      guardrail: z.string(),
      categories: z.array(z.string()),
      scores: z.string().nullable(),
      linkedEventId: z.string().nullable(),
      latencyMs: z.number(),
      input: z.string().nullable(),
    }),
  ),
});
export type ModerationSummary = z.infer<typeof moderationSummary>;

const featureParams = z.strictObject({ feature: z.string().min(1).max(200) });

export const moderationRoutes = defineRoutes({
  moderationPolicies: { method: 'GET', path: '/api/moderation/policies', summary: 'Every feature with its moderation policy in force', roles: ['engineer'], response: z.array(moderationPolicyView) },
  moderationPolicy: { method: 'GET', path: '/api/moderation/policies/:feature', summary: "One feature's moderation policy (slug or id)", roles: ['engineer'], params: featureParams, response: moderationPolicyView },
  moderationSummary: { method: 'GET', path: '/api/moderation/summary', summary: 'Flagged share by feature and category over time, policies, guardrail latency, recent blocks', roles: ['engineer'], query: moderationQuery, response: moderationSummary },
  setModerationPolicy: { method: 'PUT', path: '/api/admin/moderation/policies/:feature', summary: "Set a feature's moderation policy (audited)", roles: ['admin'], params: featureParams, body: moderationPolicyInput, response: moderationPolicyView },
  removeModerationPolicy: { method: 'DELETE', path: '/api/admin/moderation/policies/:feature', summary: "Back to OpenAI's own flags and no guardrail (audited)", roles: ['admin'], params: featureParams, response: moderationPolicyView },
});
