// Shapes at reconciliation's edges: OpenAI's admin API pages (as its reference defines them), the report's
// queries, and what the API answers. Money is integer nano-dollars as decimal strings (never floats).
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

const isoDay = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a UTC day, YYYY-MM-DD');

export const reportQuerySchema = z.strictObject({
  from: isoDay,
  /** Inclusive. */
  to: isoDay,
  org: z.string().uuid().optional(),
});
export type ReportQuery = z.infer<typeof reportQuerySchema>;

export const syncRequestSchema = z.strictObject({ orgId: z.string().uuid().optional() });

/** One side's numbers for an org × day (or × model, or × key). */
export interface SideFigures {
  requests: number;
  inputTokens: number;
  cachedTokens: number;
  outputTokens: number;
  /** Nano-dollars as a decimal string; null where the side has no cost (OpenAI's usage without a costs line). */
  costNanos: string;
}

export interface LedgerFigures extends SideFigures {
  estimatedRequests: number;
  estimatedCostNanos: string;
  unpricedRequests: number;
}

/** Named once, in the statement's shared types (the dashboard reads them). */
export type GapKind = StatementGapKind;

export interface Gap {
  kind: GapKind;
  /** OpenAI minus ledger, in nano-dollars, that this cause accounts for. */
  nanos: string;
  model?: string;
  detail: string;
  /** outside_tallygate: the OpenAI key ids and what each spent. */
  keys?: Array<{ apiKeyId: string; requests: number; costNanos: string }>;
  /** unmetered: the line item. */
  lineItem?: string;
  /** price: USD per 1M tokens OpenAI's bill implies, beside Tallygate's (null: none). */
  impliedPrice?: { input: string | null; output: string | null };
}

export interface ModelLine {
  model: string;
  ledger: LedgerFigures;
  /** OpenAI's figures for calls made with the org's upstream keys in Tallygate. */
  openai: SideFigures;
  differenceNanos: string;
}

export interface OrgDayLine {
  day: string;
  orgId: string;
  orgName: string;
  ledger: LedgerFigures;
  /** Everything OpenAI billed the org that day: through Tallygate, outside it, and not metered per call. */
  openai: SideFigures;
  /** OpenAI minus ledger. */
  differenceNanos: string;
  /** Difference as a percentage of OpenAI's cost, two decimals; null when OpenAI's cost is 0. */
  differencePercent: string | null;
  gaps: Gap[];
  models: ModelLine[];
  /** OpenAI's numbers for this day were last synced before it ended: calls after the sync are only in the ledger yet. */
  partial: boolean;
}

export interface OrgReconciliationState {
  orgId: string;
  orgName: string;
  /** false: no admin key, reconciliation is off for this org. */
  enabled: boolean;
  /** Upstream keys without OpenAI's key id: their traffic cannot be told from traffic outside Tallygate. */
  keysWithoutOpenaiId: number;
  sync: SyncStatus;
}

export interface SyncStatus {
  running: boolean;
  bucketsDone: number;
  bucketsTotal: number;
  /** ISO time the running sync is expected to end, from its pace so far; null when idle or unknown. */
  eta: string | null;
  lastSuccessAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  /** Oldest watermark across endpoints: OpenAI's numbers are complete up to here. */
  syncedUntil: string | null;
}

export interface ReconciliationReport {
  from: string;
  to: string;
  orgs: OrgReconciliationState[];
  days: OrgDayLine[];
  totals: { ledgerCostNanos: string; openaiCostNanos: string; differenceNanos: string };
}

export interface KeyLine {
  apiKeyId: string;
  /** The Tallygate upstream key with this OpenAI id (masked), or null: outside Tallygate. */
  upstreamKey: { id: string; masked: string; label: string } | null;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  costNanos: string;
}
