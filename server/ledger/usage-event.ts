import type { ErrorKind, RateLimitSnapshot } from '../ratelimits/rate-limit-headers.js';

export type Outcome = 'ok' | 'error' | 'client_aborted' | 'upstream_aborted';
export type UsageSource = 'reported' | 'estimated' | 'none';

/** One immutable ledger row: everything known about one request that reached the gateway. */
export interface UsageEvent {
  /** Assigned on arrival; with createdAt it makes a retried batch insert idempotent. */
  id: string;
  createdAt: Date;
  orgId: string | null;
  featureId: string | null;
  gatewayKeyId: string | null;
  endpoint: string;
  model: string | null;
  serviceTier: string | null;
  streamed: boolean;
  status: number;
  outcome: Outcome;
  errorKind: ErrorKind | null;
  errorType: string | null;
  errorCode: string | null;
  inputTokens: number;
  cachedTokens: number;
  outputTokens: number;
  reasoningTokens: number;
  audioInputTokens: number;
  audioSeconds: number | null;
  audioSource: 'reported' | 'measured' | null;
  usageSource: UsageSource;
  /** Nano-dollars; null when unpriced. Kept as a decimal string so no float ever holds money. */
  costNanos: string | null;
  priceId: number | null;
  latencyMs: number;
  ttfbMs: number | null;
  upstreamRequestId: string | null;
  retryCount: number;
  rateLimits: RateLimitSnapshot;
}
