// Reading usage out of what OpenAI sends back, without changing what the client receives.
// Plain JSON bodies are parsed once at the end; SSE streams are scanned event by event as they
// pass, and the usage chunk the gateway asked for on the client's behalf is removed.
import { StringDecoder } from 'node:string_decoder';
import { AUDIO_SECONDS_MAX, INT4_MAX, saturate } from '../ledger/bounds.js';
import type { MeteredUsage } from '../pricing/cost.js';

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
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
// Upstream numbers are bounded here, where they are read, so pricing never sees a count its column
// cannot hold (3e9 or 1e308 prompt tokens sent a 200 call's row to data/rejected): counts saturate
// at the ledger's integer maximum, audio at numeric(10, 3)'s, and the ledger flags both.
const int = (v: unknown) => (typeof v === 'number' ? Math.round(saturate(v, INT4_MAX)) : 0);
const seconds = (v: unknown) => (typeof v === 'number' ? saturate(v, AUDIO_SECONDS_MAX) : 0);
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

export const EMPTY_USAGE: MeteredUsage = Object.freeze({ inputTokens: 0, cachedTokens: 0, audioInputTokens: 0, outputTokens: 0, reasoningTokens: 0 });

/** One reader for every usage shape OpenAI has: chat/completions/embeddings, responses, audio. */
export function usageFrom(u: unknown): MeteredUsage | undefined {
  if (!isObject(u)) return undefined;
  if (u.type === 'duration') return { ...EMPTY_USAGE, audioSeconds: seconds(u.seconds) };
  const inDetails = (u.prompt_tokens_details ?? u.input_tokens_details ?? u.input_token_details ?? {}) as Json;
  const outDetails = (u.completion_tokens_details ?? u.output_tokens_details ?? {}) as Json;
  return {
    inputTokens: int(u.prompt_tokens ?? u.input_tokens),
    cachedTokens: int(inDetails?.cached_tokens),
    audioInputTokens: int(inDetails?.audio_tokens),
    outputTokens: int(u.completion_tokens ?? u.output_tokens),
    reasoningTokens: int(outDetails?.reasoning_tokens),
  };
}

function errorFrom(e: unknown): UpstreamErrorInfo | undefined {
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
  if (typeof body.duration === 'number' && body.duration >= 0) reading.audioDuration = seconds(body.duration);
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

const RETAINED_TEXT_LIMIT = 4 * 1024 * 1024;
const EVENT_END = /\r?\n\r?\n/g;

/**
 * Scans an SSE stream (chat/completions `data:` chunks, or Responses API named events).
 * `push` returns the bytes to send on: the chunk itself, or, when the usage chunk must be
 * hidden, the complete events that remain.
 */
export class SseMeter {
  readonly reading: MeterReading = {};
  /** Saw the stream's proper end ([DONE], or a terminal response.* event). */
  finished = false;
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  private readonly retained: string[] = [];
  private retainedLength = 0;

  constructor(private readonly hideUsageChunk: boolean) {}

  push(chunk: Buffer): Buffer | null {
    this.pending += this.decoder.write(chunk);
    let kept = '';
    let start = 0;
    EVENT_END.lastIndex = 0;
    for (let m = EVENT_END.exec(this.pending); m; m = EVENT_END.exec(this.pending)) {
      const end = m.index + m[0].length;
      const raw = this.pending.slice(start, end);
      if (!this.scan(raw) || !this.hideUsageChunk) kept += raw;
      start = end;
    }
    if (!this.hideUsageChunk) {
      this.pending = this.pending.slice(start);
      return chunk;
    }
    this.pending = this.pending.slice(start);
    return kept ? Buffer.from(kept, 'utf8') : null;
  }

  /** Whatever is left when the upstream ends (an incomplete last event is passed on as is). */
  end(): Buffer | null {
    const rest = this.pending + this.decoder.end();
    this.pending = '';
    if (rest.trim()) this.scan(rest);
    return this.hideUsageChunk && rest ? Buffer.from(rest, 'utf8') : null;
  }

  /** Text the client has received so far, for estimating output tokens of a cut stream. */
  relayedText(): string {
    let text = '';
    for (const data of this.retained) {
      try {
        text += deltaText(JSON.parse(data));
      } catch {
        // a partial or non-JSON event carries no countable text
      }
    }
    return text;
  }

  /** Reads one event; returns true when it is the usage-only chunk (choices: []). */
  private scan(raw: string): boolean {
    let event = '';
    let data = '';
    for (const line of raw.split(/\r?\n/)) {
      if (line.startsWith('data:')) data += (data ? '\n' : '') + line.slice(line[5] === ' ' ? 6 : 5);
      else if (line.startsWith('event:')) event = line.slice(6).trim();
    }
    if (!data) return false;
    if (data === '[DONE]') {
      this.finished = true;
      return false;
    }
    if (event === 'error' || data.startsWith('{"error"')) {
      this.reading.error = errorFrom(safeParse(data)?.error ?? safeParse(data)) ?? { type: null, code: null, message: null };
      this.finished = true;
      return false;
    }
    if (event === 'response.completed' || event === 'response.failed' || event === 'response.incomplete') {
      const response = safeParse(data)?.response;
      if (isObject(response)) {
        this.reading.usage = usageFrom(response.usage);
        this.reading.model = str(response.model);
        this.reading.serviceTier = str(response.service_tier);
        if (event === 'response.failed') this.reading.error = errorFrom(response.error) ?? { type: 'server_error', code: null, message: null };
      }
      this.finished = true;
      return false;
    }
    if (data.includes('"usage":{')) {
      const parsed = safeParse(data);
      if (parsed) {
        this.reading.usage = usageFrom(parsed.usage);
        this.reading.model ??= str(parsed.model);
        this.reading.serviceTier = str(parsed.service_tier) ?? this.reading.serviceTier;
        return Array.isArray(parsed.choices) && parsed.choices.length === 0;
      }
    }
    if (this.retainedLength < RETAINED_TEXT_LIMIT) {
      this.retained.push(data);
      this.retainedLength += data.length;
    }
    return false;
  }
}

function safeParse(data: string): Json | undefined {
  try {
    const v: unknown = JSON.parse(data);
    return isObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function deltaText(chunk: unknown): string {
  if (!isObject(chunk)) return '';
  if (typeof chunk.delta === 'string') return chunk.delta; // responses: response.output_text.delta
  let text = '';
  for (const choice of Array.isArray(chunk.choices) ? chunk.choices : []) {
    if (!isObject(choice)) continue;
    if (typeof choice.text === 'string') text += choice.text; // legacy completions
    const delta = choice.delta;
    if (isObject(delta)) {
      if (typeof delta.content === 'string') text += delta.content;
      for (const call of Array.isArray(delta.tool_calls) ? delta.tool_calls : []) {
        const fn = isObject(call) ? call.function : undefined;
        if (isObject(fn) && typeof fn.arguments === 'string') text += fn.arguments;
      }
    }
  }
  return text;
}

/** Text of a request's prompt, for estimating input tokens when the upstream never reported them. */
export function promptText(body: Json): { text: string; messages: number } {
  const parts: string[] = [];
  const collect = (v: unknown): void => {
    if (typeof v === 'string') parts.push(v);
    else if (Array.isArray(v)) v.forEach(collect);
    else if (isObject(v)) {
      if (typeof v.text === 'string') parts.push(v.text);
      if (v.content !== undefined) collect(v.content);
    }
  };
  const messages = Array.isArray(body.messages) ? body.messages : [];
  collect(messages);
  collect(body.prompt);
  collect(body.input);
  collect(body.instructions);
  return { text: parts.join('\n'), messages: messages.length };
}

/**
 * Estimated usage for a stream that ended before OpenAI reported usage: prompt from the request,
 * completion from what was relayed, counted with the o200k tokenizer (chat framing adds about
 * 3 tokens per message plus 3, as OpenAI's cookbook counts it).
 */
export async function estimateUsage(requestBody: Json, relayedText: string): Promise<MeteredUsage> {
  const countTokens = await tokenizer();
  const prompt = promptText(requestBody);
  const framing = prompt.messages ? prompt.messages * 3 + 3 : 0;
  return {
    ...EMPTY_USAGE,
    inputTokens: countTokens(prompt.text) + framing,
    outputTokens: relayedText ? countTokens(relayedText) : 0,
  };
}

// The o200k tables cost ~70 MB of memory: loaded the first time a stream is cut short, not at boot.
let loading: Promise<(text: string) => number> | undefined;
// Text that looks like a special token (<|endoftext|>) is counted as plain text, as OpenAI does for
// user content, instead of making the tokenizer throw.
const tokenizer = () =>
  (loading ??= import('gpt-tokenizer').then((m) => (text: string) => m.countTokens(text, { disallowedSpecial: new Set() })));
