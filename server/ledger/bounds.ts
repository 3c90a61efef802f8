// What a usage event may hold, by design: every value fits its column, so Postgres never refuses a
// row because of what a client or an upstream sent. Upstream numbers are saturated where they are
// read (usage JSON, x-ratelimit-* headers, audio duration), so pricing sees bounded numbers; then
// boundUsageEvent() checks every event once more as it is queued (the demo's, the benchmarks' and
// replayed ones too). A value it had to change is stored changed and named in `clamped`.
import { TAG_NAME, TAG_NAME_MAX, TAG_VALUE_MAX, TAGS_MAX } from '../contract/common.js';
import type { RateLimitSnapshot } from './rate-limit-snapshot.js';
import type { UsageEvent } from './usage-event.js';

/** Postgres `integer`: token counts, milliseconds, x-ratelimit-* request counts and reset times. */
export const INT4_MAX = 2_147_483_647;
/** Postgres `smallint`: HTTP status, retry count. */
export const INT2_MAX = 32_767;
/**
 * `bigint` columns fed from JS numbers (x-ratelimit-* token counts): the largest integer a double
 * holds exactly, far below bigint's 2^63 - 1.
 */
export const COUNT_MAX = Number.MAX_SAFE_INTEGER;
/** usage_events.audio_seconds is numeric(10, 3): 115 days of audio in one call is beyond any real file. */
export const AUDIO_SECONDS_MAX = 9_999_999.999;
/**
 * Text from clients and upstreams (model, service tier, error type and code, upstream request id).
 * The model is in the rollups' unique indexes, whose rows may not exceed ~2,700 bytes: a ~3 KB
 * model refused the whole batch (SQLSTATE 54000). Real names are under 100 characters (a
 * fine-tuned model's `ft:gpt-4o-mini-2024-07-18:org:suffix:id` is ~60); 256 characters is at most
 * 1 KB of UTF-8.
 */
export const TEXT_MAX = 256;
/**
 * Attribution (usage_events.end_user, tags and the tag rollups' keys): at most TAGS_MAX tags per
 * event, names of TAG_NAME_MAX characters from TAG_NAME, values of TAG_VALUE_MAX characters. Ten
 * 128-character values are ~1.4 KB of JSON per event at worst, and a rollup key (model + name +
 * value) stays far below the index's ~2,700-byte row limit. The number of values per tag is capped
 * per month by the attribution hook (its tag's max_values), the rest stored as null: "other".
 */
// Defined in the API contract (the dashboard validates the same names), enforced here.
export { TAG_NAME, TAG_NAME_MAX, TAG_VALUE_MAX, TAGS_MAX };

/** bigint's largest value, as the decimal string cost_nanos is carried in. */
const BIGINT_MAX = '9223372036854775807';

/**
 * A number read from upstream JSON or a header, saturated to [0, max] (NaN and negatives are 0).
 * Saturating to exactly `max` is what lets boundUsageEvent() flag it later.
 */
export function saturate(value: number, max: number): number {
  if (!(value > 0)) return 0;
  return value >= max ? max : value;
}

/**
 * Bounds every field of the event in place and returns it: a few comparisons per field and no
 * allocation unless a value is out of range (the writer calls this on the request path). A count
 * at its column's maximum is flagged too: only saturation produces one.
 */
export function boundUsageEvent(event: UsageEvent): UsageEvent {
  clamped = event.clamped ?? '';
  event.model = text(event.model, 'model');
  event.serviceTier = text(event.serviceTier, 'service_tier');
  event.errorType = text(event.errorType, 'error_type');
  event.errorCode = text(event.errorCode, 'error_code');
  event.upstreamRequestId = text(event.upstreamRequestId, 'upstream_request_id');
  event.status = count(event.status, INT2_MAX, 'status');
  event.retryCount = count(event.retryCount, INT2_MAX, 'retry_count');
  event.inputTokens = count(event.inputTokens, INT4_MAX, 'input_tokens');
  event.cachedTokens = count(event.cachedTokens, INT4_MAX, 'cached_tokens');
  event.outputTokens = count(event.outputTokens, INT4_MAX, 'output_tokens');
  event.reasoningTokens = count(event.reasoningTokens, INT4_MAX, 'reasoning_tokens');
  event.audioInputTokens = count(event.audioInputTokens, INT4_MAX, 'audio_input_tokens');
  event.latencyMs = count(event.latencyMs, INT4_MAX, 'latency_ms');
  // The price components beyond text tokens: absent on most events, so one check each.
  if (event.audioOutputTokens !== undefined) event.audioOutputTokens = count(event.audioOutputTokens, INT4_MAX, 'audio_output_tokens');
  if (event.imageInputTokens !== undefined) event.imageInputTokens = count(event.imageInputTokens, INT4_MAX, 'image_input_tokens');
  if (event.imageOutputTokens !== undefined) event.imageOutputTokens = count(event.imageOutputTokens, INT4_MAX, 'image_output_tokens');
  if (event.characters != null) event.characters = count(event.characters, INT4_MAX, 'characters');
  if (event.imageCount != null) event.imageCount = count(event.imageCount, INT4_MAX, 'image_count');
  if (event.imageSpec != null) event.imageSpec = text(event.imageSpec, 'image_spec');
  if (event.webSearchCalls !== undefined) event.webSearchCalls = count(event.webSearchCalls, INT4_MAX, 'web_search_calls');
  if (event.webSearchPreviewCalls !== undefined) event.webSearchPreviewCalls = count(event.webSearchPreviewCalls, INT4_MAX, 'web_search_preview_calls');
  if (event.fileSearchCalls !== undefined) event.fileSearchCalls = count(event.fileSearchCalls, INT4_MAX, 'file_search_calls');
  if (event.moderation) boundModeration(event.moderation);
  if (event.guardrail != null && !GUARDRAIL_OUTCOMES.has(event.guardrail)) {
    flag('guardrail');
    event.guardrail = null;
  }
  if (event.linkedEventId != null && !UUID.test(event.linkedEventId)) {
    flag('linked_event_id');
    event.linkedEventId = null;
  }
  event.ttfbMs = maybeCount(event.ttfbMs, INT4_MAX, 'ttfb_ms');
  event.priceId = maybeCount(event.priceId, INT4_MAX, 'price_id');
  const seconds: unknown = event.audioSeconds;
  if (seconds !== null && seconds !== undefined && !(typeof seconds === 'number' && seconds >= 0 && seconds < AUDIO_SECONDS_MAX)) {
    flag('audio_seconds');
    event.audioSeconds = typeof seconds !== 'number' || Number.isNaN(seconds) ? null : Math.min(Math.max(seconds, 0), AUDIO_SECONDS_MAX);
  }
  const cost: unknown = event.costNanos;
  if (cost !== null && cost !== undefined && !(typeof cost === 'string' && COST.test(cost))) {
    event.costNanos = boundCost(cost);
    if (event.costNanos !== cost) flag('cost_nanos');
  }
  const limits: unknown = event.rateLimits;
  if (typeof limits !== 'object' || limits === null) event.rateLimits = {};
  else boundRateLimits(event.rateLimits);
  if (event.endUser != null) event.endUser = text(event.endUser, 'end_user', TAG_VALUE_MAX);
  if (event.tags != null) boundTags(event);
  if (clamped) event.clamped = clamped;
  return event;
}

/**
 * The fields boundUsageEvent() changed in the event it is bounding. A module variable rather than
 * closures, so bounding an ordinary event allocates nothing; the function is synchronous.
 */
let clamped = '';
function flag(field: string): void {
  if (!clamped.split(',').includes(field)) clamped = clamped ? `${clamped},${field}` : field;
}

function count(value: unknown, max: number, field: string): number {
  if (typeof value === 'number' && value >= 0 && value < max && Number.isInteger(value)) return value;
  flag(field);
  return typeof value === 'number' ? Math.round(saturate(value, max)) : 0;
}

function maybeCount(value: unknown, max: number, field: string): number | null {
  return value === null || value === undefined ? null : count(value, max, field);
}

function text(value: unknown, field: string, max = TEXT_MAX): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' && value.length <= max) return value;
  flag(field);
  return typeof value === 'string' ? truncate(value, max) : null;
}

/**
 * Tags as the hook builds them already fit; replayed or hand-made events may not. Names that are
 * not tag names are dropped, values cut to TAG_VALUE_MAX, NUL removed (jsonb refuses \u0000).
 */
function boundTags(event: UsageEvent): void {
  const tags: unknown = event.tags;
  if (typeof tags !== 'object' || tags === null || Array.isArray(tags)) {
    flag('tags');
    event.tags = null;
    return;
  }
  let kept = 0;
  let changed = false;
  const bounded: Record<string, string | null> = {};
  for (const [name, value] of Object.entries(tags as Record<string, unknown>)) {
    if (kept === TAGS_MAX || name.length > TAG_NAME_MAX || !TAG_NAME.test(name) || (value !== null && typeof value !== 'string')) {
      changed = true;
      continue;
    }
    let v = value;
    if (v !== null && (v.length > TAG_VALUE_MAX || v.includes('\0'))) {
      v = truncate(v.replace(/\0/g, ''), TAG_VALUE_MAX);
      changed = true;
    }
    bounded[name] = v;
    kept++;
  }
  if (!changed) return;
  flag('tags');
  event.tags = kept ? bounded : null;
}

function boundRateLimits(limits: RateLimitSnapshot): void {
  if (limits.limitRequests !== undefined) limits.limitRequests = count(limits.limitRequests, INT4_MAX, 'rl_limit_requests');
  if (limits.remainingRequests !== undefined) limits.remainingRequests = count(limits.remainingRequests, INT4_MAX, 'rl_remaining_requests');
  if (limits.resetRequestsMs !== undefined) limits.resetRequestsMs = count(limits.resetRequestsMs, INT4_MAX, 'rl_reset_requests_ms');
  if (limits.limitTokens !== undefined) limits.limitTokens = count(limits.limitTokens, COUNT_MAX, 'rl_limit_tokens');
  if (limits.remainingTokens !== undefined) limits.remainingTokens = count(limits.remainingTokens, COUNT_MAX, 'rl_remaining_tokens');
  if (limits.resetTokensMs !== undefined) limits.resetTokensMs = count(limits.resetTokensMs, INT4_MAX, 'rl_reset_tokens_ms');
  if (limits.limitProjectTokens !== undefined) limits.limitProjectTokens = count(limits.limitProjectTokens, COUNT_MAX, 'rl_limit_project_tokens');
  if (limits.remainingProjectTokens !== undefined) limits.remainingProjectTokens = count(limits.remainingProjectTokens, COUNT_MAX, 'rl_remaining_project_tokens');
  if (limits.resetProjectTokensMs !== undefined) limits.resetProjectTokensMs = count(limits.resetProjectTokensMs, INT4_MAX, 'rl_reset_project_tokens_ms');
}

/** An ordinary cost: up to 18 digits is always below bigint's maximum (19 digits). */
const COST = /^\d{1,18}$/;

/** At most `max` UTF-16 units, never splitting a surrogate pair (half of one is not valid UTF-8). */
function truncate(value: string, max = TEXT_MAX): string {
  if (value.length <= max) return value;
  const end = max - (isHighSurrogate(value.charCodeAt(max - 1)) ? 1 : 0);
  return value.slice(0, end);
}
const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;

/** A cost as a decimal string within [0, bigint max]; anything that is not an integer becomes unknown (null). */
function boundCost(cost: unknown): string | null {
  const text = typeof cost === 'bigint' || typeof cost === 'number' ? String(cost) : cost;
  if (typeof text !== 'string' || !/^-?\d+$/.test(text)) return null;
  if (text.startsWith('-')) return '0';
  const digits = text.replace(/^0+(?=\d)/, '');
  return digits.length > BIGINT_MAX.length || (digits.length === BIGINT_MAX.length && digits > BIGINT_MAX) ? BIGINT_MAX : digits;
}

/** The stored moderated text, when a feature keeps inputs: enough to review a flag, never a whole document. */
export const MODERATION_INPUT_MAX = 4_000;
/** Categories a verdict may name (OpenAI has 13): a hostile upstream cannot grow a row past this. */
const MODERATION_CATEGORIES_MAX = 32;
const CATEGORY_NAME = /^[a-z][a-z/_-]{0,63}$/;
const GUARDRAIL_OUTCOMES = new Set(['passed', 'flagged', 'blocked', 'failed_open', 'failed_closed']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function boundModeration(moderation: NonNullable<UsageEvent['moderation']>): void {
  const categories = Array.isArray(moderation.categories) ? moderation.categories : [];
  const kept = categories.filter((c) => typeof c === 'string' && CATEGORY_NAME.test(c)).slice(0, MODERATION_CATEGORIES_MAX);
  if (kept.length !== categories.length) flag('moderation_categories');
  moderation.categories = kept;
  const scores: Record<string, number> = {};
  for (const category of kept) {
    const score = moderation.scores?.[category];
    if (typeof score === 'number' && Number.isFinite(score)) scores[category] = Math.min(1, Math.max(0, score));
  }
  moderation.scores = scores;
  moderation.flaggedDefault = moderation.flaggedDefault === true;
  moderation.flaggedPolicy = moderation.flaggedPolicy === true;
  if (moderation.input !== undefined) {
    if (typeof moderation.input !== 'string') moderation.input = undefined;
    else if (moderation.input.length > MODERATION_INPUT_MAX) {
      flag('moderation_input');
      moderation.input = moderation.input.slice(0, MODERATION_INPUT_MAX - (isHighSurrogate(moderation.input.charCodeAt(MODERATION_INPUT_MAX - 1)) ? 1 : 0));
    }
  }
}
