// Moved to the API contract (server/contract/analytics.ts, statements.ts). Kept so existing imports keep working.
export * from '../contract/analytics.js';
export { statementQuerySchema, type StatementQueryInput } from '../contract/statements.js';
