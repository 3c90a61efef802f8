// What the statement API answers: plain types, shared with the dashboard (client/), so the two
// cannot drift apart.
import type { UnitPrices } from '../pricing/cost.js';

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
  /** Calls that did not end ok (OpenAI bills nothing for most): why a line can be $0. Lines only. */
  failedRequests?: number;
  /** Calls OpenAI does not bill per call (moderations, files, vector stores). Lines only. */
  notMeteredRequests?: number;
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

/** A reconciliation gap's kind, as the reconciliation report names them (docs/reconciliation.md). */
export type StatementGapKind = 'outside_tallygate' | 'estimated' | 'unmetered' | 'price' | 'unexplained';

/** An amount with the side it comes from, nano-dollars exact and USD for reading. */
export interface SidedAmount {
  side: 'openai' | 'ledger' | 'openai_minus_ledger';
  costNanos: string;
  costUsd: string;
}

/**
 * The month beside OpenAI's bill, from the reconciliation (docs/reconciliation.md): per UTC day of the month,
 * whatever the statement's time zone, since OpenAI's costs come in UTC days.
 */
export interface StatementReconciliation {
  /** complete: OpenAI's numbers synced past the month's end; partial: synced only up to `syncedAt`; off: the org has no admin key. */
  status: 'complete' | 'partial' | 'off';
  /** UTC days compared, inclusive. */
  from: string;
  to: string;
  /** When OpenAI's numbers were last synced (null: never, or off). */
  syncedAt: string | null;
  /** Null when off. */
  openai: SidedAmount | null;
  ledger: SidedAmount | null;
  /** OpenAI minus ledger, and as a percentage of OpenAI's cost (two decimals; null when OpenAI's cost is 0). */
  difference: (SidedAmount & { percent: string | null }) | null;
  /** Every kind, in this order, with what it accounts for of the difference (OpenAI minus ledger); empty when off. */
  gaps: Array<SidedAmount & { kind: StatementGapKind }>;
}
