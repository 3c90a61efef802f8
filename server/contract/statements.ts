// /api/analytics/statements: an org's monthly statement (JSON or CSV), with the month beside OpenAI's bill.
import { z } from 'zod';
import { count, nanos, usd, uuid } from './common.js';
import { tz } from './analytics.js';
import { unitRatesSchema } from './prices.js';
import { defineRoutes } from './route.js';

export const statementQuerySchema = z.strictObject({
  org: z.uuid({ message: 'expected an org id (uuid)' }),
  month: z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'expected a month such as 2025-03'),
  tz,
  format: z.enum(['json', 'csv']).default('json'),
});
export type StatementQueryInput = z.infer<typeof statementQuerySchema>;

/**
 * Every rate of the price, as the pricing code names them (USD per 1M tokens or characters, per audio
 * minute, per image by `size/quality`, per 1,000 tool calls); null where the price has none.
 */
export const unitPricesUsdSchema = unitRatesSchema.omit({ longContext: true }).extend({
  priceId: z.number().int(),
  effectiveFrom: z.string(),
  serviceTier: z.string(),
  /** The price row was replaced by a later correction (the events were charged at it before). */
  retired: z.boolean(),
});
export type UnitPricesUsd = z.infer<typeof unitPricesUsdSchema>;
export type PriceRatesUsd = Omit<UnitPricesUsd, 'priceId' | 'effectiveFrom' | 'serviceTier' | 'retired'>;

const lineFigures = {
  requests: count,
  inputTokens: count,
  cachedTokens: count,
  audioInputTokens: count,
  outputTokens: count,
  reasoningTokens: count,
  audioSeconds: z.string(),
  /** Rounded to 4 decimals for reading; audioSeconds is exact. */
  audioMinutes: z.string(),
  /** Part of outputTokens that is audio (speech, audio chat), and parts of input/output that are image tokens (gpt-image). */
  audioOutputTokens: count,
  imageInputTokens: count,
  imageOutputTokens: count,
  /** Speech input characters (tts-1, tts-1-hd). */
  characters: count,
  /** Images priced per image (dall-e). */
  images: count,
  /** Built-in tool calls priced per call. */
  webSearchCalls: count,
  webSearchPreviewCalls: count,
  fileSearchCalls: count,
  costNanos: nanos,
  costUsd: usd,
  estimatedRequests: count,
  /** Requests with no price: tokens are counted, cost is unknown and not in costNanos. */
  unpricedRequests: count,
};
export const statementLineSchema = z.object({
  featureId: z.string().nullable(),
  feature: z.string(),
  model: z.string().nullable(),
  ...lineFigures,
  /** Calls that did not end ok (OpenAI bills nothing for most): why a line can be $0. Lines only. */
  failedRequests: count.optional(),
  /** Calls OpenAI does not bill per call (moderations, files, vector stores). Lines only. */
  notMeteredRequests: count.optional(),
  unitPrices: unitPricesUsdSchema.nullable(),
});
export type StatementLine = z.infer<typeof statementLineSchema>;

/** A reconciliation gap's kind, as the reconciliation report names them (docs/reconciliation.md). */
export const GAP_KINDS = ['outside_tallygate', 'estimated', 'unmetered', 'price', 'unexplained'] as const;
export const gapKind = z.enum(GAP_KINDS);
export type StatementGapKind = z.infer<typeof gapKind>;

/** An amount with the side it comes from, nano-dollars exact and USD for reading. */
export const sidedAmountSchema = z.object({ side: z.enum(['openai', 'ledger', 'openai_minus_ledger']), costNanos: nanos, costUsd: usd });
export type SidedAmount = z.infer<typeof sidedAmountSchema>;

/**
 * The month beside OpenAI's bill, from the reconciliation (docs/reconciliation.md): per UTC day of the month,
 * whatever the statement's time zone, since OpenAI's costs come in UTC days.
 */
export const statementReconciliationSchema = z.object({
  /** complete: OpenAI's numbers synced past the month's end; partial: synced only up to `syncedAt`; off: the org has no admin key. */
  status: z.enum(['complete', 'partial', 'off']),
  /** UTC days compared, inclusive. */
  from: z.string(),
  to: z.string(),
  /** When OpenAI's numbers were last synced (null: never, or off). */
  syncedAt: z.string().nullable(),
  /** Null when off. */
  openai: sidedAmountSchema.nullable(),
  ledger: sidedAmountSchema.nullable(),
  /** OpenAI minus ledger, and as a percentage of OpenAI's cost (two decimals; null when OpenAI's cost is 0). */
  difference: sidedAmountSchema.extend({ percent: z.string().nullable() }).nullable(),
  /** Every kind, in this order, with what it accounts for of the difference (OpenAI minus ledger); empty when off. */
  gaps: z.array(sidedAmountSchema.extend({ kind: gapKind })),
});
export type StatementReconciliation = z.infer<typeof statementReconciliationSchema>;

export const statementSchema = z.object({
  org: z.object({ id: uuid, name: z.string() }),
  month: z.string(),
  tz: z.string(),
  from: z.string(),
  to: z.string(),
  currency: z.literal('USD'),
  approximate: z.boolean(),
  lines: z.array(statementLineSchema),
  total: z.object(lineFigures),
  reconciliation: statementReconciliationSchema,
});
export type Statement = z.infer<typeof statementSchema>;

export const statementRoutes = defineRoutes({
  statement: {
    method: 'GET', path: '/api/analytics/statements', roles: ['finance'], query: statementQuerySchema, response: statementSchema, csv: 'also',
    summary: "An org's monthly statement per feature and model with unit prices, and the month beside OpenAI's bill (format=csv: the same as CSV)",
  },
});
