// What a response says about its usage: one reader for every usage shape OpenAI has (chat,
// completions, embeddings, responses, audio, images), for a whole JSON body or the tail of a large
// one. The body meters (./sse.ts, ./json.ts) feed these; nothing here holds or changes the bytes.
import { AUDIO_SECONDS_MAX, INT4_MAX, saturate } from '../ledger/bounds.js';
import type { MeteredUsage } from './cost.js';

export interface UpstreamErrorInfo {
  type: string | null;
  code: string | null;
  message: string | null;
}

export interface MeterReading {
  usage?: MeteredUsage;
  model?: string;
  serviceTier?: string;
  error?: UpstreamErrorInfo;
  /** Exact seconds of audio from a verbose_json transcription or translation. */
  audioDuration?: number;
  /** Built-in tool calls among a Responses output (`web_search_call`, `file_search_call` items). */
  toolCalls?: ToolCallCounts;
  /** A Responses object created with background: true (its id and status): billed once, to its creator. */
  background?: { id: string; status: string | undefined };
  /** A moderation answer's `results` (category flags and scores), kept as parsed for the verdict. */
  moderationResults?: unknown[];
  /** A stored object the answer is (a batch, a file): read on the routes that create one (Endpoint.readsResource). */
  resource?: StoredResource;
}

/** What the gateway remembers of a batch or file it saw created: enough to meter the batch later. */
export interface StoredResource {
  id: string;
  object: 'batch' | 'file';
  status?: string;
  /** A batch's input file and endpoint (`/v1/chat/completions`). */
  inputFileId?: string;
  endpoint?: string;
  /** A file's purpose (`batch`). */
  purpose?: string;
}

/** Built-in tool call items of a response, by the item type's tool (before the request says which web search it was). */
export interface ToolCallCounts {
  web_search: number;
  file_search: number;
}

/** Counts the priced tool call items of a Responses `output`; undefined when there are none (most responses). */
export function toolCallsOf(output: unknown): ToolCallCounts | undefined {
  if (!Array.isArray(output)) return undefined;
  let counts: ToolCallCounts | undefined;
  for (const item of output) {
    const type = isObject(item) ? item.type : undefined;
    if (type === 'web_search_call') (counts ??= { web_search: 0, file_search: 0 }).web_search++;
    else if (type === 'file_search_call') (counts ??= { web_search: 0, file_search: 0 }).file_search++;
  }
  return counts;
}

export type Json = Record<string, unknown>;
export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
// Upstream numbers are bounded here, where they are read, so pricing never sees a count its column
// cannot hold (3e9 or 1e308 prompt tokens sent a 200 call's row to data/rejected): counts saturate
// at the ledger's integer maximum, audio at numeric(10, 3)'s, and the ledger flags both.
const int = (v: unknown) => (typeof v === 'number' ? Math.round(saturate(v, INT4_MAX)) : 0);
const seconds = (v: unknown) => (typeof v === 'number' ? saturate(v, AUDIO_SECONDS_MAX) : 0);
export const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

export const EMPTY_USAGE: MeteredUsage = Object.freeze({ inputTokens: 0, cachedTokens: 0, audioInputTokens: 0, outputTokens: 0, reasoningTokens: 0 });

/** One reader for every usage shape OpenAI has: chat/completions/embeddings, responses, audio. */
export function usageFrom(u: unknown): MeteredUsage | undefined {
  if (!isObject(u)) return undefined;
  if (u.type === 'duration') return { ...EMPTY_USAGE, audioSeconds: seconds(u.seconds) };
  const inDetails = (u.prompt_tokens_details ?? u.input_tokens_details ?? u.input_token_details ?? {}) as Json;
  const outDetails = (u.completion_tokens_details ?? u.output_tokens_details ?? {}) as Json;
  const usage: MeteredUsage = {
    inputTokens: int(u.prompt_tokens ?? u.input_tokens),
    cachedTokens: int(inDetails?.cached_tokens),
    audioInputTokens: int(inDetails?.audio_tokens),
    outputTokens: int(u.completion_tokens ?? u.output_tokens),
    reasoningTokens: int(outDetails?.reasoning_tokens),
  };
  // gpt-image usage: image input and output tokens are priced apart from text. Only images
  // report them, so chat and embeddings pay two property reads.
  if (inDetails?.image_tokens !== undefined) usage.imageInputTokens = int(inDetails.image_tokens);
  if (outDetails?.image_tokens !== undefined) usage.imageOutputTokens = int(outDetails.image_tokens);
  return usage;
}

export function errorFrom(e: unknown): UpstreamErrorInfo | undefined {
  if (!isObject(e)) return undefined;
  return { type: str(e.type) ?? null, code: str(e.code) ?? null, message: str(e.message) ?? null };
}

/** Usage, model, tier and error from a complete (non-streamed) response body. */
export function readJsonBody(text: string): MeterReading {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return {};
  }
  if (!isObject(body)) return {};
  const reading: MeterReading = { model: str(body.model), serviceTier: str(body.service_tier), error: errorFrom(body.error) };
  reading.usage = usageFrom(body.usage);
  if (body.output !== undefined) reading.toolCalls = toolCallsOf(body.output);
  if (typeof body.duration === 'number' && body.duration >= 0) reading.audioDuration = seconds(body.duration);
  if (body.background === true && typeof body.id === 'string') reading.background = { id: body.id, status: str(body.status) };
  if (Array.isArray(body.results)) reading.moderationResults = body.results;
  if ((body.object === 'batch' || body.object === 'file') && typeof body.id === 'string') {
    reading.resource = { id: body.id, object: body.object, status: str(body.status), inputFileId: str(body.input_file_id), endpoint: str(body.endpoint), purpose: str(body.purpose) };
  }
  return reading;
}

/**
 * Usage from the end of a body too large to parse whole (OpenAI writes `usage` last): the last
 * top-level-looking `"usage":{…}` object, matched brace by brace outside strings.
 */
export function readJsonTail(tail: string): MeterReading {
  let at = tail.lastIndexOf('"usage":');
  while (at > 0 && tail[at - 1] === '\\') at = tail.lastIndexOf('"usage":', at - 1);
  if (at < 0) return {};
  const start = tail.indexOf('{', at);
  if (start < 0) return {};
  let depth = 0;
  let inString = false;
  for (let i = start; i < tail.length; i++) {
    const ch = tail[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === '{') depth++;
    else if (ch === '}' && --depth === 0) {
      const usage = safeParse(tail.slice(start, i + 1));
      const model = /"model"\s*:\s*"([^"\\]+)"/.exec(tail.slice(at))?.[1] ?? [...tail.matchAll(/"model"\s*:\s*"([^"\\]+)"/g)].at(-1)?.[1];
      return { usage: usageFrom(usage), model };
    }
  }
  return {};
}


export function safeParse(data: string): Json | undefined {
  try {
    const v: unknown = JSON.parse(data);
    return isObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

