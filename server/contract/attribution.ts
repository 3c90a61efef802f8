// The attribution API's shapes (docs/attribution.md): tag declarations, a feature's default and
// required tags, and statements per tag value. Shared by the server's validation and the dashboard.
import { z } from 'zod';
import { timeParam, tz } from './analytics.js';
import { count, instant, nanos, TAG_VALUE_MAX, TAGS_MAX, tagName, tagValue, usd, uuid } from './common.js';
import { defineRoutes } from './route.js';

export { tagName, tagValue } from './common.js';

export const declareTagSchema = z.strictObject({
  name: tagName,
  description: z.string().max(500).default(''),
  /** Distinct values kept per UTC month; later values are recorded as "other". Default: ATTRIBUTION_MAX_VALUES. */
  maxValues: z.number().int().min(1).max(100_000).optional(),
  /** Longest value kept (longer ones are cut). */
  maxLength: z.number().int().min(1).max(TAG_VALUE_MAX).default(TAG_VALUE_MAX),
});
export type DeclareTag = z.infer<typeof declareTagSchema>;
export const updateTagSchema = declareTagSchema.omit({ name: true }).partial();
export type UpdateTag = z.infer<typeof updateTagSchema>;

export const tagDeclarationSchema = z.object({
  name: z.string(),
  description: z.string(),
  maxValues: count,
  maxLength: count,
  /** Distinct values admitted so far this UTC month (this replica's view). */
  valuesThisMonth: count,
  createdAt: instant,
  updatedAt: instant,
});
export type TagDeclaration = z.infer<typeof tagDeclarationSchema>;

export const featureAttributionSchema = z.strictObject({
  /** Tags every call of the feature carries unless the call sends its own value. */
  defaultTags: z.record(tagName, tagValue).refine((t) => Object.keys(t).length <= TAGS_MAX, `at most ${TAGS_MAX} default tags`).default({}),
  /** Tags a call must end up with (sent, or from the defaults): without them it is refused with a 400. */
  requiredTags: z.array(tagName).max(TAGS_MAX).default([]),
});
export type FeatureAttributionInput = z.infer<typeof featureAttributionSchema>;

export const featureAttributionResponseSchema = z.object({
  featureId: uuid,
  defaultTags: z.record(z.string(), z.string()),
  requiredTags: z.array(z.string()),
});
export type FeatureAttribution = z.infer<typeof featureAttributionResponseSchema>;

export const tagCatalogQuerySchema = z.strictObject({ from: timeParam, to: timeParam, tz });

/** GET /api/analytics/tags: the tag names with traffic or a declaration, and their values (no money). */
export const tagCatalogSchema = z.object({
  tags: z.array(z.object({ name: z.string(), declared: z.boolean(), values: z.array(z.string()) })),
  /** Whether any end user was seen in the range asked for. */
  endUsers: z.boolean(),
});
export type TagCatalog = z.infer<typeof tagCatalogSchema>;

export const tagStatementQuerySchema = z.strictObject({
  feature: z.string().min(1).max(200),
  month: z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'expected a month such as 2025-11'),
  /** The tag whose values get a line each, or `endUser`. */
  tag: z.union([tagName, z.literal('endUser')]),
  /** Only this value's lines (the total stays the feature's). */
  value: tagValue.optional(),
  tz,
  format: z.enum(['json', 'csv']).default('json'),
});
export type TagStatementQuery = z.infer<typeof tagStatementQuerySchema>;

const tagLineKind = z.enum(['value', 'other', 'untagged']);
export const tagStatementLineSchema = z.object({
  /** The tag's value; null for "(other)" (past the tag's cap) and for "(untagged)" (see `kind`). */
  value: z.string().nullable(),
  kind: tagLineKind,
  model: z.string().nullable(),
  requests: count,
  inputTokens: count,
  cachedTokens: count,
  outputTokens: count,
  costNanos: nanos,
  costUsd: usd,
  unpricedRequests: count,
});
export type TagStatementLine = z.infer<typeof tagStatementLineSchema>;

const moneyAndRequests = { costNanos: nanos, costUsd: usd, requests: count, unpricedRequests: count };
export const tagStatementSchema = z.object({
  feature: z.object({ id: uuid, slug: z.string() }),
  month: z.string(),
  tz: z.string(),
  tag: z.string(),
  lines: z.array(tagStatementLineSchema),
  /** Per value: what "what did acme cost us in November?" answers. */
  subtotals: z.array(z.object({ value: z.string().nullable(), kind: tagLineKind, ...moneyAndRequests })),
  /** The feature's month: the lines add up to it exactly. */
  total: z.object(moneyAndRequests),
});
export type TagStatement = z.infer<typeof tagStatementSchema>;

const tagParams = z.strictObject({ name: tagName });
/** A feature by id or slug. */
const featureParams = z.strictObject({ id: z.string().min(1).max(200) });

export const attributionAdminRoutes = defineRoutes({
  listTags: { method: 'GET', path: '/api/admin/tags', summary: 'Declared tags with their limits and values this month', roles: ['admin'], response: z.array(tagDeclarationSchema) },
  declareTag: { method: 'POST', path: '/api/admin/tags', summary: 'Declare a tag (its value cap and longest value)', roles: ['admin'], body: declareTagSchema, response: tagDeclarationSchema, status: 201 },
  updateTag: { method: 'PATCH', path: '/api/admin/tags/:name', summary: "Change a declared tag's limits or description", roles: ['admin'], params: tagParams, body: updateTagSchema, response: tagDeclarationSchema },
  removeTag: { method: 'DELETE', path: '/api/admin/tags/:name', summary: 'Remove a tag declaration (recorded values stay)', roles: ['admin'], params: tagParams, response: z.object({ removed: z.string() }) },
  featureAttribution: { method: 'GET', path: '/api/admin/features/:id/attribution', summary: "A feature's default and required tags", roles: ['admin'], params: featureParams, response: featureAttributionResponseSchema },
  setFeatureAttribution: { method: 'PUT', path: '/api/admin/features/:id/attribution', summary: "Set a feature's default and required tags", roles: ['admin'], params: featureParams, body: featureAttributionSchema, response: featureAttributionResponseSchema },
});

export const attributionAnalyticsRoutes = defineRoutes({
  tagCatalog: { method: 'GET', path: '/api/analytics/tags', summary: 'Tag names and their busiest values in a range, for the filter bar (no money)', roles: ['finance', 'engineer'], query: tagCatalogQuerySchema, response: tagCatalogSchema },
  tagStatement: {
    method: 'GET', path: '/api/analytics/tag-statements', summary: "A feature's month per value of a tag or per end user, adding up to the feature's month", roles: ['finance'],
    query: tagStatementQuerySchema, response: tagStatementSchema, csv: 'also',
  },
});
