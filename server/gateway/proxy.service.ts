// The hot path: authenticate, forward to the org's upstream, relay status, headers and bytes as
// they arrive, and hand one usage event to the ledger queue. Nothing here waits for Postgres.
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Transform } from 'node:stream';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errors as undiciErrors, type Dispatcher } from 'undici';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { toOpenAIError } from '../http/error.filter.js';
import { OpenAIError } from '../http/openai-error.js';
import { LedgerWriter } from '../ledger/ledger.writer.js';
import { MonthToDateSpend } from '../ledger/month-to-date.service.js';
import { TEXT_MAX } from '../ledger/bounds.js';
import type { Outcome, UsageEvent, UsageSource } from '../ledger/usage-event.js';
import { isKeyRefusal, RouteResolver, type RefusedKey, type Route } from '../orgs/route-resolver.js';
import type { MeteredUsage } from '../pricing/cost.js';
import { PricingService } from '../pricing/pricing.service.js';
import type { AnonymousReason } from '../ratelimits/anonymous-requests.service.js';
import { AnonymousRequests } from '../ratelimits/anonymous-requests.service.js';
import { classifyError, parseRateLimitHeaders, type ErrorKind } from '../ratelimits/rate-limit-headers.js';
import { PacingService, type PacingTicket } from '../ratelimits/pacing.service.js';
import { RateLimitObserver } from '../ratelimits/rate-limit.observer.js';
import { AudioUploadMeter } from './audio-meter.js';
import { BackgroundResponses, FINAL_STATUSES, type Attribution } from './background-responses.js';
import type { Endpoint } from './endpoints.js';
import { imageSpec } from './meters/images.js';
import type { Metered } from './meters/meter.js';
import { withToolCalls } from './meters/tool-calls.js';
import { EMPTY_USAGE, estimateUsage, readJsonBody, readJsonTail, SseMeter, type MeterReading } from './usage-meter.js';
import { UpstreamClient, type UpstreamRequest } from './upstream.client.js';
import { CALL_HOOKS, type CallHook, type HookedCall } from './hooks/call-hook.js';

/**
 * Client headers forwarded upstream: only these (and the X-Stainless-* family), the ones the
 * official SDKs send (OPENAI-WIRE.md). Anything else (api-key, cookies, X-Forwarded-*, proxies'
 * and browsers' headers) stays here; authorization, OpenAI-Organization/-Project, content-type and
 * content-length are set by the gateway itself, and accept-encoding is not sent so that metering
 * reads the body uncompressed. One Set lookup per header, as the deny-list it replaces.
 */
const FORWARD_REQUEST = new Set(['accept', 'user-agent', 'openai-beta', 'idempotency-key', 'x-client-request-id']);
/** The SDK's X-Stainless-* (retry count, timeout, platform); x-sim-* drives the project's simulator (OpenAI ignores it). */
const forwardedPrefix = (name: string) => name.charCodeAt(0) === 120 /* x */ && (name.startsWith('x-stainless-') || name.startsWith('x-sim-'));
/** Path parameters (model ids such as `ft:gpt-4o-mini:org:name:abc123`): a conservative charset, no `..`. */
const PATH_PARAM = /^[A-Za-z0-9_.:-]{1,256}$/;
/**
 * The raw path of a call on the rest of the surface: /v1 and segments of the characters OpenAI's
 * paths and ids use. No `%` at all (the SDK never percent-encodes an id; `%2e%2e` or `%2f` would
 * address another path once decoded upstream), no empty segment; `.` and `..` are refused apart.
 */
const RAW_PATH = /^\/v1(?:\/[A-Za-z0-9_.:~-]{1,256})+$/;
const DOT_SEGMENT = /\/\.\.?(?:\/|$)/;
/** The shape of the keys Tallygate issues (`tg-` and 32 random bytes in base64url), to tell a malformed key from an unknown one. */
const GATEWAY_KEY = /^Bearer\s+tg-[A-Za-z0-9_-]{43}\s*$/i;
/** Response headers never relayed: hop-by-hop, and cookies set for OpenAI's own domain. */
const DROP_RESPONSE = new Set(['connection', 'keep-alive', 'transfer-encoding', 'set-cookie', 'alt-svc']);
/** Non-streamed bodies up to this size are parsed whole for usage; larger ones are relayed unparsed. */
const PARSE_LIMIT = 8 * 1024 * 1024;
/** Of a larger body, the end is kept: OpenAI puts `usage` last. */
const TAIL_BYTES = 64 * 1024;

type JsonBody = Record<string, unknown>;

/** Why the upstream request was cancelled: the gateway's shutdown reached the end of its grace period. */
class ShutdownCutError extends Error {
  constructor() {
    super('cut by the gateway shutting down');
  }
}

/** The answer to a request that arrives once this replica is stopping (any route, not only /v1). */
export function shuttingDown(): OpenAIError {
  return new OpenAIError(
    503,
    'This Tallygate replica is shutting down and takes no new requests. Retry: another replica (or this one, restarted) will answer.',
    'server_error',
    'gateway_shutting_down',
    null,
    true,
    { 'retry-after': '1', connection: 'close' },
  );
}

/** Why the upstream request was cancelled: the client disconnected first. */
class ClientGoneError extends Error {
  constructor() {
    super('client disconnected');
  }
}

/** Everything learnt about one call, turned into its usage event at the end. */
class Call implements HookedCall {
  readonly id = randomUUID();
  readonly createdAt = new Date();
  readonly started = performance.now();
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
  outcome: Outcome = 'ok';
  errorKind: ErrorKind | null = null;
  gatewayError?: OpenAIError;
  estimated?: MeteredUsage;
  meter?: SseMeter;
  audio?: AudioUploadMeter;
  measuredAudioSeconds?: number;
  /** What the endpoint's meter (images, speech) or the tool calls of a response made of the usage. */
  metered?: Metered;
  /** Body bytes relayed, counted only for endpoints with a meter whose body is not JSON (speech audio). */
  relayedBytes = 0;
  /** When the client's response ended (latency stops here, not when the event is built). */
  endedAt = 0;
  /** Rate-limit bookkeeping: pacing ticket, when the upstream call started and when its body ended. */
  paced?: PacingTicket;
  upstreamAt = 0;
  upstreamDoneAt = 0;
  /** Held against the concurrent-call caps while the call is upstream (fields, not an object per call). */
  orgSlot?: UpstreamSlot;
  featureSlot?: UpstreamSlot;
  /** An upload piped through unparsed (files, uploads parts), capped at FILE_LIMIT_BYTES. */
  upload?: Transform;
  /**
   * A background response seen by this call: `pending` (created, no usage yet: cost 0), `billed`
   * (this call is the first to show its final usage: it carries the cost, attributed to
   * `billedTo`), `already` (billed by an earlier call: cost 0), `unknown` (the claim failed).
   */
  background?: 'pending' | 'billed' | 'already' | 'unknown';
  billedTo?: Attribution;
  requestBody?: JsonBody;
  readonly notes: Record<string, unknown> = {};

  constructor(readonly endpoint: Endpoint, readonly requestHeaders: IncomingHttpHeaders, readonly retryCount: number) {}
}

@Injectable()
export class ProxyService {
  private readonly logger = new Logger('gateway');

  constructor(
    private readonly resolver: RouteResolver,
    private readonly upstream: UpstreamClient,
    private readonly ledger: LedgerWriter,
    private readonly pricing: PricingService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly spend: MonthToDateSpend,
    private readonly pacing: PacingService,
    private readonly rateLimits: RateLimitObserver,
    private readonly anonymousRequests: AnonymousRequests,
    private readonly backgroundResponses: BackgroundResponses,
    @Inject(CALL_HOOKS) hooks: CallHook[],
  ) {
    this.beforeHooks = hooks.filter((hook) => hook.beforeForward);
    this.eventHooks = hooks.filter((hook) => hook.onEvent);
  }

  /** The hooks that have each phase, in the list's order (see hooks/index.ts). */
  private readonly beforeHooks: CallHook[];
  private readonly eventHooks: CallHook[];

  /**
   * Runs the before-forward hooks in order; a promise only from the first hook that returns one,
   * so synchronous hooks (attribution) cost the call no await.
   */
  private runBeforeHooks(call: Call, from = 0): Promise<void> | undefined {
    for (let i = from; i < this.beforeHooks.length; i++) {
      const pending = this.beforeHooks[i].beforeForward!(call);
      if (pending) return pending.then(() => this.runBeforeHooks(call, i + 1));
    }
    return undefined;
  }

  /**
   * One call, start to usage event. `unread`: Fastify could not read or parse the body (malformed
   * or empty JSON, too large, unsupported type); the call is refused after its key is known, so it
   * still gets its row.
   */
  async handle(endpoint: Endpoint, req: FastifyRequest, reply: FastifyReply, unread?: Error): Promise<void> {
    const call = new Call(endpoint, req.headers, retryCount(req.headers));
    reply.hijack();
    const res = reply.raw;
    // From the first moment: a client that leaves while the key is looked up or the call is paced
    // must cancel it, not have it sent upstream after the fact.
    const onClientGone = () => {
      if (res.writableFinished) return;
      call.clientGone = true;
      call.cancelUpstream?.();
    };
    res.once('close', onClientGone);
    let body: JsonBody | undefined;
    this.active++;
    try {
      // Each step awaits only when it has to: a needless await parks the request behind every
      // other queued microtask, which under load showed up as tens of microseconds per step.
      const route = this.resolver.resolve(req.headers.authorization, header(req.headers, 'openai-organization'));
      call.route = route instanceof Promise ? await route : route;
      if (this.stopping) throw shuttingDown();
      if (unread) throw unreadBody(unread);
      if (endpoint.checkPath) checkPath(req.url);
      if (endpoint.params) checkParams(endpoint.params, req.params as Record<string, string>);
      if (call.route.monthlyBudgetNanos !== null) await this.checkBudget(call.route);
      const outgoing = this.prepareBody(endpoint, req, call);
      body = call.requestBody = outgoing.json;
      if (this.beforeHooks.length > 0) {
        const pending = this.runBeforeHooks(call);
        if (pending) await pending;
      }
      // Gone during the key lookup or budget check: not sent, so not paced either.
      if (call.clientGone) throw new ClientGoneError();
      const ticket = this.pacing.admit(call.route.org, call.model, outgoing);
      if (ticket) call.paced = await ticket;
      this.takeUpstreamSlots(call, call.route);
      await this.forward(call, req.url.slice(req.url.indexOf('/v1') + 3), outgoing, upstreamHeaders(req.headers, call.route, outgoing.contentType), res);
    } catch (error) {
      if (!call.route) this.identify(call, error, req.headers.authorization);
      this.fail(call, error, res);
    } finally {
      res.removeListener('close', onClientGone);
      releaseUpstreamSlots(call);
      call.endedAt ||= performance.now();
      const settling = this.settle(call, body);
      if (settling) {
        await settling.catch((error: Error) => this.logger.error(`usage event ${call.id} recorded with less than was known: ${error.stack ?? error.message}`));
      }
      this.record(call);
      if (--this.active === 0) this.idle?.();
    }
  }

  /** Set once by shutdown() at SIGTERM: new calls get 503, every response from then on Connection: close. */
  private stopping = false;
  /** Set at the end of the grace period: whatever is cut from then on was cut by the shutdown. */
  private cutting = false;

  /** Shutdown has begun (SIGTERM): refuse new calls, and close each connection after its response. */
  beginShutdown(): void {
    this.stopping = true;
  }

  isStopping(): boolean {
    return this.stopping;
  }

  /**
   * The grace period is over: cancel every upstream call still running, so that each client gets a
   * clean end (a stream its end, so the SDK stops reading without a socket error; a sized body can
   * only be cut) and each call is recorded as cut by the shutdown, not by its client.
   */
  cutInFlight(): void {
    this.cutting = true;
    this.upstream.destroyAll(new ShutdownCutError());
  }

  /** After the deadline, any failure is the shutdown's doing: end what can be ended cleanly. */
  private failCut(call: Call, res: FastifyReply['raw']): void {
    call.outcome = 'shutdown';
    call.errorKind = 'shutdown';
    if (res.headersSent) {
      if (call.meter) res.end();
      else res.destroy();
      return;
    }
    if (res.destroyed) return;
    const error = shuttingDown();
    call.gatewayError = error;
    call.status = error.status;
    res.writeHead(error.status, { ...error.responseHeaders(), 'x-tallygate-event-id': call.id });
    res.end(JSON.stringify(error.body()));
  }

  /** Upstream calls in flight per org and per feature (by id), held against their caps. */
  private readonly inFlightByOrg = new Map<string, UpstreamSlot>();
  private readonly inFlightByFeature = new Map<string, UpstreamSlot>();

  /**
   * Fair sharing of the upstream pool: one counter per org (and per feature when that cap is set),
   * no promise, no queue. Past a cap the call is answered 429 at once, before anything is sent.
   */
  private takeUpstreamSlots(call: Call, route: Route): void {
    const orgCap = this.config.UPSTREAM_MAX_CONCURRENT_PER_ORG;
    const featureCap = this.config.UPSTREAM_MAX_CONCURRENT_PER_FEATURE;
    const org = orgCap > 0 ? slotOf(this.inFlightByOrg, route.org.orgId) : undefined;
    const feature = featureCap > 0 ? slotOf(this.inFlightByFeature, route.featureId) : undefined;
    if (org && org.inFlight >= orgCap) throw concurrencyLimit(`Organization ${route.org.openaiOrgId}`, orgCap, 'UPSTREAM_MAX_CONCURRENT_PER_ORG');
    if (feature && feature.inFlight >= featureCap) throw concurrencyLimit(`Feature ${route.featureSlug}`, featureCap, 'UPSTREAM_MAX_CONCURRENT_PER_FEATURE');
    if (org) (call.orgSlot = org).inFlight++;
    if (feature) (call.featureSlot = feature).inFlight++;
  }

  /**
   * A multipart upload streams through to the upstream as it arrives, holding an upstream
   * connection: one that stalls (REQUEST_BODY_IDLE_TIMEOUT_MS) or drags on
   * (REQUEST_BODY_TIMEOUT_MS) is failed, which cancels the upstream request and answers 408.
   */
  private limitUpload(req: FastifyRequest, body: Transform): void {
    const { REQUEST_BODY_IDLE_TIMEOUT_MS: idleMs, REQUEST_BODY_TIMEOUT_MS: totalMs } = this.config;
    const fail = (message: string) => body.destroy(Object.assign(new Error(message), { code: 'TALLYGATE_BODY_TIMEOUT' }));
    const idle = idleMs > 0 ? setTimeout(() => fail(`no bytes of the upload for ${idleMs} ms`), idleMs) : undefined;
    const total = totalMs > 0 ? setTimeout(() => fail(`upload not complete after ${totalMs} ms`), totalMs) : undefined;
    const onData = () => idle?.refresh();
    if (idle) req.raw.on('data', onData);
    const done = () => {
      clearTimeout(idle);
      clearTimeout(total);
      req.raw.removeListener('data', onData);
    };
    req.raw.once('end', done);
    req.raw.once('close', done);
    body.once('close', done);
    // Reported through the upstream request (fail() answers 408); a call refused before it was
    // sent (a cap, a budget) has no one else listening, and must not crash the process.
    body.on('error', () => undefined);
  }

  /** Calls between arrival and their usage event being queued, and who waits for that to reach 0. */
  private active = 0;
  private idle?: () => void;

  /**
   * Shutdown, once the server stopped taking requests: wait until every call has queued its usage
   * event (streams cut at the end of the grace period, audio settling, estimates), so that the last
   * ledger flush has them all. Bounded: a call stuck beyond `timeoutMs` is reported, not waited for.
   */
  async drain(timeoutMs = 10_000): Promise<void> {
    if (this.active === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((resolve) => {
      this.idle = resolve;
      timer = setTimeout(resolve, timeoutMs);
    });
    clearTimeout(timer);
    this.idle = undefined;
    if (this.active > 0) this.logger.warn(`${this.active} calls still unfinished at shutdown: their usage events will be missing`);
  }

  /**
   * What must be learnt before the event can be built, when anything: a token estimate for a call
   * cut short, the length of an uploaded audio file. Most calls need neither and get no promise.
   */
  private settle(call: Call, body: JsonBody | undefined): Promise<void> | undefined {
    // Cut short before OpenAI reported usage: count what was asked and what was relayed.
    const cutShort = call.outcome === 'client_aborted' || call.outcome === 'upstream_aborted' || call.outcome === 'shutdown' || !!call.reading.error;
    const estimate = cutShort && body && !call.reading.usage && call.status < 400;
    const metering = this.meter(call, body);
    const background = call.reading.background;
    if (!estimate && !call.audio && !metering && !background) return undefined;
    return (async () => {
      if (background) {
        await this.settleBackground(call, background);
        // The call that claims a background response bills all of it: its built-in tool calls too
        // (meter() leaves them to billable routes, and a retrieve is not one).
        const toolCalls = call.reading.toolCalls;
        if (call.background === 'billed' && toolCalls && !call.metered) call.metered = { usage: withToolCalls(call.reading.usage ?? EMPTY_USAGE, toolCalls, undefined) };
      }
      if (metering) {
        call.metered = await metering.catch((error: Error) => {
          this.logger.warn(`usage event ${call.id}: not metered (${error.message}); recorded without its usage`);
          return undefined;
        });
      }
      if (estimate) {
        call.estimated = await estimateUsage(body, call.meter?.relayedText() ?? '').catch((error: Error) => {
          this.logger.warn(`usage event ${call.id}: no token estimate (${error.message}); recorded without one`);
          return undefined;
        });
      }
      if (call.audio) {
        call.measuredAudioSeconds = await call.audio.durationSeconds().catch((error: Error) => {
          this.logger.warn(`usage event ${call.id}: audio length unknown (${error.message})`);
          return undefined;
        });
        call.model = call.audio.fields.model ?? null;
        call.streamed ||= call.audio.fields.stream === 'true'; // a streamed image edit
      }
    })();
  }

  /**
   * The endpoint's own meter (images, speech), or the per-call tool fees of a response: only for a
   * call that succeeded, and only on routes that have one (chat and embeddings skip it in one test).
   * Sets call.metered now, or returns the promise of it (a speech estimate loads the tokenizer).
   */
  private meter(call: Call, body: JsonBody | undefined): Promise<Metered> | undefined {
    const meter = call.endpoint.meter;
    // Tool calls are billed with the call that bills the response (POST /responses), not again on
    // a route that only shows it (a retrieve answers the same output).
    const toolCalls = call.endpoint.billable ? call.reading.toolCalls : undefined;
    if ((!meter && !toolCalls) || call.status >= 400 || call.outcome !== 'ok' || call.reading.error) return undefined;
    if (!meter) {
      call.metered = { usage: withToolCalls(call.reading.usage ?? EMPTY_USAGE, toolCalls!, body) };
      return undefined;
    }
    const contentType = String(call.upstream?.headers['content-type'] ?? '');
    const metered = meter.finish(body ?? call.audio?.fields ?? {}, call.reading, { contentType, bytes: call.relayedBytes });
    if (metered instanceof Promise) return metered;
    call.metered = metered;
    return undefined;
  }

  /**
   * A background response in this call's answer: remembered on its create (queued, no usage), and
   * claimed by the first call that shows its final usage (see BackgroundResponses).
   */
  private async settleBackground(call: Call, background: { id: string; status: string | undefined }): Promise<void> {
    const route = call.route;
    if (!route || call.status >= 400 || call.outcome !== 'ok') return;
    const caller: Attribution = { orgId: route.org.orgId, featureId: route.featureId, gatewayKeyId: route.gatewayKeyId };
    const model = call.model ?? call.reading.model ?? null;
    try {
      if (call.reading.usage && background.status !== undefined && FINAL_STATUSES.has(background.status)) {
        call.billedTo = (await this.backgroundResponses.claim(background.id, call.id, caller, model)) ?? undefined;
        call.background = call.billedTo ? 'billed' : 'already';
      } else if (call.endpoint.name === 'responses') {
        await this.backgroundResponses.remember(background.id, caller, model);
        call.background = 'pending';
      }
    } catch (error) {
      call.background = 'unknown';
      this.logger.warn(`usage event ${call.id}: background response ${background.id} not settled (${(error as Error).message}); recorded with an unknown cost`);
    }
  }

  /** A call refused before it had a route: a key Tallygate issued (its row names it), or none (counted only). */
  private identify(call: Call, error: unknown, authorization: string | undefined): void {
    if (isKeyRefusal(error)) call.refusedKey = error.refusedKey;
    else if (!authorization) call.anonymous = 'missing_key';
    else if (error instanceof OpenAIError && error.status === 401) call.anonymous = GATEWAY_KEY.test(authorization) ? 'unknown_key' : 'malformed_key';
    else call.anonymous = 'key_unverified'; // the lookup failed: whose key it is is not known
  }

  /** The one usage event of this call. A bug here must not take the process down: log it loudly. */
  private record(call: Call): void {
    if (call.anonymous) return this.anonymousRequests.count(call.anonymous);
    try {
      const event = this.toEvent(call);
      for (const hook of this.eventHooks) {
        try {
          hook.onEvent!(event, call);
        } catch (error) {
          this.logger.error(`usage event ${call.id}: hook ${hook.name} failed (${(error as Error).message}); recorded without it`);
        }
      }
      if (call.meter?.unparsedEvents && !call.reading.usage) {
        this.logger.warn(`usage event ${call.id}: ${call.meter.unparsedEvents} SSE event(s) too large to parse were relayed unread; its usage could not be read (recorded without it)`);
      }
      this.ledger.record(event);
      this.rateLimits.observe(event, call);
    } catch (error) {
      this.logger.error(`usage event ${call.id} (${call.endpoint.name}) could not be recorded: ${(error as Error).stack ?? String(error)}`);
    }
  }

  private prepareBody(endpoint: Endpoint, req: FastifyRequest, call: Call) {
    if (endpoint.body === 'none') return { bytes: undefined, hideUsageChunk: false, contentType: undefined };
    if (endpoint.body === 'any') return this.prepareAny(req, call);
    if (endpoint.body === 'multipart') {
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > this.config.AUDIO_LIMIT_BYTES) {
        throw new OpenAIError(413, `The upload is ${declared} bytes; this gateway accepts up to ${this.config.AUDIO_LIMIT_BYTES} (AUDIO_LIMIT_BYTES).`, 'invalid_request_error', 'request_too_large');
      }
      call.audio = new AudioUploadMeter(req.headers, this.config.AUDIO_LIMIT_BYTES, endpoint.meter?.formFields);
      req.raw.pipe(call.audio.body);
      req.raw.once('error', (error) => call.audio?.body.destroy(error));
      this.limitUpload(req, call.audio.body);
      return { bytes: call.audio.body, hideUsageChunk: false, contentType: req.headers['content-type'] };
    }
    const json = req.body as JsonBody | undefined;
    if (!json || typeof json !== 'object' || Array.isArray(json)) {
      throw new OpenAIError(400, 'The request body must be a JSON object.', 'invalid_request_error', 'invalid_json');
    }
    call.model = modelOf(json.model);
    call.streamed = json.stream === true;
    let bytes = (req as FastifyRequest & { rawBody?: Buffer }).rawBody ?? Buffer.from(JSON.stringify(json));
    let hideUsageChunk = false;
    // Ask for exact usage on streams; the client only sees the usage chunk if it asked itself.
    if (call.streamed && endpoint.usageOption) {
      const options = json.stream_options;
      const asked = typeof options === 'object' && options !== null && (options as JsonBody).include_usage === true;
      if (!asked) {
        hideUsageChunk = true;
        bytes = Buffer.from(JSON.stringify({ ...json, stream_options: { ...(options as object), include_usage: true } }));
      }
    }
    return { bytes, hideUsageChunk, contentType: 'application/json', json };
  }

  /**
   * The rest of the surface: the body goes on as it came. A multipart upload (a file up to 512 MB)
   * is piped through unparsed, counted against FILE_LIMIT_BYTES; JSON goes as its raw bytes.
   */
  private prepareAny(req: FastifyRequest, call: Call) {
    const contentType = req.headers['content-type'];
    if ((req.query as Record<string, unknown> | undefined)?.stream === 'true') call.streamed = true;
    if (contentType?.startsWith('multipart/')) {
      const limit = this.config.FILE_LIMIT_BYTES;
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > limit) {
        throw new OpenAIError(413, `The upload is ${declared} bytes; this gateway accepts up to ${limit} (FILE_LIMIT_BYTES).`, 'invalid_request_error', 'request_too_large');
      }
      const upload = (call.upload = cappedBody(limit));
      req.raw.pipe(upload);
      req.raw.once('error', (error) => upload.destroy(error));
      this.limitUpload(req, upload);
      return { bytes: upload, hideUsageChunk: false, contentType };
    }
    const bytes = (req as FastifyRequest & { rawBody?: Buffer }).rawBody;
    if (!bytes) return { bytes: undefined, hideUsageChunk: false, contentType: undefined };
    const json = req.body as JsonBody | undefined;
    if (json && typeof json === 'object' && !Array.isArray(json)) {
      call.model = modelOf(json.model);
      call.streamed ||= json.stream === true;
    }
    // No `json`: a resource call cut short has no tokens to estimate.
    return { bytes, hideUsageChunk: false, contentType: 'application/json', json: undefined };
  }

  /**
   * Sends the request upstream and relays the response as it arrives: status and headers first,
   * then each chunk (through the SSE meter for streams), with backpressure from the client's
   * socket. Resolves when the response is complete; rejects on any failure on either side.
   */
  private forward(call: Call, path: string, outgoing: { bytes?: UpstreamRequest['body']; hideUsageChunk: boolean }, headers: Record<string, string>, res: FastifyReply['raw']): Promise<void> {
    return new Promise((resolve, reject) => {
      let collected: Buffer[] | undefined;
      let collectedBytes = 0;
      let tail: Buffer | undefined;
      let isJson = false;
      let countBytes = false;
      if (call.clientGone || res.destroyed) return reject(new ClientGoneError());
      // From here on the request may reach OpenAI (undici can write it before any callback), so a
      // client leaving now is client_aborted and estimated; before this it was never sent.
      call.upstreamAt = performance.now();
      const fail = (c: Dispatcher.DispatchController, error: unknown) => {
        c.abort(error instanceof Error ? error : new Error(String(error)));
      };
      this.upstream.dispatch(call.route!.org.baseUrl, path, { method: call.endpoint.method, headers, body: outgoing.bytes }, {
        onRequestStart: (c) => {
          call.cancelUpstream = () => c.abort(new ClientGoneError());
          if (call.clientGone) c.abort(new ClientGoneError());
        },
        onResponseStart: (c, statusCode, upstreamHeaders) => {
          try {
            call.upstream = { statusCode, headers: upstreamHeaders };
            call.status = statusCode;
            const contentType = String(upstreamHeaders['content-type'] ?? '');
            if (contentType.startsWith('text/event-stream')) call.meter = new SseMeter(outgoing.hideUsageChunk, call.endpoint.meter === undefined);
            // Nothing to meter in a resource route's answer (a file download may be 512 MB): relayed only.
            else if (contentType.includes('json') && !call.endpoint.notMetered) (collected = []), (isJson = true);
            else countBytes = call.endpoint.meter !== undefined; // speech audio: its length, never its bytes
            const head = responseHeaders(upstreamHeaders, !!call.meter && outgoing.hideUsageChunk, call.id);
            if (this.stopping) head.connection = 'close'; // shutting down: no next request on this connection
            res.writeHead(statusCode, head);
          } catch (error) {
            fail(c, error);
          }
        },
        onResponseData: (c, chunk) => {
          call.ttfbMs ??= Math.round(performance.now() - call.started);
          let out: Buffer | null = chunk;
          if (call.meter) out = call.meter.push(chunk);
          else if (isJson) {
            collectedBytes += chunk.length;
            if (collected && collectedBytes <= PARSE_LIMIT) collected.push(chunk);
            else {
              // Too large to parse whole (a big embeddings batch): usage comes last, keep the tail.
              // Only the last TAIL_BYTES are ever copied, and the copy holds no larger buffer alive.
              const kept = collected ?? (tail ? [tail] : []);
              collected = undefined;
              kept.push(chunk);
              let bytes = 0;
              let from = kept.length;
              while (from > 0 && bytes < TAIL_BYTES) bytes += kept[--from].length;
              const joined = Buffer.concat(kept.slice(from));
              tail = Buffer.from(joined.subarray(Math.max(0, joined.length - TAIL_BYTES)));
            }
          } else if (countBytes) call.relayedBytes += chunk.length;
          if (out && !res.write(out)) {
            if (res.destroyed) return c.abort(new ClientGoneError());
            c.pause();
            res.once('drain', () => c.resume());
          }
        },
        onResponseEnd: () => {
          call.upstreamDoneAt = performance.now();
          res.end(call.meter?.end() ?? undefined);
          call.endedAt = performance.now();
          if (call.meter) {
            call.reading = call.meter.reading;
            if (!call.meter.finished) call.outcome = 'upstream_aborted'; // upstream closed without [DONE]
          } else if (collected) {
            const bytes = collected.length === 1 ? collected[0] : Buffer.concat(collected, collectedBytes);
            call.reading = readJsonBody(bytes.toString('utf8'));
          } else if (tail) {
            call.reading = readJsonTail(tail.toString('utf8'));
          }
          resolve();
        },
        onResponseError: (_c, error) => reject(error),
      });
    });
  }

  /** Maps what went wrong to the right answer (if the client can still get one) and outcome. */
  private fail(call: Call, error: unknown, res: FastifyReply['raw']): void {
    if (call.meter) call.reading = call.meter.reading;
    if (this.cutting) return this.failCut(call, res);
    if (call.clientGone || error instanceof ClientGoneError) {
      // Never dispatched upstream (left while looked up, budget-checked or paced): OpenAI never saw
      // it, so it costs nothing and gets no estimate.
      call.outcome = call.errorKind = call.upstreamAt === 0 ? 'not_sent' : 'client_aborted';
      return;
    }
    if (res.headersSent) {
      // The upstream broke or stalled mid-body. A stream gets a clean end (the SDK stops reading);
      // a sized JSON body cannot be ended early, so the connection is cut and the client sees it.
      call.outcome = 'upstream_aborted';
      call.errorKind = error instanceof undiciErrors.BodyTimeoutError ? 'upstream_timeout' : 'upstream_aborted';
      if (call.meter) res.end();
      else res.destroy();
      return;
    }
    const gatewayError = toGatewayError(error, call.upstreamAt > 0);
    // The store's outage is logged once by the resolver, and a shutdown by main: not once per request.
    if (gatewayError.status >= 500 && gatewayError.code !== 'gateway_store_unavailable' && gatewayError.code !== 'gateway_shutting_down') this.logger.warn(`${call.endpoint.name}: ${gatewayError.message}`);
    call.gatewayError = gatewayError;
    call.status = gatewayError.status;
    call.outcome = 'error';
    // An anonymous call has no row, so no event id to point at.
    const head: Record<string, string> = call.anonymous ? { ...gatewayError.responseHeaders() } : { ...gatewayError.responseHeaders(), 'x-tallygate-event-id': call.id };
    // An upload refused before its end (a cap, a timeout) must not leave its connection waiting for the rest.
    if (this.stopping || call.audio || call.upload) head.connection = 'close';
    res.writeHead(gatewayError.status, head);
    res.end(JSON.stringify(gatewayError.body()));
  }

  private async checkBudget(route: Route): Promise<void> {
    let spent: bigint;
    try {
      spent = await this.spend.featureNanos(route.featureId);
    } catch (error) {
      // Budgets fail open: a Postgres hiccup must not stop every feature that has one.
      this.logger.warn(`budget of ${route.featureSlug} not checked: ${(error as Error).message}`);
      return;
    }
    const budget = BigInt(route.monthlyBudgetNanos!);
    if (spent < budget) return;
    const usd = (n: bigint) => `$${(Number(n) / 1e9).toFixed(2)}`;
    throw new OpenAIError(
      429,
      `Feature ${route.featureSlug} has used its monthly budget (${usd(spent)} of ${usd(budget)}). Ask an admin to raise it; it resets on the 1st of the month (UTC).`,
      'insufficient_quota',
      'feature_budget_exceeded',
    );
  }

  private toEvent(call: Call): UsageEvent {
    const reading = call.reading;
    const upstreamError = reading.error;
    const failed = call.gatewayError || call.status >= 400 || upstreamError || call.outcome !== 'ok';
    if (failed && call.outcome === 'ok') call.outcome = 'error';
    const errorType = call.gatewayError?.type ?? upstreamError?.type ?? null;
    const errorCode = call.gatewayError?.code ?? upstreamError?.code ?? null;
    const errorKind = !failed
      ? null
      : call.errorKind ??
        (call.gatewayError && !call.upstream ? gatewayKind(call.gatewayError) : upstreamError || call.status >= 400
          ? call.status < 400 ? 'stream_error' : classifyError(call.status, errorType, errorCode, upstreamError?.message)
          : call.outcome === 'upstream_aborted' ? 'upstream_aborted' : 'gateway');
    const audio = audioSeconds(call);
    const metered = call.metered;
    // A response retrieved or cancelled is billed only by the call that claims its background usage
    // (a plain response was billed when created): any other such call shows no usage and costs 0.
    const unbilled = call.background === 'pending' || call.background === 'already' || (call.endpoint.byId && call.background === undefined);
    const usage = unbilled ? undefined : metered ? metered.usage : audio ? { ...(reading.usage ?? EMPTY_USAGE), audioSeconds: audio.seconds } : (reading.usage ?? call.estimated);
    const notMetered = call.endpoint.notMetered && !failed;
    const usageSource: UsageSource = notMetered
      ? 'not_metered'
      : unbilled
        ? 'none'
        : metered?.usage
          ? metered.estimated ? 'estimated' : 'reported'
          : reading.usage || audio ? 'reported' : call.estimated ? 'estimated' : 'none';
    const model = call.model ?? metered?.model ?? reading.model ?? null;
    const serviceTier = reading.serviceTier ?? null;
    // A billable call that succeeded without usage we could read (a huge body, an audio file that
    // could not be measured, an upstream ignoring include_usage) has an unknown cost, never $0.
    // Failed calls are not billed by OpenAI; moderations and models are free.
    // Not metered per call, or a background claim that failed: NULL, said apart by usage_source.
    const priced =
      notMetered || call.background === 'unknown' || metered?.unpriced
        ? { costNanos: null, priceId: null }
        : unbilled
          ? { costNanos: 0n, priceId: null }
          : metered?.usage
            ? this.pricing.price(model ?? undefined, serviceTier ?? undefined, call.createdAt, metered.usage)
            : usage && (hasUsage(usage) || reading.usage)
              ? this.pricing.price(model ?? undefined, serviceTier ?? undefined, call.createdAt, usage)
              : call.endpoint.billable && !failed
                ? { costNanos: null, priceId: null }
                : { costNanos: 0n, priceId: null };
    const headers = call.upstream?.headers ?? {};
    const billedTo = call.billedTo;
    const event: UsageEvent = {
      id: call.id,
      createdAt: call.createdAt,
      orgId: billedTo ? billedTo.orgId : (call.route?.org.orgId ?? call.refusedKey?.orgId ?? null),
      featureId: billedTo ? billedTo.featureId : (call.route?.featureId ?? call.refusedKey?.featureId ?? null),
      gatewayKeyId: billedTo ? billedTo.gatewayKeyId : (call.route?.gatewayKeyId ?? call.refusedKey?.gatewayKeyId ?? null),
      endpoint: call.endpoint.name,
      model,
      serviceTier,
      streamed: call.streamed,
      status: call.status,
      outcome: call.outcome,
      errorKind,
      errorType,
      errorCode,
      inputTokens: usage?.inputTokens ?? 0,
      cachedTokens: usage?.cachedTokens ?? 0,
      outputTokens: usage?.outputTokens ?? 0,
      reasoningTokens: usage?.reasoningTokens ?? 0,
      audioInputTokens: usage?.audioInputTokens ?? 0,
      audioSeconds: audio?.seconds ?? null,
      audioSource: audio?.source ?? null,
      usageSource,
      costNanos: priced.costNanos === null ? null : priced.costNanos.toString(),
      priceId: priced.priceId,
      latencyMs: Math.round((call.endedAt || performance.now()) - call.started),
      ttfbMs: call.ttfbMs,
      upstreamRequestId: header(headers, 'x-request-id') ?? null,
      retryCount: call.retryCount,
      rateLimits: parseRateLimitHeaders(headers),
    };
    if (metered?.usage) withComponents(event, metered.usage);
    return event;
  }
}

/** The price components beyond text tokens, on the events that have them (images, speech, tool calls). */
function withComponents(event: UsageEvent, usage: MeteredUsage): void {
  event.audioOutputTokens = usage.audioOutputTokens ?? 0;
  event.imageInputTokens = usage.imageInputTokens ?? 0;
  event.imageOutputTokens = usage.imageOutputTokens ?? 0;
  event.characters = usage.characters ?? null;
  const images = imageSpec(usage);
  event.imageCount = images?.count ?? null;
  event.imageSpec = images?.spec ?? null;
  event.webSearchCalls = usage.toolCalls?.web_search ?? 0;
  event.webSearchPreviewCalls = usage.toolCalls?.web_search_preview ?? 0;
  event.fileSearchCalls = usage.toolCalls?.file_search ?? 0;
}

/**
 * The most precise duration there is: verbose_json's exact `duration`, else what the gateway
 * measured from the upload, else whisper's whole-second `usage.seconds`. None for failed calls.
 */
function audioSeconds(call: Call): { seconds: number; source: 'reported' | 'measured' } | undefined {
  if (!call.audio || call.status >= 400 || call.outcome !== 'ok') return undefined;
  if (call.reading.audioDuration !== undefined) return { seconds: call.reading.audioDuration, source: 'reported' };
  if (call.measuredAudioSeconds !== undefined) return { seconds: call.measuredAudioSeconds, source: 'measured' };
  const reported = call.reading.usage?.audioSeconds;
  return reported !== undefined ? { seconds: reported, source: 'reported' } : undefined;
}

const hasUsage = (u: MeteredUsage) => u.inputTokens > 0 || u.outputTokens > 0 || (u.audioSeconds ?? 0) > 0;

function header(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The request's model, cut just past the ledger's text cap: a 30 MB model string must not reach
 * pricing's and pacing's per-model caches whole. One character over the cap is kept so the ledger
 * still truncates it and flags the row as clamped.
 */
function modelOf(model: unknown): string | null {
  if (typeof model !== 'string') return null;
  return model.length > TEXT_MAX ? model.slice(0, TEXT_MAX + 1) : model;
}

function retryCount(headers: IncomingHttpHeaders): number {
  const n = Number(header(headers, 'x-stainless-retry-count'));
  return Number.isInteger(n) && n >= 0 && n < 1000 ? n : 0;
}

function upstreamHeaders(incoming: IncomingHttpHeaders, route: Route, contentType: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || !(FORWARD_REQUEST.has(name) || forwardedPrefix(name))) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  if (contentType) out['content-type'] = contentType;
  const length = header(incoming, 'content-length');
  if (contentType?.startsWith('multipart/') && length) out['content-length'] = length;
  out.authorization = `Bearer ${route.org.upstreamKey}`;
  out['openai-organization'] = route.org.openaiOrgId;
  if (route.org.projectId) out['openai-project'] = route.org.projectId;
  return out;
}

function responseHeaders(upstream: Record<string, string | string[] | undefined>, bodyChanged: boolean, eventId: string) {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(upstream)) {
    if (value === undefined || DROP_RESPONSE.has(name) || (bodyChanged && name === 'content-length')) continue;
    out[name] = value;
  }
  out['x-tallygate-event-id'] = eventId;
  return out;
}

/** Why Fastify could not read the body, in OpenAI's shape (an empty body said as such). */
function unreadBody(error: Error & { code?: string }): OpenAIError {
  if (error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
    return new OpenAIError(400, 'The request body is empty. Send a JSON object with Content-Type: application/json.', 'invalid_request_error', 'invalid_json');
  }
  return toOpenAIError(error);
}

/** Refuses a raw path outside /v1's OpenAI shape (encoded or dot-segment traversal), before anything is sent. */
function checkPath(url: string): void {
  const query = url.indexOf('?');
  const path = query < 0 ? url : url.slice(0, query);
  if (!RAW_PATH.test(path) || DOT_SEGMENT.test(path)) {
    throw new OpenAIError(400, 'Invalid request path: use /v1/ and segments of letters, digits and - _ . : ~ only (no percent-encoding, no "." or ".." segments, no empty segment).', 'invalid_request_error', 'invalid_path');
  }
}

/** Counts an upload's bytes as they pass and fails it past `limit`, never holding more than a chunk. */
function cappedBody(limit: number): Transform {
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      if (bytes > limit) return done(Object.assign(new Error(`upload exceeds ${limit} bytes`), { code: 'TALLYGATE_BODY_TOO_LARGE', limit: 'FILE_LIMIT_BYTES' }));
      done(null, chunk);
    },
  });
}

/** Refuses a path parameter that could address anything but the one resource (`..`, `/` once decoded). */
function checkParams(names: readonly string[], params: Record<string, string>): void {
  for (const name of names) {
    const value = params[name] ?? '';
    if (!PATH_PARAM.test(value) || value.includes('..')) {
      throw new OpenAIError(400, `Invalid ${name} in the request path: use 1 to 256 letters, digits and . _ : - (no "..", no "/").`, 'invalid_request_error', 'invalid_path_parameter', name);
    }
  }
}

function toGatewayError(error: unknown, sent: boolean): OpenAIError {
  if (error instanceof OpenAIError) return error;
  // Failed before anything went upstream: the gateway's own fault, never blamed on OpenAI.
  if (!sent) return new OpenAIError(500, 'The gateway had an internal error before sending your request to OpenAI. Try again; if it persists, tell the Tallygate operators.', 'server_error', 'internal_error', null, true);
  if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError) {
    return new OpenAIError(504, 'The upstream OpenAI API did not answer in time.', 'server_error', 'upstream_timeout', null, true);
  }
  if (error instanceof undiciErrors.ConnectTimeoutError) {
    return new OpenAIError(504, 'Timed out connecting to the upstream OpenAI API.', 'server_error', 'upstream_timeout', null, true);
  }
  if (error instanceof undiciErrors.RequestContentLengthMismatchError) {
    return new OpenAIError(400, 'The request body was shorter or longer than its Content-Length.', 'invalid_request_error', 'invalid_body');
  }
  const code = (error as { code?: string }).code;
  if (code === 'TALLYGATE_BODY_TIMEOUT') {
    return new OpenAIError(408, `The upload stalled: ${(error as Error).message} (REQUEST_BODY_IDLE_TIMEOUT_MS / REQUEST_BODY_TIMEOUT_MS). It was not completed; send it again.`, 'invalid_request_error', 'request_timeout', null, true, { connection: 'close' });
  }
  if (code === 'TALLYGATE_BODY_TOO_LARGE') {
    return new OpenAIError(413, `The upload is larger than this gateway accepts (${(error as { limit?: string }).limit ?? 'AUDIO_LIMIT_BYTES'}).`, 'invalid_request_error', 'request_too_large');
  }
  return new OpenAIError(502, 'Could not reach the upstream OpenAI API. Try again shortly.', 'server_error', 'upstream_unreachable', null, true);
}

interface UpstreamSlot {
  inFlight: number;
}

function slotOf(slots: Map<string, UpstreamSlot>, id: string): UpstreamSlot {
  let slot = slots.get(id);
  if (!slot) slots.set(id, (slot = { inFlight: 0 }));
  return slot;
}

function releaseUpstreamSlots(call: Call): void {
  if (call.orgSlot) call.orgSlot.inFlight--;
  if (call.featureSlot) call.featureSlot.inFlight--;
}

function concurrencyLimit(who: string, cap: number, variable: string): OpenAIError {
  return new OpenAIError(
    429,
    `${who} already has ${cap} calls in flight through this Tallygate replica (${variable}), so that one cannot hold every upstream connection. The request was not sent to OpenAI; retry shortly, or ask the operator to raise the cap.`,
    'requests',
    'gateway_concurrency_limit',
    null,
    true,
    { 'retry-after': '1' },
  );
}

function gatewayKind(error: OpenAIError): ErrorKind {
  if (error.status === 401 || error.status === 403) return 'auth';
  if (error.code === 'gateway_paced') return 'paced';
  if (error.code === 'feature_budget_exceeded') return 'budget';
  if (error.code === 'gateway_store_unavailable') return 'store_unavailable';
  if (error.code === 'gateway_shutting_down') return 'shutdown';
  if (error.code === 'gateway_concurrency_limit') return 'gateway';
  if (error.code === 'upstream_timeout') return 'upstream_timeout';
  if (error.code === 'upstream_unreachable') return 'upstream_unreachable';
  if (error.status < 500) return 'invalid_request';
  return 'gateway';
}
