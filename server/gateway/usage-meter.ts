// Moved to ./meters/ (one file per body shape); kept so existing imports keep working.
export * from './meters/reading.js';
export { SseMeter } from './meters/sse.js';
export { countTokens, estimateUsage, promptText } from './meters/estimate.js';
