// A binary answer (speech audio): relayed as it comes, never held; its length is what is known.
import type { ResponseMeter } from './meter.js';
import type { MeterReading } from './reading.js';

const NOTHING: MeterReading = Object.freeze({});

export class BinaryMeter implements ResponseMeter {
  readonly reading = NOTHING;
  readonly finished = true;
  readonly streamed = false;
  readonly rewrites = false;
  bytes = 0;

  push(chunk: Buffer): Buffer {
    this.bytes += chunk.length;
    return chunk;
  }

  end(): null {
    return null;
  }
}
