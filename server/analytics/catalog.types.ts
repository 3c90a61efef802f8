// The filter catalog's answer is the API contract's (server/contract/analytics.ts). Kept for existing imports.
export type { Catalog } from '../contract/analytics.js';
