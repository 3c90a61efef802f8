// What a ledger row was priced on, read back as the usage to price again (re-costing after a price
// correction) or to show (statements): every component the gateway stored, in one place.
import type { MeteredUsage, ToolCallKind } from './cost.js';

/** The usage_events columns storedUsage() reads, for a SELECT list. */
export const STORED_USAGE_COLUMNS =
  'input_tokens, cached_tokens, audio_input_tokens, output_tokens, reasoning_tokens, audio_seconds, audio_output_tokens, image_input_tokens, image_output_tokens, characters, image_count, image_spec, web_search_calls, web_search_preview_calls, file_search_calls';

export interface StoredUsageRow {
  input_tokens: number;
  cached_tokens: number;
  audio_input_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  audio_seconds: string | null;
  audio_output_tokens: number;
  image_input_tokens: number;
  image_output_tokens: number;
  characters: number | null;
  image_count: number | null;
  image_spec: string | null;
  web_search_calls: number;
  web_search_preview_calls: number;
  file_search_calls: number;
}

export function storedUsage(row: StoredUsageRow): MeteredUsage {
  const usage: MeteredUsage = {
    inputTokens: row.input_tokens,
    cachedTokens: row.cached_tokens,
    audioInputTokens: row.audio_input_tokens,
    outputTokens: row.output_tokens,
    reasoningTokens: row.reasoning_tokens,
    audioSeconds: row.audio_seconds === null ? undefined : Number(row.audio_seconds),
  };
  if (row.audio_output_tokens > 0) usage.audioOutputTokens = row.audio_output_tokens;
  if (row.image_input_tokens > 0) usage.imageInputTokens = row.image_input_tokens;
  if (row.image_output_tokens > 0) usage.imageOutputTokens = row.image_output_tokens;
  if (row.characters !== null) usage.characters = row.characters;
  if (row.image_count !== null && row.image_spec !== null) {
    const [size, quality] = row.image_spec.split('/');
    usage.images = [{ size, quality, count: row.image_count }];
  }
  const calls: Partial<Record<ToolCallKind, number>> = {};
  if (row.web_search_calls > 0) calls.web_search = row.web_search_calls;
  if (row.web_search_preview_calls > 0) calls.web_search_preview = row.web_search_preview_calls;
  if (row.file_search_calls > 0) calls.file_search = row.file_search_calls;
  if (calls.web_search || calls.web_search_preview || calls.file_search) usage.toolCalls = calls;
  return usage;
}

/** Anything that was priced: a row with none of it was recorded without usage (cost 0 or unknown). */
export function hasStoredUsage(u: MeteredUsage): boolean {
  return u.inputTokens > 0 || u.outputTokens > 0 || (u.audioSeconds ?? 0) > 0 || u.characters !== undefined || !!u.images || !!u.toolCalls;
}
