// The body meters an endpoint row can name (endpoints.ts `metering`), by the shapes of its answers.
// The content type of each answer picks the meter: a route answers SSE or JSON as the request asked.
import { BinaryMeter } from './binary.js';
import { JsonMeter } from './json.js';
import type { Metering, ResponseMeter } from './meter.js';
import { SseMeter } from './sse.js';

const isSse = (contentType: string) => contentType.startsWith('text/event-stream');
const isJson = (contentType: string) => contentType.includes('json');

/** Token-billed text (chat, completions, responses, embeddings, audio text): SSE or whole JSON. */
export const TOKENS: Metering = {
  name: 'tokens',
  open: (contentType, hideUsageChunk): ResponseMeter | undefined =>
    isSse(contentType) ? new SseMeter(hideUsageChunk) : isJson(contentType) ? new JsonMeter() : undefined,
};

/**
 * Media with price components (images, speech): SSE events carrying base64 (no text kept for
 * estimates), JSON, or a binary body whose length is counted (speech audio).
 */
export const MEDIA: Metering = {
  name: 'media',
  open: (contentType, hideUsageChunk): ResponseMeter =>
    isSse(contentType) ? new SseMeter(hideUsageChunk, false) : isJson(contentType) ? new JsonMeter() : new BinaryMeter(),
};

/**
 * Not metered per call (files, vector stores, fine-tuning...): relayed unread, never collected (a
 * download may be 512 MB); a stream is still scanned, so it ends cleanly when cut.
 */
export const RELAYED: Metering = {
  name: 'relayed',
  open: (contentType, hideUsageChunk): ResponseMeter | undefined => (isSse(contentType) ? new SseMeter(hideUsageChunk) : undefined),
};

export type { EndpointMeter, Metered, Metering, ResponseMeter } from './meter.js';
