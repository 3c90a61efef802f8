// Whole JSON bodies, parsed once at their end; past PARSE_LIMIT (a big embeddings batch) only the
// tail is kept, where OpenAI writes `usage`. The body is relayed as it comes, never changed.
import type { ResponseMeter } from './meter.js';
import { readJsonBody, readJsonTail, type MeterReading } from './reading.js';

/** Non-streamed bodies up to this size are parsed whole for usage; larger ones are read from their tail. */
export const PARSE_LIMIT = 8 * 1024 * 1024;
/** Of a larger body, the end is kept: OpenAI puts `usage` last. */
export const TAIL_BYTES = 64 * 1024;

const NOTHING: MeterReading = Object.freeze({});

/** The end of a body too large to parse: only its last TAIL_BYTES are ever copied. */
export class JsonTailMeter implements ResponseMeter {
  reading: MeterReading = NOTHING;
  readonly finished = true;
  readonly streamed = false;
  readonly rewrites = false;
  private tail?: Buffer;

  constructor(private readonly keep = TAIL_BYTES) {}

  push(chunk: Buffer): Buffer {
    this.add([chunk]);
    return chunk;
  }

  /** Appends `chunks`, keeping the last `keep` bytes in a copy that holds no larger buffer alive. */
  add(chunks: Buffer[]): void {
    const kept = this.tail ? [this.tail, ...chunks] : chunks;
    let bytes = 0;
    let from = kept.length;
    while (from > 0 && bytes < this.keep) bytes += kept[--from].length;
    const joined = Buffer.concat(kept.slice(from));
    this.tail = Buffer.from(joined.subarray(Math.max(0, joined.length - this.keep)));
  }

  end(): null {
    if (this.tail) this.reading = readJsonTail(this.tail.toString('utf8'));
    return null;
  }
}

/**
 * A JSON answer: collected (a reference per chunk, no copy) and parsed once it ended, when its
 * reading is first asked for: after the client's response was ended, so parsing adds nothing to
 * the client's latency. A body cut before its end reads as nothing.
 */
export class JsonMeter implements ResponseMeter {
  private parsed?: MeterReading;
  private ended = false;
  readonly finished = true;
  readonly streamed = false;
  readonly rewrites = false;
  /** Most answers are one chunk: no array for them. */
  private first?: Buffer;
  private more?: Buffer[];
  private length = 0;
  private tail?: JsonTailMeter;

  push(chunk: Buffer): Buffer {
    if (this.tail) return this.tail.push(chunk);
    this.length += chunk.length;
    if (this.length > PARSE_LIMIT) {
      this.tail = new JsonTailMeter();
      this.tail.add(this.first ? [this.first, ...(this.more ?? []), chunk] : [chunk]);
      this.first = this.more = undefined;
    } else if (!this.first) this.first = chunk;
    else (this.more ??= []).push(chunk);
    return chunk;
  }

  end(): null {
    this.ended = true;
    return null;
  }

  get reading(): MeterReading {
    if (!this.ended) return NOTHING;
    if (this.parsed) return this.parsed;
    if (this.tail) {
      this.tail.end();
      this.parsed = this.tail.reading;
    } else if (this.first) {
      const body = this.more ? Buffer.concat([this.first, ...this.more], this.length) : this.first;
      this.parsed = readJsonBody(body.toString('utf8'));
    } else this.parsed = NOTHING;
    // The chunks are no longer needed once read.
    this.first = this.more = this.tail = undefined;
    return this.parsed;
  }
}
