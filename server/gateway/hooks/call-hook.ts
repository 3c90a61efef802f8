// The policy seam around the forward (after Bifrost's PreLLMHook/PostLLMHook, in Nest's idiom):
// each hook is a provider in its own file, listed once, in order, in ./index.ts. The proxy runs
// the lifecycle; hooks decide (before the upstream) and observe (once the usage event is built).
import type { IncomingHttpHeaders } from 'node:http';
import type { UsageEvent } from '../../ledger/usage-event.js';
import type { Route } from '../../orgs/route-resolver.js';
import type { Endpoint } from '../endpoints.js';
import type { StoredResource } from '../usage-meter.js';

/** What a hook may read of a call. The proxy owns the call; hooks never move it between phases. */
export interface HookedCall {
  readonly id: string;
  readonly createdAt: Date;
  readonly endpoint: Endpoint;
  /** Set once the gateway key was resolved; undefined for a call refused before that. */
  readonly route?: Route;
  readonly model: string | null;
  readonly streamed: boolean;
  /** The client's request headers, as received (x-tallygate-* are never forwarded upstream). */
  readonly requestHeaders: IncomingHttpHeaders;
  /** The parsed JSON request body, when the endpoint takes JSON (never for multipart uploads). */
  readonly requestBody?: Readonly<Record<string, unknown>>;
  /** The upstream's status and headers, once it answered. */
  readonly upstream?: { readonly statusCode: number; readonly headers: IncomingHttpHeaders };
  /** The batch or file a create route answered with (Endpoint.readsResource), once the answer was read. */
  readonly resource?: StoredResource;
  /** Per-call state a hook keeps between its phases (keyed by the hook's name). */
  readonly notes: Record<string, unknown>;
}

export interface CallHook {
  /** Unique, stable: names the hook in logs and in `notes`. */
  readonly name: string;
  /**
   * Before the upstream, once the call has a route and its body is read. Refuse the call by
   * throwing an OpenAIError: it is not sent, costs nothing, and its row carries the error. Return
   * a promise only when there is something to wait for (each await costs every call).
   */
  beforeForward?(call: HookedCall): void | Promise<void>;
  /**
   * Once the call ended and its usage event is built, before it is queued, for every call that
   * gets a row (refused ones included). May add to the event (attribution, verdicts); must not
   * throw or wait: a failure is logged and the event is recorded regardless.
   */
  onEvent?(event: UsageEvent, call: HookedCall): void;
}

/** The ordered list of hooks (see ./index.ts), injected into the proxy. */
export const CALL_HOOKS = Symbol('CALL_HOOKS');
