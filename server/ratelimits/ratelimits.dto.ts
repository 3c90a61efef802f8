// Moved to the API contract (server/contract/ratelimits.ts). Kept so existing imports keep working.
export * from '../contract/ratelimits.js';
