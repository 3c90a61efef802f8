// The SSE meter: scans a stream (chat/completions `data:` chunks, or Responses API named events)
// event by event as it passes, and removes the usage chunk the gateway asked for on the client's
// behalf. Linear in the bytes, holding at most one event (bounded).
import { errorFrom, isObject, readJsonTail, safeParse, str, toolCallsOf, usageFrom, type MeterReading } from './reading.js';
import type { ResponseMeter } from './meter.js';

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
export class SseMeter implements ResponseMeter {
  readonly reading: MeterReading = {};
  /** A stream: on failure it gets a clean end (the SDK stops reading) rather than a cut socket. */
  readonly streamed = true;
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

  /** The client gets other bytes than the upstream sent (the usage chunk is removed): no content-length. */
  get rewrites(): boolean {
    return this.hideUsageChunk;
  }

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

