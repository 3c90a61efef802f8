// /api/headroom and /api/throttling: rate-limit headroom per org and model, and 429s per feature
// (engineers; docs/api-ratelimits.md).
import { z } from 'zod';
import { count, dataOf, instant } from './common.js';
import { errorsResponseSchema, orgStateSchema } from './errors.js';
import { defineRoutes } from './route.js';

const MAX_RANGE_MS = 31 * 24 * 3_600_000;
const DEFAULT_RANGE_MS = 3_600_000;

const time = z.iso.datetime({ offset: true }).transform((v) => new Date(v));

/** A time range (default: the last hour, at most 31 days) and optional filters. */
export const rangeQuerySchema = z
  .strictObject({
    from: time.optional(),
    to: time.optional(),
    /** Tallygate org id (uuid) or OpenAI org id (`org-…`). */
    org: z.string().min(1).max(100).optional(),
    /** Feature id (uuid) or slug. */
    feature: z.string().min(1).max(100).optional(),
    /** Model or model family (`gpt-4o-2024-08-06` is read as `gpt-4o`). */
    model: z.string().min(1).max(200).optional(),
  })
  .transform((q) => {
    const to = q.to ?? new Date();
    const from = q.from ?? new Date(to.getTime() - DEFAULT_RANGE_MS);
    return { ...q, from, to };
  })
  .refine((q) => q.from < q.to, { message: 'from must be before to', path: ['from'] })
  .refine((q) => q.to.getTime() - q.from.getTime() <= MAX_RANGE_MS, { message: 'the range may span at most 31 days', path: ['from'] });

export const latestQuerySchema = z.strictObject({
  org: z.string().min(1).max(100).optional(),
  feature: z.string().min(1).max(100).optional(),
  model: z.string().min(1).max(200).optional(),
  /** For "closest to the limit": how many to return. */
  limit: z.coerce.number().int().min(1).max(500).default(10),
});
export type RangeQuery = z.infer<typeof rangeQuerySchema>;
export type LatestQuery = z.infer<typeof latestQuerySchema>;

// ---------------------------------------------------------------- answers

export const orgRefSchema = z.object({ id: z.string(), name: z.string(), openaiOrgId: z.string() });
export type OrgRef = z.infer<typeof orgRefSchema>;
export const featureRefSchema = z.object({ id: z.string().nullable(), slug: z.string().nullable() });
export type FeatureRef = z.infer<typeof featureRefSchema>;

export const headroomSchema = z.object({
  limit: z.number(),
  remaining: z.number(),
  /** Time from the observation until the window was full again. */
  resetMs: z.number().nullable(),
  resetAt: instant.nullable(),
  /** 1 - remaining / limit, when observed. */
  utilisation: z.number(),
  /** The same, refilled linearly until resetAt: what is left of it now. */
  utilisationNow: z.number(),
  /** limit × (1 - utilisationNow): what can be sent now, on the same projection. */
  remainingNow: z.number(),
});
export type Headroom = z.infer<typeof headroomSchema>;

export const latestHeadroomSchema = z.object({
  org: orgRefSchema,
  model: z.string(),
  observedAt: instant,
  requests: headroomSchema.nullable(),
  tokens: headroomSchema.nullable(),
  projectTokens: headroomSchema.nullable(),
  /** The highest utilisationNow of the three. */
  utilisationNow: z.number(),
  /** Whether the org's recent calls fail upstream (billing, its key, 5xx): room under a limit is no use then. */
  orgState: orgStateSchema.optional(),
});
export type LatestHeadroom = z.infer<typeof latestHeadroomSchema>;

const nullableNumber = z.number().nullable();
export const headroomPointSchema = z.object({
  minute: instant,
  observedAt: instant,
  requestsUtilisation: nullableNumber,
  tokensUtilisation: nullableNumber,
  projectTokensUtilisation: nullableNumber,
  /** From the lowest remaining value seen during the minute. */
  peakRequestsUtilisation: nullableNumber,
  peakTokensUtilisation: nullableNumber,
  limitRequests: nullableNumber,
  remainingRequests: nullableNumber,
  limitTokens: nullableNumber,
  remainingTokens: nullableNumber,
  observations: count,
});
export type HeadroomPoint = z.infer<typeof headroomPointSchema>;

export const throttleCountsSchema = z.object({
  requests: count,
  rateLimitRequests: count,
  rateLimitTokens: count,
  requestTooLarge: count,
  /** Billing (insufficient_quota and its newer codes): not throttling. */
  quota: count,
  /** Answered 429 by the gateway's own pacing, without calling OpenAI. */
  paced: count,
  retries: count,
  /** rateLimitRequests + rateLimitTokens + requestTooLarge. */
  throttled: count,
});
export type ThrottleCounts = z.infer<typeof throttleCountsSchema>;

export const ANONYMOUS_REASONS = ['missing_key', 'malformed_key', 'unknown_key', 'key_unverified'] as const;
export const anonymousMinuteSchema = z.object({ minute: instant, reason: z.enum(ANONYMOUS_REASONS), requests: count });
export type AnonymousMinute = z.infer<typeof anonymousMinuteSchema>;

export const headroomSeriesSchema = z.object({ org: orgRefSchema, model: z.string(), points: z.array(headroomPointSchema) });
export const throttlingSeriesSchema = z.object({
  org: orgRefSchema,
  feature: featureRefSchema,
  model: z.string().nullable(),
  points: z.array(throttleCountsSchema.extend({ minute: instant })),
});
export const throttlingSummaryRowSchema = throttleCountsSchema.extend({ org: orgRefSchema, feature: featureRefSchema, throttleRate: z.number() });
export type ThrottlingSummaryRow = z.infer<typeof throttlingSummaryRowSchema>;

/** Ranged answers say the range they cover. */
const ranged = <T extends z.ZodType>(item: T) => z.object({ from: instant, to: instant, data: z.array(item) });

const engineer = ['engineer'] as const;
export const rateLimitRoutes = defineRoutes({
  latest: { method: 'GET', path: '/api/headroom/latest', summary: 'Latest limit, remaining and reset per org and model, with utilisation then and now', roles: engineer, query: latestQuerySchema, response: dataOf(latestHeadroomSchema) },
  closest: { method: 'GET', path: '/api/headroom/closest', summary: 'The org and model pairs closest to their limit now', roles: engineer, query: latestQuerySchema, response: dataOf(latestHeadroomSchema) },
  series: {
    method: 'GET', path: '/api/headroom/series', summary: 'Utilisation per minute over a time range, and since when history is kept', roles: engineer, query: rangeQuerySchema,
    response: ranged(headroomSeriesSchema).extend({
      /** The oldest minute kept (RATELIMIT_HISTORY_DAYS prunes older ones); null when none. */
      historySince: instant.nullable(),
      historyDays: z.number().int(),
    }),
  },
  throttlingSeries: { method: 'GET', path: '/api/throttling/series', summary: '429s by kind and SDK retries per feature, org, model and minute', roles: engineer, query: rangeQuerySchema, response: ranged(throttlingSeriesSchema) },
  throttlingErrors: { method: 'GET', path: '/api/throttling/errors', summary: 'Failed calls by kind (billing, upstream key, 5xx, gateway, rate limit, request) per org and feature, with the episodes they came in', roles: engineer, query: rangeQuerySchema, response: errorsResponseSchema },
  anonymous: { method: 'GET', path: '/api/throttling/anonymous', summary: 'Requests without a key Tallygate issued, per minute and reason', roles: engineer, query: rangeQuerySchema, response: ranged(anonymousMinuteSchema) },
  throttlingSummary: { method: 'GET', path: '/api/throttling/summary', summary: 'Totals per feature and org over a time range, most throttled first', roles: engineer, query: rangeQuerySchema, response: ranged(throttlingSummaryRowSchema) },
});
