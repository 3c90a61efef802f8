import { randomUUID } from 'node:crypto';
import type { ErrorKind } from './error-kind.js';
import type { RateLimitSnapshot } from './rate-limit-snapshot.js';

/**
 * How a call ended. `not_sent`: it ended before the gateway sent it upstream (the client left
 * while it was paced or looked up); OpenAI never saw it, so it costs nothing. `shutdown`: the
 * gateway's own shutdown cut it at the end of its grace period (not the client, not OpenAI).
 */
export type Outcome = 'ok' | 'error' | 'client_aborted' | 'upstream_aborted' | 'not_sent' | 'shutdown';
/** `not_metered`: OpenAI bills it by storage, training or session time, not per call; cost NULL but not unpriced. */
export type UsageSource = 'reported' | 'estimated' | 'none' | 'not_metered';

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
  /** Parts of outputTokens / inputTokens that are audio or image (priced at their own rates). Optional: 0 when absent. */
  audioOutputTokens?: number;
  imageInputTokens?: number;
  imageOutputTokens?: number;
  /** Speech input characters (tts-1, tts-1-hd); null when not counted. */
  characters?: number | null;
  /** Images priced per image: how many, and `size/quality` (or `size`) they were priced at. */
  imageCount?: number | null;
  imageSpec?: string | null;
  /** Built-in tool calls of a response, per kind (per-call fees). */
  webSearchCalls?: number;
  webSearchPreviewCalls?: number;
  fileSearchCalls?: number;
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
  /** A moderation verdict: on moderations calls and on a guardrail's own moderation row. */
  moderation?: ModerationFacts | null;
  /** What the feature's guardrail did about this call (the model call and its moderation row). */
  guardrail?: GuardrailOutcome | null;
  /** The call this row was made for: a guardrail's moderation row names the model call it checked. */
  linkedEventId?: string | null;
  /**
   * Fields stored changed because they were out of their column's range (text truncated, numbers
   * clamped), comma-separated column names: `model,input_tokens`. Set by boundUsageEvent().
   */
  clamped?: string;
  /** Who the call was for: the request's `user` / `safety_identifier` (attribution hook); absent or null when not given. */
  endUser?: string | null;
  /**
   * Tags (`customer: acme`), from `x-tallygate-tag-*` headers, the body's `metadata` and the feature's
   * defaults. A null value is "other": the tag's value was past its cardinality cap for the period.
   */
  tags?: Record<string, string | null> | null;
}

/** What a moderation answer said, bounded: never the text unless the feature stores inputs. */
export interface ModerationFacts {
  /** OpenAI's own `flagged`. */
  flaggedDefault: boolean;
  /** Flagged under the feature's moderation policy. */
  flaggedPolicy: boolean;
  /** The categories the policy flags, and their scores. */
  categories: string[];
  scores: Record<string, number>;
  /** The moderated text, only when the feature's policy stores inputs (off by default). */
  input?: string;
}

/**
 * `passed` (checked, clean), `flagged` (monitor mode: flagged and forwarded), `blocked` (refused,
 * not sent), `failed_open` (the check failed; forwarded), `failed_closed` (the check failed; refused).
 */
export type GuardrailOutcome = 'passed' | 'flagged' | 'blocked' | 'failed_open' | 'failed_closed';

/**
 * An event with nothing counted and nothing charged yet, for rows the gateway writes itself beside a
 * call (a guardrail's moderation check, a realtime response): the caller sets what it knows.
 */
export function emptyUsageEvent(fields: Partial<UsageEvent> & Pick<UsageEvent, 'createdAt' | 'endpoint'>): UsageEvent {
  return {
    id: randomUUID(),
    orgId: null,
    featureId: null,
    gatewayKeyId: null,
    model: null,
    serviceTier: null,
    streamed: false,
    status: 0,
    outcome: 'ok',
    errorKind: null,
    errorType: null,
    errorCode: null,
    inputTokens: 0,
    cachedTokens: 0,
    outputTokens: 0,
    reasoningTokens: 0,
    audioInputTokens: 0,
    audioSeconds: null,
    audioSource: null,
    usageSource: 'none',
    costNanos: null,
    priceId: null,
    latencyMs: 0,
    ttfbMs: null,
    upstreamRequestId: null,
    retryCount: 0,
    rateLimits: {},
    ...fields,
  };
}

/**
 * A complete, successful chat event with the given fields changed: for the demo's history, the
 * benchmarks and the tests, which write events without a request behind them.
 */
export function usageEvent(fields: Partial<UsageEvent> & Pick<UsageEvent, 'createdAt'>): UsageEvent {
  return {
    id: randomUUID(),
    orgId: null,
    featureId: null,
    gatewayKeyId: null,
    endpoint: 'chat.completions',
    model: 'gpt-4o-mini',
    serviceTier: null,
    streamed: false,
    status: 200,
    outcome: 'ok',
    errorKind: null,
    errorType: null,
    errorCode: null,
    inputTokens: 100,
    cachedTokens: 0,
    outputTokens: 50,
    reasoningTokens: 0,
    audioInputTokens: 0,
    audioSeconds: null,
    audioSource: null,
    usageSource: 'reported',
    costNanos: '45000',
    priceId: null,
    latencyMs: 300,
    ttfbMs: 120,
    upstreamRequestId: null,
    retryCount: 0,
    rateLimits: {},
    ...fields,
  };
}
