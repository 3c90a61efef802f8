// What the statement API answers: plain types, shared with the dashboard (client/), so the two
// cannot drift apart.
import type { UnitPrices } from '../pricing/cost.js';
import type { StatementReconciliation } from '../reconciliation/reconciliation.types.js';

// The reconciliation owns its part of the statement (analytics reads it, never the reverse).
export type { SidedAmount, StatementGapKind, StatementReconciliation } from '../reconciliation/reconciliation.types.js';

/**
 * Every rate of the price, as the pricing code names them (USD per 1M tokens or characters, per audio
 * minute, per image by `size/quality`, per 1,000 tool calls); null where the price has none.
 */
export type PriceRatesUsd = Required<Omit<UnitPrices, 'longContext'>>;

export interface UnitPricesUsd extends PriceRatesUsd {
  priceId: number;
  effectiveFrom: string;
  serviceTier: string;
  /** The price row was replaced by a later correction (the events were charged at it before). */
  retired: boolean;
}

export interface StatementLine {
  featureId: string | null;
  feature: string;
  model: string | null;
  requests: number;
  inputTokens: number;
  cachedTokens: number;
  audioInputTokens: number;
  outputTokens: number;
  reasoningTokens: number;
  audioSeconds: string;
  /** Rounded to 4 decimals for reading; audioSeconds is exact. */
  audioMinutes: string;
  /** Part of outputTokens that is audio (speech, audio chat), and parts of input/output that are image tokens (gpt-image). */
  audioOutputTokens: number;
  imageInputTokens: number;
  imageOutputTokens: number;
  /** Speech input characters (tts-1, tts-1-hd). */
  characters: number;
  /** Images priced per image (dall-e). */
  images: number;
  /** Built-in tool calls priced per call. */
  webSearchCalls: number;
  webSearchPreviewCalls: number;
  fileSearchCalls: number;
  unitPrices: UnitPricesUsd | null;
  costNanos: string;
  costUsd: string;
  estimatedRequests: number;
  /** Requests with no price: tokens are counted, cost is unknown and not in costNanos. */
  unpricedRequests: number;
}

export interface Statement {
  org: { id: string; name: string };
  month: string;
  tz: string;
  from: string;
  to: string;
  currency: 'USD';
  approximate: boolean;
  lines: StatementLine[];
  total: Omit<StatementLine, 'featureId' | 'feature' | 'model' | 'unitPrices'>;
  reconciliation: StatementReconciliation;
}
