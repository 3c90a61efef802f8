// The lifecycle of one call through the gateway, and everything learnt about it on the way.
//
//   received ─▶ authorized ─▶ admitted ─▶ sent ─▶ answered ─▶ ended
//       └───────────┴────────────┴──────────┴─────────┴──────────▲   (refused, failed, aborted)
//
// received:   arrived; no key known yet.
// authorized: its gateway key resolved to a route (org, feature, budget).
// admitted:   its body is read and every before-forward hook let it through (budget, pacing, caps).
// sent:       dispatched upstream: from here a client leaving is client_aborted (and estimated),
//             before it, not_sent (OpenAI never saw it: no cost, no estimate).
// answered:   the upstream's status and headers arrived and were relayed.
// ended:      the exchange is over (response complete, refused, failed or cut); the usage event is
//             then built from the finished call by buildUsageEvent (./usage-event.builder.ts).
//
// Only the proxy moves a call between phases (these methods); hooks see it as a read-only HookedCall.
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { OpenAIError } from '../http/openai-error.js';
import type { Outcome } from '../ledger/usage-event.js';
import type { AnonymousReason } from '../ratelimits/anonymous-requests.service.js';
import type { ErrorKind } from '../ratelimits/rate-limit-headers.js';
import type { MeteredUsage } from '../pricing/cost.js';
import type { RefusedKey, Route } from '../orgs/route-resolver.js';
import type { Attribution } from './background-responses.js';
import type { CallPhase } from './hooks/call-hook.js';
import type { Endpoint } from './endpoints.js';
import type { HookedCall } from './hooks/call-hook.js';
import type { Metered, ResponseMeter } from './meters/meter.js';
import type { MeterReading } from './meters/reading.js';
import type { AudioUploadMeter } from './meters/upload.js';

export type { CallPhase } from './hooks/call-hook.js';

const RANK: Record<CallPhase, number> = { received: 0, authorized: 1, admitted: 2, sent: 3, answered: 4, ended: 5 };

/** A transition the lifecycle does not allow: a bug in the proxy, never the caller's doing. */
export class PhaseError extends Error {
  constructor(from: CallPhase, to: CallPhase) {
    super(`call cannot go from ${from} to ${to}`);
  }
}

/** A background response seen by the call (see BackgroundResponses). */
export type BackgroundState = 'pending' | 'billed' | 'already' | 'unknown';

/** What goes upstream: the body (bytes or a piped upload) and how it was prepared. */
export interface Outgoing {
  bytes?: Buffer | Readable;
  hideUsageChunk: boolean;
  contentType: string | undefined;
  /** The parsed JSON body (metered routes only). */
  json?: Record<string, unknown>;
}

/** Everything learnt about one call, read by buildUsageEvent once the call ended. */
export class Call implements HookedCall {
  readonly id = randomUUID();
  readonly createdAt = new Date();
  readonly started = performance.now();
  private current: CallPhase = 'received';
  route?: Route;
  /** A key Tallygate issued but refused (revoked, org not allowed...): its row names it. */
  refusedKey?: RefusedKey;
  /** No key Tallygate issued: counted by reason, no ledger row. */
  anonymous?: AnonymousReason;
  model: string | null = null;
  streamed = false;
  status = 0;
  ttfbMs: number | null = null;
  /** Set once the upstream answered: its status and headers. */
  upstream?: { statusCode: number; headers: IncomingHttpHeaders };
  /** The client went away before its response was complete. */
  clientGone = false;
  /** Cancels the upstream request once it is under way. */
  cancelUpstream?: () => void;
  reading: MeterReading = {};
  /** The batch or file a create route answered with (Endpoint.readsResource). */
  get resource() {
    return this.reading.resource;
  }
  outcome: Outcome = 'ok';
  errorKind: ErrorKind | null = null;
  gatewayError?: OpenAIError;
  estimated?: MeteredUsage;
  /** The body meter of the answer (chosen by the endpoint's Metering from its content type). */
  meter?: ResponseMeter;
  audio?: AudioUploadMeter;
  measuredAudioSeconds?: number;
  /** What the endpoint's price components (images, speech) or the tool calls of a response made of the usage. */
  metered?: Metered;
  /** When the client's response ended (latency stops here, not when the event is built). */
  endedAt = 0;
  /** When the upstream call started (0: never sent) and when its body ended (0: not normally). */
  upstreamAt = 0;
  upstreamDoneAt = 0;
  /** An upload piped through unparsed (files, uploads parts), capped at FILE_LIMIT_BYTES. */
  upload?: Readable;
  /**
   * A background response seen by this call: `pending` (created, no usage yet: cost 0), `billed`
   * (this call is the first to show its final usage: it carries the cost, attributed to
   * `billedTo`), `already` (billed by an earlier call: cost 0), `unknown` (the claim failed).
   */
  background?: BackgroundState;
  billedTo?: Attribution;
  requestBody?: Record<string, unknown>;
  outgoing?: Outgoing;
  readonly notes: Record<string, unknown> = {};

  constructor(
    readonly endpoint: Endpoint,
    readonly requestHeaders: IncomingHttpHeaders,
    readonly retryCount: number,
  ) {}

  get phase(): CallPhase {
    return this.current;
  }

  /** The call went upstream (or may have: undici can write it before any callback). */
  get sent(): boolean {
    return this.upstreamAt > 0;
  }

  /** Length of the JSON body sent upstream (0 for a piped upload or no body). */
  get requestBytes(): number {
    const bytes = this.outgoing?.bytes;
    return Buffer.isBuffer(bytes) ? bytes.length : 0;
  }

  /** received → authorized: the key resolved to a route. */
  authorize(route: Route): void {
    this.move('authorized');
    this.route = route;
  }

  /** The body is read (while authorized, before the hooks, which may read it). */
  readBody(outgoing: Outgoing): void {
    this.outgoing = outgoing;
    this.requestBody = outgoing.json;
  }

  /** authorized → admitted: every before-forward hook let it through. */
  admit(): void {
    this.move('admitted');
  }

  /** admitted → sent: dispatched upstream. */
  send(): void {
    this.move('sent');
    this.upstreamAt = performance.now();
  }

  /** sent → answered: the upstream's status and headers arrived. */
  answer(statusCode: number, headers: IncomingHttpHeaders): void {
    this.move('answered');
    this.upstream = { statusCode, headers };
    this.status = statusCode;
  }

  /** → ended, from any phase; once. Latency stops at the first end (the client's response end). */
  end(): void {
    if (this.current === 'ended') return;
    this.current = 'ended';
    this.endedAt ||= performance.now();
  }

  private move(to: CallPhase): void {
    if (RANK[to] !== RANK[this.current] + 1) throw new PhaseError(this.current, to);
    this.current = to;
  }
}
