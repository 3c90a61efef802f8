// The x-ratelimit-* values one response carried, as the usage event stores them (parsed by
// ratelimits/rate-limit-headers.ts; every value optional: real responses may omit any header).
export interface RateLimitSnapshot {
  limitRequests?: number;
  remainingRequests?: number;
  resetRequestsMs?: number;
  limitTokens?: number;
  remainingTokens?: number;
  resetTokensMs?: number;
  limitProjectTokens?: number;
  remainingProjectTokens?: number;
  resetProjectTokensMs?: number;
}
