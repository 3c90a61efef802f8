// Reading usage out of what OpenAI sends back, without changing what the client receives.
// Plain JSON bodies are parsed once at the end; SSE streams are scanned event by event as they
// pass, and the usage chunk the gateway asked for on the client's behalf is removed.
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
  /** Built-in tool calls among a Responses output (`web_search_call`, `file_search_call` items). */
  toolCalls?: ToolCallCounts;
  /** A Responses object created with background: true (its id and status): billed once, to its creator. */
  background?: { id: string; status: string | undefined };
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
  if (body.output !== undefined) reading.toolCalls = toolCallsOf(body.output);
  if (typeof body.duration === 'number' && body.duration >= 0) reading.audioDuration = seconds(body.duration);
  if (body.background === true && typeof body.id === 'string') reading.background = { id: body.id, status: str(body.status) };
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

const RETAINED_TEXT_LIMIT = 4 * 1024 * 1024;
const LF = 0x0a;
const CR = 0x0d;
/**
 * An SSE event up to this size is parsed; a larger one is relayed as it arrives, unparsed, with
 * only its first and last bytes kept. OpenAI's events are small (a chat delta is ~200 bytes); a
 * Responses `response.completed` carries the whole output and can reach megabytes (images), so
 * its usage is still read from its end. Before this bound (and the byte scan below) one 8 MB event
 * rescanned the whole pending text on every read: 16 s of blocked event loop through the gateway.
 */
const EVENT_PARSE_LIMIT = 1024 * 1024;
/** Of an event too large to parse: the start (its `event:` name, the start of its data). */
const OVERSIZED_HEAD_BYTES = 1024;
/** ...and, for a terminal Responses event, the end, where `usage` is. */
const OVERSIZED_TAIL_BYTES = 64 * 1024;
const TERMINAL_EVENTS = new Set(['response.completed', 'response.failed', 'response.incomplete', 'image_generation.completed', 'image_edit.completed']);
/**
 * The last event of an image or speech stream (these streams have no [DONE]): it carries the usage.
 * A completed image event holds the whole image in base64 and can pass EVENT_PARSE_LIMIT, so its
 * usage is then read from its tail like a Responses terminal event.
 */
const TERMINAL_TYPES = new Set(['image_generation.completed', 'image_edit.completed', 'speech.audio.done']);

/** What is known of an event too large to parse while it passes. */
interface OversizedEvent {
  event: string;
  errorData: boolean;
  /** Kept only for terminal Responses events. */
  tail?: Buffer[];
  tailBytes: number;
}

/**
 * Scans an SSE stream (chat/completions `data:` chunks, or Responses API named events).
 * `push` returns the bytes to send on: the chunk itself, or, when the usage chunk must be
 * hidden, the complete events that remain. Work is linear in the bytes (each byte is looked at
 * once, by Buffer.indexOf) and what is held is bounded by EVENT_PARSE_LIMIT.
 */
export class SseMeter {
  readonly reading: MeterReading = {};
  /** Saw the stream's proper end ([DONE], or a terminal response.* event). */
  finished = false;
  /** Events larger than EVENT_PARSE_LIMIT, relayed without being read. */
  unparsedEvents = 0;
  private readonly retained: string[] = [];
  private retainedLength = 0;
  /** Bytes of the event under way, from earlier reads (pieces of them, not copies). */
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** The last two bytes of the event under way seen in earlier reads (-1: none), to find an end split across reads. */
  private last1 = -1;
  private last2 = -1;
  private oversized?: OversizedEvent;

  /**
   * `retainText`: keep event data for estimating a cut stream's output tokens (chat, responses).
   * Image and speech streams carry base64 images and audio, which are no text to count: up to
   * RETAINED_TEXT_LIMIT of it would be held per stream for nothing.
   */
  constructor(
    private readonly hideUsageChunk: boolean,
    private readonly retainText = true,
  ) {}

  push(chunk: Buffer): Buffer | null {
    const out: Buffer[] | undefined = this.hideUsageChunk ? [] : undefined;
    // Start of the event under way in this chunk (0: it began in an earlier read, or here).
    let start = 0;
    const before = (i: number) => (i >= start ? chunk[i] : start > 0 ? -1 : i === -1 ? this.last1 : i === -2 ? this.last2 : -1);
    for (let at = chunk.indexOf(LF); at !== -1; at = chunk.indexOf(LF, at + 1)) {
      // An event ends at a line feed that follows a line feed, optionally with a CR between (\n\n, \r\n\r\n).
      const b1 = before(at - 1);
      if (b1 !== LF && !(b1 === CR && before(at - 2) === LF)) continue;
      const end = at + 1;
      this.completeEvent(chunk.subarray(start, end), out);
      start = end;
    }
    const rest = start === 0 ? chunk : chunk.subarray(start);
    if (rest.length > 0) {
      if (rest.length >= 2) {
        this.last2 = rest[rest.length - 2];
        this.last1 = rest[rest.length - 1];
      } else {
        this.last2 = start === 0 ? this.last1 : -1;
        this.last1 = rest[0];
      }
      if (this.oversized) this.passOversized(rest, out);
      else {
        this.parts.push(rest);
        this.partBytes += rest.length;
        if (this.partBytes > EVENT_PARSE_LIMIT) this.startOversized(out);
      }
    }
    if (!out) return chunk;
    return out.length === 0 ? null : out.length === 1 ? out[0] : Buffer.concat(out);
  }

  /** Whatever is left when the upstream ends (an incomplete last event is passed on as is). */
  end(): Buffer | null {
    if (this.oversized) {
      // Cut in the middle of a large event: already relayed as it came, and it said nothing.
      this.oversized = undefined;
      this.unparsedEvents++;
      return null;
    }
    if (this.partBytes === 0) return null;
    const rest = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.partBytes);
    this.parts = [];
    this.partBytes = 0;
    const text = rest.toString('utf8');
    if (text.trim()) this.scan(text);
    return this.hideUsageChunk ? rest : null;
  }

  /** `piece` ends the event under way (its earlier bytes are in `parts`, or it was too large and already relayed). */
  private completeEvent(piece: Buffer, out: Buffer[] | undefined): void {
    this.last1 = this.last2 = -1;
    if (this.oversized) {
      this.passOversized(piece, out);
      this.finishOversized();
      return;
    }
    let raw = piece;
    if (this.partBytes > 0) {
      this.parts.push(piece);
      raw = Buffer.concat(this.parts, this.partBytes + piece.length);
      this.parts = [];
      this.partBytes = 0;
    }
    if (raw.length > EVENT_PARSE_LIMIT) {
      // Arrived whole in one read, but too large to parse all the same.
      this.parts = [raw];
      this.partBytes = raw.length;
      this.startOversized(out);
      this.finishOversized();
      return;
    }
    if (!this.scan(raw.toString('utf8')) || !this.hideUsageChunk) out?.push(raw);
  }

  /** The event under way passed the parse limit: relay what was held, keep only its head (and tail). */
  private startOversized(out: Buffer[] | undefined): void {
    const held = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.partBytes);
    this.parts = [];
    this.partBytes = 0;
    let event = '';
    let data = '';
    for (const line of held.subarray(0, OVERSIZED_HEAD_BYTES).toString('utf8').split(/\r?\n/)) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:') && !data) data = line.slice(line[5] === ' ' ? 6 : 5);
    }
    this.oversized = { event, errorData: data.startsWith('{"error"'), tailBytes: 0, tail: TERMINAL_EVENTS.has(event) ? [] : undefined };
    this.passOversized(held, out);
  }

  private passOversized(piece: Buffer, out: Buffer[] | undefined): void {
    out?.push(piece);
    const o = this.oversized!;
    if (!o.tail) return;
    o.tail.push(piece);
    o.tailBytes += piece.length;
    if (o.tailBytes > 2 * OVERSIZED_TAIL_BYTES) {
      // Copied, so the tail does not keep the large reads it came from alive.
      const joined = Buffer.concat(o.tail, o.tailBytes);
      o.tail = [Buffer.from(joined.subarray(joined.length - OVERSIZED_TAIL_BYTES))];
      o.tailBytes = OVERSIZED_TAIL_BYTES;
    }
  }

  /** The end of an event too large to parse: what its head and tail tell. */
  private finishOversized(): void {
    const o = this.oversized!;
    this.oversized = undefined;
    this.unparsedEvents++;
    if (o.event === 'error' || o.errorData) {
      this.reading.error ??= { type: null, code: null, message: null };
      this.finished = true;
    } else if (o.tail) {
      const tail = readJsonTail(Buffer.concat(o.tail, o.tailBytes).toString('utf8'));
      if (tail.usage) this.reading.usage = tail.usage;
      if (o.event === 'response.failed') this.reading.error ??= { type: 'server_error', code: null, message: null };
      this.finished = true;
    }
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
        if (response.output !== undefined) this.reading.toolCalls = toolCallsOf(response.output);
        if (response.background === true && typeof response.id === 'string') this.reading.background = { id: response.id, status: str(response.status) };
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
        if (typeof parsed.type === 'string' && TERMINAL_TYPES.has(parsed.type)) this.finished = true;
        return Array.isArray(parsed.choices) && parsed.choices.length === 0;
      }
    }
    if (this.retainText && this.retainedLength < RETAINED_TEXT_LIMIT) {
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
export const countTokens = (): Promise<(text: string) => number> => tokenizer();
const tokenizer = () =>
  (loading ??= import('gpt-tokenizer').then((m) => (text: string) => m.countTokens(text, { disallowedSpecial: new Set() })));
