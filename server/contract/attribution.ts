// The attribution API's shapes (docs/attribution.md): tag declarations, a feature's default and
// required tags, and statements per tag value. Shared by the server's validation and the dashboard.
import { z } from 'zod';
import { TAG_NAME, TAG_NAME_MAX, TAG_VALUE_MAX, TAGS_MAX } from '../ledger/bounds.js';

export const tagName = z
  .string()
  .max(TAG_NAME_MAX, `a tag name has at most ${TAG_NAME_MAX} characters`)
  .regex(TAG_NAME, 'a tag name is lower-case letters, digits, "_", "-" or ".", starting with a letter or digit (customer, env, team-id)');
export const tagValue = z.string().min(1).max(TAG_VALUE_MAX);

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

export interface TagDeclaration {
  name: string;
  description: string;
  maxValues: number;
  maxLength: number;
  /** Distinct values admitted so far this UTC month (this replica's view). */
  valuesThisMonth: number;
  createdAt: string;
  updatedAt: string;
}

export const featureAttributionSchema = z.strictObject({
  /** Tags every call of the feature carries unless the call sends its own value. */
  defaultTags: z.record(tagName, tagValue).refine((t) => Object.keys(t).length <= TAGS_MAX, `at most ${TAGS_MAX} default tags`).default({}),
  /** Tags a call must end up with (sent, or from the defaults): without them it is refused with a 400. */
  requiredTags: z.array(tagName).max(TAGS_MAX).default([]),
});
export type FeatureAttributionInput = z.infer<typeof featureAttributionSchema>;

export interface FeatureAttribution {
  featureId: string;
  defaultTags: Record<string, string>;
  requiredTags: string[];
}

/** GET /api/analytics/tags: the tag names with traffic or a declaration, and their values (no money). */
export interface TagCatalog {
  tags: Array<{ name: string; declared: boolean; values: string[] }>;
  /** Whether any end user was seen in the range asked for. */
  endUsers: boolean;
}

export const tagStatementQuerySchema = z.strictObject({
  feature: z.string().min(1).max(200),
  month: z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'expected a month such as 2025-11'),
  /** The tag whose values get a line each, or `endUser`. */
  tag: z.union([tagName, z.literal('endUser')]),
  /** Only this value's lines (the total stays the feature's). */
  value: tagValue.optional(),
  tz: z.string().min(1).max(64).default('UTC'),
  format: z.enum(['json', 'csv']).default('json'),
});
export type TagStatementQuery = z.infer<typeof tagStatementQuerySchema>;

export interface TagStatementLine {
  /** The tag's value; null for "(other)" (past the tag's cap) and for "(untagged)" (see `kind`). */
  value: string | null;
  kind: 'value' | 'other' | 'untagged';
  model: string | null;
  requests: number;
  inputTokens: number;
  cachedTokens: number;
  outputTokens: number;
  costNanos: string;
  costUsd: string;
  unpricedRequests: number;
}

export interface TagStatement {
  feature: { id: string; slug: string };
  month: string;
  tz: string;
  tag: string;
  lines: TagStatementLine[];
  /** Per value: what "what did acme cost us in November?" answers. */
  subtotals: Array<{ value: string | null; kind: TagStatementLine['kind']; costNanos: string; costUsd: string; requests: number; unpricedRequests: number }>;
  /** The feature's month: the lines add up to it exactly. */
  total: { costNanos: string; costUsd: string; requests: number; unpricedRequests: number };
}
