// The CSV writer is the one client/ shares (server/contract/csv.ts). Kept for existing imports.
export { csvDocument, csvField, csvRow } from '../contract/csv.js';
