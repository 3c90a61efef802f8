// The moderation API's shapes: a feature's policy (set by admins), and what engineers and admins read.
import { z } from 'zod';
import { CATEGORIES, FAIL_MODES, GUARDRAIL_MODES, PRESETS } from '../moderation/policy.js';

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
