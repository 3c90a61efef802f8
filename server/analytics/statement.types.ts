// What the statement API answers is the API contract's (server/contract/statements.ts). Kept for existing imports.
export type { PriceRatesUsd, SidedAmount, Statement, StatementGapKind, StatementLine, StatementReconciliation, UnitPricesUsd } from '../contract/statements.js';
