// The policy seam around the forward (after Bifrost's PreLLMHook/PostLLMHook, in Nest's idiom):
// each hook is a provider in its own file, listed once, in order, in ./index.ts. The proxy runs
// the lifecycle; hooks decide (before the upstream) and observe (once the usage event is built).
import type { IncomingHttpHeaders } from 'node:http';
import type { UsageEvent } from '../../ledger/usage-event.js';
import type { Route } from '../../orgs/route-resolver.js';
import type { Endpoint } from '../endpoints.js';
import type { MeterReading, StoredResource } from '../usage-meter.js';

/** Where a call is in its lifecycle (the proxy moves it: see ../call.ts). */
export type CallPhase = 'received' | 'authorized' | 'admitted' | 'sent' | 'answered' | 'ended';

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
  /** What was read of the response (usage, error, a moderation answer's results), once it ended. */
  readonly reading?: Readonly<MeterReading>;
  /** The batch or file a create route answered with (Endpoint.readsResource), once the answer was read. */
  readonly resource?: StoredResource;
  /** Per-call state a hook keeps between its phases (keyed by the hook's name). */
  readonly notes: Record<string, unknown>;
  // Lifecycle facts (see ../call.ts). Always set by the proxy; optional so a hook's unit test can
  // build a call with only what that hook reads.
  /** Where the call is in its lifecycle. */
  readonly phase?: CallPhase;
  /** Went upstream (from `sent` on): OpenAI may have seen it. */
  readonly sent?: boolean;
  /** Length of the JSON body sent upstream (0 for a piped upload or none). */
  readonly requestBytes?: number;
  /** performance.now() at arrival, when sent upstream (0: never), when the upstream body ended (0: not normally), when the client's response ended. */
  readonly started?: number;
  readonly upstreamAt?: number;
  readonly upstreamDoneAt?: number;
  readonly endedAt?: number;
  /** Milliseconds from arrival to the first body byte, once there was one. */
  readonly ttfbMs?: number | null;
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
  /**
   * Headers to add to the response of an endpoint whose row has `holdHead` (its whole JSON body
   * read first, in `call.reading`). Must not throw or wait.
   */
  responseHeaders?(call: HookedCall): Record<string, string> | undefined;
  /**
   * Once for every call, whatever became of it (refused by any hook, failed, aborted, anonymous),
   * as soon as its exchange is over: after the response ended, before the event is settled and
   * built (an estimate or an audio measurement may take a while). Release here what
   * beforeForward took (a slot, a ticket); read what you kept from `notes`. Must not throw or wait.
   */
  onEnd?(call: HookedCall): void;
}

/** The ordered list of hooks (see ./index.ts), injected into the proxy. */
export const CALL_HOOKS = Symbol('CALL_HOOKS');
