// The two sides of metering a call.
// - A body meter (ResponseMeter) reads the response as it is relayed: one per call, opened by the
//   endpoint's Metering from the answer's content type (SSE, whole JSON, JSON tail, binary). The
//   proxy only feeds it chunks; what it read (MeterReading) goes into the usage event.
// - Price components (EndpointMeter) complete a successful call's usage beyond its tokens (images,
//   speech): picked once from the endpoint's row, so chat and embeddings, which have none, pay
//   nothing for it.
// The request side of a multipart upload (form fields, audio duration) is ./upload.ts.
import type { MeteredUsage } from '../../pricing/cost.js';
import type { MeterReading } from './reading.js';

export type { MeterReading } from './reading.js';

/** Reads a response body as it passes, without holding more of it than its usage needs. */
export interface ResponseMeter {
  /** The bytes to relay for this chunk: the chunk itself, or what is left of it (null: nothing yet). */
  push(chunk: Buffer): Buffer | null;
  /** The upstream body ended: the last bytes to relay, if any. The reading is final after this. */
  end(): Buffer | null;
  /** What the body said (usage, model, tier, error), as far as it was read. */
  readonly reading: MeterReading;
  /** False when the body stopped before its proper end (a stream without [DONE] or terminal event). */
  readonly finished: boolean;
  /** A stream: on failure it gets a clean end (the SDK stops reading) rather than a cut socket. */
  readonly streamed: boolean;
  /** The client gets other bytes than the upstream sent (content-length is dropped). */
  readonly rewrites: boolean;
  /** Body bytes counted (binary bodies, whose length is their measure: speech audio). */
  readonly bytes?: number;
  /** Text relayed to the client so far, to estimate the output of a call cut short. */
  relayedText?(): string;
  /** Events too large to parse that were relayed unread (SSE). */
  readonly unparsedEvents?: number;
}

/**
 * How an endpoint's answers are read: names the body meter per content type. An endpoint row
 * names one (endpoints.ts); a new body shape is a new ResponseMeter and a Metering that opens it.
 */
export interface Metering {
  readonly name: string;
  /** The meter for an answer of `contentType`; undefined: relayed unread (nothing in it to meter). */
  open(contentType: string, hideUsageChunk: boolean): ResponseMeter | undefined;
}

/** What the client asked for: the JSON body, or the small text fields of a multipart form. */
export type RequestFields = Readonly<Record<string, unknown>>;

/** What the gateway saw of the response without collecting it. */
export interface ResponseFacts {
  contentType: string;
  /** Body bytes relayed (counted only for endpoints with a meter, and only for non-JSON bodies). */
  bytes: number;
}

export interface Metered {
  /** The usage to price; undefined when nothing could be counted. */
  usage?: MeteredUsage;
  /** The model, when the request named none and OpenAI's default applies. */
  model?: string;
  /** Counted by the gateway rather than reported by OpenAI. */
  estimated?: boolean;
  /** Part of what was billed could not be counted: the cost is unknown (NULL), not the part that was. */
  unpriced?: boolean;
}

/** Price components: completes a successful call's usage from the request and the reading (images, speech). */
export interface EndpointMeter {
  /** Multipart form fields read as the upload passes (the upload itself is never held). */
  readonly formFields?: readonly string[];
  /** Completes a successful call's usage from the request and the reading. */
  finish(request: RequestFields, reading: MeterReading, response: ResponseFacts): Metered | Promise<Metered>;
}

export const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
