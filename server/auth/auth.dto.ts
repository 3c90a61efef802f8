// Moved to the API contract (server/contract/auth.ts, users.ts): one definition shared by the API, the CLI,
// /api/docs and the dashboard. Kept so existing imports keep working; import from server/contract.
export * from '../contract/auth.js';
export * from '../contract/users.js';
