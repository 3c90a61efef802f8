// The usage event of a finished call: a pure function of what the call learnt (no I/O, no clock),
// so every outcome can be unit-tested on its own (test/unit/usage-event-builder.test.ts). Pricing
// comes in as a function: the price book is in memory, looked up, never fetched here.
import type { IncomingHttpHeaders } from 'node:http';
import type { OpenAIError } from '../http/openai-error.js';
import type { Outcome, UsageEvent, UsageSource } from '../ledger/usage-event.js';
import type { RefusedKey, Route } from '../orgs/route-resolver.js';
import type { MeteredUsage } from '../pricing/cost.js';
import { classifyError, parseRateLimitHeaders, type ErrorKind } from '../ratelimits/rate-limit-headers.js';
import type { Attribution } from './background-responses.js';
import type { BackgroundState } from './call.js';
import type { Endpoint } from './endpoints.js';
import { imageSpec } from './meters/images.js';
import type { Metered } from './meters/meter.js';
import { EMPTY_USAGE, type MeterReading } from './meters/reading.js';

/** Prices a usage as the price book does (PricingService.price). */
export type PriceFn = (model: string | undefined, tier: string | undefined, at: Date, usage: MeteredUsage) => { costNanos: bigint | null; priceId: number | null };

/** What the builder reads of a call that ended (the proxy's Call has all of it). */
export interface FinishedCall {
  readonly id: string;
  readonly createdAt: Date;
  readonly endpoint: Endpoint;
  readonly route?: Route;
  readonly refusedKey?: RefusedKey;
  readonly model: string | null;
  readonly streamed: boolean;
  readonly status: number;
  readonly outcome: Outcome;
  readonly errorKind: ErrorKind | null;
  readonly gatewayError?: OpenAIError;
  readonly upstream?: { readonly statusCode: number; readonly headers: IncomingHttpHeaders };
  readonly reading: MeterReading;
  /** Estimated usage of a call that was sent and cut short. */
  readonly estimated?: MeteredUsage;
  /** Multipart audio upload seen (transcriptions, translations, image edits). */
  readonly audio?: unknown;
  readonly measuredAudioSeconds?: number;
  readonly metered?: Metered;
  readonly background?: BackgroundState;
  readonly billedTo?: Attribution;
  readonly retryCount: number;
  /** performance.now() at arrival and at the end of the client's response. */
  readonly started: number;
  readonly endedAt: number;
  readonly ttfbMs: number | null;
}

export function buildUsageEvent(call: FinishedCall, price: PriceFn): UsageEvent {
  const reading = call.reading;
  const upstreamError = reading.error;
  const failed = !!call.gatewayError || call.status >= 400 || !!upstreamError || call.outcome !== 'ok';
  const outcome: Outcome = failed && call.outcome === 'ok' ? 'error' : call.outcome;
  const errorType = call.gatewayError?.type ?? upstreamError?.type ?? null;
  const errorCode = call.gatewayError?.code ?? upstreamError?.code ?? null;
  const errorKind = !failed
    ? null
    : call.errorKind ??
      (call.gatewayError && !call.upstream ? gatewayKind(call.gatewayError) : upstreamError || call.status >= 400
        ? call.status < 400 ? 'stream_error' : classifyError(call.status, errorType, errorCode, upstreamError?.message)
        : outcome === 'upstream_aborted' ? 'upstream_aborted' : 'gateway');
  const audio = audioSeconds(call, outcome);
  const metered = call.metered;
  // A response retrieved or cancelled is billed only by the call that claims its background usage
  // (a plain response was billed when created): any other such call shows no usage and costs 0.
  const unbilled = call.background === 'pending' || call.background === 'already' || (call.endpoint.byId && call.background === undefined);
  const usage = unbilled ? undefined : metered ? metered.usage : audio ? { ...(reading.usage ?? EMPTY_USAGE), audioSeconds: audio.seconds } : (reading.usage ?? call.estimated);
  const notMetered = call.endpoint.notMetered && !failed;
  const usageSource: UsageSource = notMetered
    ? 'not_metered'
    : unbilled
      ? 'none'
      : metered?.usage
        ? metered.estimated ? 'estimated' : 'reported'
        : reading.usage || audio ? 'reported' : call.estimated ? 'estimated' : 'none';
  const model = call.model ?? metered?.model ?? reading.model ?? null;
  const serviceTier = reading.serviceTier ?? null;
  // A billable call that succeeded without usage we could read (a huge body, an audio file that
  // could not be measured, an upstream ignoring include_usage) has an unknown cost, never $0.
  // Failed calls are not billed by OpenAI; moderations and models are free.
  // Not metered per call, or a background claim that failed: NULL, said apart by usage_source.
  const priced =
    notMetered || call.background === 'unknown' || metered?.unpriced
      ? { costNanos: null, priceId: null }
      : unbilled
        ? { costNanos: 0n, priceId: null }
        : metered?.usage
          ? price(model ?? undefined, serviceTier ?? undefined, call.createdAt, metered.usage)
          : usage && (hasUsage(usage) || reading.usage)
            ? price(model ?? undefined, serviceTier ?? undefined, call.createdAt, usage)
            : call.endpoint.billable && !failed
              ? { costNanos: null, priceId: null }
              : { costNanos: 0n, priceId: null };
  const headers = call.upstream?.headers ?? {};
  const billedTo = call.billedTo;
  const event: UsageEvent = {
    id: call.id,
    createdAt: call.createdAt,
    orgId: billedTo ? billedTo.orgId : (call.route?.org.orgId ?? call.refusedKey?.orgId ?? null),
    featureId: billedTo ? billedTo.featureId : (call.route?.featureId ?? call.refusedKey?.featureId ?? null),
    gatewayKeyId: billedTo ? billedTo.gatewayKeyId : (call.route?.gatewayKeyId ?? call.refusedKey?.gatewayKeyId ?? null),
    endpoint: call.endpoint.name,
    model,
    serviceTier,
    streamed: call.streamed,
    status: call.status,
    outcome,
    errorKind,
    errorType,
    errorCode,
    inputTokens: usage?.inputTokens ?? 0,
    cachedTokens: usage?.cachedTokens ?? 0,
    outputTokens: usage?.outputTokens ?? 0,
    reasoningTokens: usage?.reasoningTokens ?? 0,
    audioInputTokens: usage?.audioInputTokens ?? 0,
    audioSeconds: audio?.seconds ?? null,
    audioSource: audio?.source ?? null,
    usageSource,
    costNanos: priced.costNanos === null ? null : priced.costNanos.toString(),
    priceId: priced.priceId,
    latencyMs: Math.round(call.endedAt - call.started),
    ttfbMs: call.ttfbMs,
    upstreamRequestId: header(headers, 'x-request-id') ?? null,
    retryCount: call.retryCount,
    rateLimits: parseRateLimitHeaders(headers),
  };
  if (metered?.usage) withComponents(event, metered.usage);
  return event;
}

/** The price components beyond text tokens, on the events that have them (images, speech, tool calls). */
function withComponents(event: UsageEvent, usage: MeteredUsage): void {
  event.audioOutputTokens = usage.audioOutputTokens ?? 0;
  event.imageInputTokens = usage.imageInputTokens ?? 0;
  event.imageOutputTokens = usage.imageOutputTokens ?? 0;
  event.characters = usage.characters ?? null;
  const images = imageSpec(usage);
  event.imageCount = images?.count ?? null;
  event.imageSpec = images?.spec ?? null;
  event.webSearchCalls = usage.toolCalls?.web_search ?? 0;
  event.webSearchPreviewCalls = usage.toolCalls?.web_search_preview ?? 0;
  event.fileSearchCalls = usage.toolCalls?.file_search ?? 0;
}

/**
 * The most precise duration there is: verbose_json's exact `duration`, else what the gateway
 * measured from the upload, else whisper's whole-second `usage.seconds`. None for failed calls.
 */
function audioSeconds(call: FinishedCall, outcome: Outcome): { seconds: number; source: 'reported' | 'measured' } | undefined {
  if (!call.audio || call.status >= 400 || outcome !== 'ok') return undefined;
  if (call.reading.audioDuration !== undefined) return { seconds: call.reading.audioDuration, source: 'reported' };
  if (call.measuredAudioSeconds !== undefined) return { seconds: call.measuredAudioSeconds, source: 'measured' };
  const reported = call.reading.usage?.audioSeconds;
  return reported !== undefined ? { seconds: reported, source: 'reported' } : undefined;
}

const hasUsage = (u: MeteredUsage) => u.inputTokens > 0 || u.outputTokens > 0 || (u.audioSeconds ?? 0) > 0;

export function header(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The error kind of a call the gateway itself answered (before or instead of the upstream). */
export function gatewayKind(error: OpenAIError): ErrorKind {
  if (error.status === 401 || error.status === 403) return 'auth';
  if (error.code === 'gateway_paced') return 'paced';
  if (error.code === 'feature_budget_exceeded' || error.code === 'org_budget_exceeded') return 'budget';
  if (error.code === 'gateway_store_unavailable') return 'store_unavailable';
  if (error.code === 'gateway_shutting_down') return 'shutdown';
  if (error.code === 'gateway_concurrency_limit') return 'gateway';
  if (error.code === 'upstream_timeout') return 'upstream_timeout';
  if (error.code === 'upstream_unreachable') return 'upstream_unreachable';
  if (error.status < 500) return 'invalid_request';
  return 'gateway';
}
