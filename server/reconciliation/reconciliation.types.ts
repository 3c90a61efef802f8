// The reconciliation's part of a monthly statement: plain types, shared with the dashboard (client/).

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
