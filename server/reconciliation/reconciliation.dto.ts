// OpenAI's admin API pages (as its reference defines them). The report's queries and answers are the
// API contract's (server/contract/reconciliation.ts), re-exported here for existing imports.
import { z } from 'zod';
import type { StatementGapKind } from './reconciliation.types.js';

const nullableString = z.string().nullable().optional();

/** A usage result (`organization.usage.*.result`) or a costs result (`organization.costs.result`). */
export const adminResultSchema = z
  .object({
    object: z.string(),
    input_tokens: z.number().int().optional(),
    input_cached_tokens: z.number().int().optional(),
    output_tokens: z.number().int().optional(),
    num_model_requests: z.number().int().optional(),
    num_requests: z.number().int().optional(),
    num_sessions: z.number().int().optional(),
    model: nullableString,
    api_key_id: nullableString,
    project_id: nullableString,
    batch: z.boolean().nullable().optional(),
    line_item: nullableString,
    // Kept as the decimal text OpenAI sent (the client quotes it before parsing).
    amount: z.object({ value: z.string().regex(/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/), currency: z.string() }).optional(),
    quantity: z.number().nullable().optional(),
    quantity_unit: nullableString,
  })
  .passthrough();
export type AdminResult = z.infer<typeof adminResultSchema>;

export const adminBucketSchema = z.object({
  object: z.literal('bucket'),
  start_time: z.number().int(),
  end_time: z.number().int(),
  results: z.array(adminResultSchema),
});
export type AdminBucket = z.infer<typeof adminBucketSchema>;

export const adminPageSchema = z.object({
  object: z.literal('page'),
  data: z.array(adminBucketSchema),
  has_more: z.boolean(),
  next_page: z.string().nullable(),
});
export type AdminPage = z.infer<typeof adminPageSchema>;

// The report's queries and answers are the API contract's (server/contract/reconciliation.ts).
export * from '../contract/reconciliation.js';
