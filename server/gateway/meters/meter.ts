// A meter for the endpoints whose price is not only the response's token usage (images, speech):
// picked once from the endpoint's row, so chat and embeddings, which have none, pay nothing for it.
import type { MeteredUsage } from '../../pricing/cost.js';
import type { MeterReading } from '../usage-meter.js';

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

export interface EndpointMeter {
  /** Multipart form fields read as the upload passes (the upload itself is never held). */
  readonly formFields?: readonly string[];
  /** Completes a successful call's usage from the request and the reading. */
  finish(request: RequestFields, reading: MeterReading, response: ResponseFacts): Metered | Promise<Metered>;
}

export const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
