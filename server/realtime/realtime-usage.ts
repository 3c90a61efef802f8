// A Realtime `response.done` event turned into the usage event the ledger records: one row per
// response, with the text, audio, image and cached parts of its input and the text and audio parts
// of its output, priced at the session model's realtime rates.
import { randomUUID } from 'node:crypto';
import { INT4_MAX, saturate } from '../ledger/bounds.js';
import type { Outcome, UsageEvent } from '../ledger/usage-event.js';
import type { ErrorKind } from '../ratelimits/rate-limit-headers.js';
import type { MeteredUsage } from '../pricing/cost.js';
import type { PricedUsage } from '../pricing/pricing.service.js';

/** `response.usage` of a Realtime `response.done` (openai 6.x `RealtimeResponseUsage`). */
export interface RealtimeUsage {
  input_tokens?: number;
  output_tokens?: number;
  input_token_details?: {
    text_tokens?: number;
    audio_tokens?: number;
    image_tokens?: number;
    cached_tokens?: number;
    cached_tokens_details?: { text_tokens?: number; audio_tokens?: number; image_tokens?: number };
  };
  output_token_details?: { text_tokens?: number; audio_tokens?: number };
}

/** The parts of a `response.done` event the ledger needs. */
export interface RealtimeResponseDone {
  type: 'response.done';
  response?: {
    id?: string;
    status?: string;
    status_details?: { type?: string; reason?: string; error?: { type?: string; code?: string } | null } | null;
    usage?: RealtimeUsage | null;
  };
}

/** Who the session belongs to and when the response ran. */
export interface ResponseContext {
  orgId: string;
  featureId: string;
  gatewayKeyId: string;
  model: string;
  /** When `response.created` arrived (or the done event, when it was missed). */
  startedAt: Date;
  /** `response.created` to the first delta, when there was one. */
  ttfbMs: number | null;
  latencyMs: number;
  /** The gateway cancelled this response because a side of the session went away. */
  cancelledBy?: Outcome;
}

const count = (n: unknown): number => (typeof n === 'number' ? Math.floor(saturate(n, INT4_MAX)) : 0);

/** The usage a response reported, as the pricing reads it (cached audio and image priced at their own rates). */
export function meteredUsage(usage: RealtimeUsage): MeteredUsage {
  const input = usage.input_token_details ?? {};
  const cached = input.cached_tokens_details ?? {};
  const output = usage.output_token_details ?? {};
  return {
    inputTokens: count(usage.input_tokens),
    cachedTokens: count(input.cached_tokens),
    audioInputTokens: count(input.audio_tokens),
    imageInputTokens: count(input.image_tokens),
    cachedAudioTokens: count(cached.audio_tokens),
    cachedImageTokens: count(cached.image_tokens),
    outputTokens: count(usage.output_tokens),
    audioOutputTokens: count(output.audio_tokens),
    reasoningTokens: 0,
  };
}

/** The ledger row of one response; `price` is PricingService.price (injected so this stays a pure function). */
export function responseEvent(
  done: RealtimeResponseDone,
  context: ResponseContext,
  price: (model: string, at: Date, usage: MeteredUsage) => PricedUsage,
): UsageEvent {
  const response = done.response ?? {};
  const usage = response.usage ? meteredUsage(response.usage) : undefined;
  const priced = usage ? price(context.model, context.startedAt, usage) : { costNanos: null, priceId: null };
  const failed = response.status === 'failed';
  const outcome: Outcome = failed ? 'error' : response.status === 'cancelled' && context.cancelledBy ? context.cancelledBy : 'ok';
  const error = response.status_details?.error;
  return {
    ...unmeteredResponse(context, outcome),
    status: failed ? 500 : 200,
    errorKind: failed ? 'upstream_server_error' : outcome === 'ok' ? null : (outcome as ErrorKind),
    errorType: failed ? (error?.type ?? response.status_details?.type ?? 'failed') : null,
    errorCode: failed ? (error?.code ?? response.status_details?.reason ?? null) : null,
    inputTokens: usage?.inputTokens ?? 0,
    cachedTokens: usage?.cachedTokens ?? 0,
    outputTokens: usage?.outputTokens ?? 0,
    audioInputTokens: usage?.audioInputTokens ?? 0,
    audioOutputTokens: usage?.audioOutputTokens ?? 0,
    imageInputTokens: usage?.imageInputTokens ?? 0,
    usageSource: usage ? 'reported' : 'none',
    costNanos: priced.costNanos === null ? null : priced.costNanos.toString(),
    priceId: priced.priceId,
    upstreamRequestId: typeof response.id === 'string' ? response.id : null,
  };
}

/**
 * A response the session ended before its `response.done` (the upstream went away mid-response):
 * OpenAI may bill what it generated, which no event reported, so its cost is unknown (NULL), not $0.
 */
export function unmeteredResponse(context: ResponseContext, outcome: Outcome): UsageEvent {
  return {
    id: randomUUID(),
    createdAt: context.startedAt,
    orgId: context.orgId,
    featureId: context.featureId,
    gatewayKeyId: context.gatewayKeyId,
    endpoint: 'realtime',
    model: context.model,
    serviceTier: null,
    streamed: true,
    status: outcome === 'ok' ? 200 : 499,
    outcome,
    errorKind: outcome === 'ok' ? null : (outcome as ErrorKind),
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
    latencyMs: context.latencyMs,
    ttfbMs: context.ttfbMs,
    upstreamRequestId: null,
    retryCount: 0,
    rateLimits: {},
  };
}
