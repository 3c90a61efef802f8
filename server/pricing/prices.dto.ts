// Moved to the API contract (server/contract/prices.ts). Kept so existing imports keep working.
export * from '../contract/prices.js';
