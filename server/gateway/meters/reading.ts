// The usage reader lives with pricing (server/pricing/usage-reading.ts): batches read their output
// files with it too. Kept so the gateway's meters import it from here.
export * from '../../pricing/usage-reading.js';
