// The hot path: runs a call's lifecycle (./call.ts) and the hooks around its forward
// (./hooks/): authenticate, let the before-forward hooks decide (budget, pacing, caps), forward to
// the org's upstream, relay status, headers and bytes as they arrive through the endpoint's body
// meter (./meters/), build the usage event (./usage-event.builder.ts) and hand it to the event
// hooks (observers, then the ledger queue). Nothing here waits for Postgres.
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errors as undiciErrors } from 'undici';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { OpenAIError } from '../http/openai-error.js';
import { isKeyRefusal, RouteResolver } from '../orgs/route-resolver.js';
import { PricingService } from '../pricing/pricing.service.js';
import { AnonymousRequests } from '../ratelimits/anonymous-requests.service.js';
import { BackgroundResponses, FINAL_STATUSES, type Attribution } from './background-responses.js';
import { Call, type Outgoing } from './call.js';
import { meteringOf, type Endpoint } from './endpoints.js';
import { CALL_HOOKS, type CallHook } from './hooks/call-hook.js';
import { estimateUsage } from './meters/estimate.js';
import type { Metered } from './meters/meter.js';
import { JsonMeter, PARSE_LIMIT } from './meters/json.js';
import { EMPTY_USAGE } from './meters/reading.js';
import { withToolCalls } from './meters/tool-calls.js';
import { buildUsageEvent, header, type PriceFn } from './usage-event.builder.js';
import { prepareBody } from './request-body.js';
import { UpstreamClient } from './upstream.client.js';
import {
  checkParams,
  checkPath,
  ClientGoneError,
  GATEWAY_KEY,
  responseHeaders,
  retryCount,
  shuttingDown,
  ShutdownCutError,
  toGatewayError,
  unreadBody,
  upstreamHeaders,
} from './wire.js';

export { shuttingDown } from './wire.js';

type JsonBody = Record<string, unknown>;

@Injectable()
export class ProxyService {
  private readonly logger = new Logger('gateway');
  /** The hooks that have each phase, in the list's order (see hooks/index.ts). */
  private readonly beforeHooks: CallHook[];
  private readonly eventHooks: CallHook[];
  private readonly endHooks: CallHook[];
  private readonly headHooks: CallHook[];
  private readonly price: PriceFn;

  constructor(
    private readonly resolver: RouteResolver,
    private readonly upstream: UpstreamClient,
    pricing: PricingService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly anonymousRequests: AnonymousRequests,
    private readonly backgroundResponses: BackgroundResponses,
    @Inject(CALL_HOOKS) hooks: CallHook[],
  ) {
    this.beforeHooks = hooks.filter((hook) => hook.beforeForward);
    this.eventHooks = hooks.filter((hook) => hook.onEvent);
    this.endHooks = hooks.filter((hook) => hook.onEnd);
    this.headHooks = hooks.filter((hook) => hook.responseHeaders);
    this.price = pricing.price.bind(pricing);
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
    this.active++;
    try {
      // Each step awaits only when it has to: a needless await parks the request behind every
      // other queued microtask, which under load showed up as tens of microseconds per step.
      const route = this.resolver.resolve(req.headers.authorization, header(req.headers, 'openai-organization'));
      call.authorize(route instanceof Promise ? await route : route);
      if (this.stopping) throw shuttingDown();
      if (unread) throw unreadBody(unread);
      if (endpoint.checkPath) checkPath(req.url);
      if (endpoint.params) checkParams(endpoint.params, req.params as Record<string, string>);
      const outgoing = prepareBody(endpoint, req, call, this.config);
      call.readBody(outgoing);
      const deciding = this.runBeforeHooks(call);
      if (deciding) await deciding;
      // Gone during the key lookup or a hook's wait: never sent.
      if (call.clientGone) throw new ClientGoneError();
      call.admit();
      await this.forward(call, req.url.slice(req.url.indexOf('/v1') + 3), outgoing, upstreamHeaders(req.headers, call.route!, outgoing.contentType), res);
    } catch (error) {
      if (!call.route) this.identify(call, error, req.headers.authorization);
      this.fail(call, error, res);
    } finally {
      res.removeListener('close', onClientGone);
      call.end();
      this.runEndHooks(call);
      const settling = this.settle(call);
      if (settling) {
        await settling.catch((error: Error) => this.logger.error(`usage event ${call.id} recorded with less than was known: ${error.stack ?? error.message}`));
      }
      this.record(call);
      if (--this.active === 0) this.idle?.();
    }
  }

  /**
   * Runs the before-forward hooks in order. Returns a promise only once a hook returned one (most
   * calls: none, so no await); after each wait, a client that left ends the call, not sent.
   */
  private runBeforeHooks(call: Call): Promise<void> | undefined {
    const hooks = this.beforeHooks;
    for (let i = 0; i < hooks.length; i++) {
      const pending = hooks[i].beforeForward!(call);
      if (pending) return this.awaitBeforeHooks(call, pending, i + 1);
    }
    return undefined;
  }

  private async awaitBeforeHooks(call: Call, pending: Promise<void>, next: number): Promise<void> {
    const hooks = this.beforeHooks;
    await pending;
    for (let i = next; ; i++) {
      if (call.clientGone) throw new ClientGoneError();
      if (i === hooks.length) return;
      const more = hooks[i].beforeForward!(call);
      if (more) await more;
    }
  }

  /** Every call, whatever became of it: hooks give back what they took. */
  private runEndHooks(call: Call): void {
    for (let i = 0; i < this.endHooks.length; i++) {
      try {
        this.endHooks[i].onEnd!(call);
      } catch (error) {
        this.logger.error(`call ${call.id}: hook ${this.endHooks[i].name} failed at the end of the call (${(error as Error).message})`);
      }
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
      if (call.meter?.streamed) res.end();
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
   * sent and cut short, the length of an uploaded audio file. Most calls need neither and get no promise.
   */
  private settle(call: Call): Promise<void> | undefined {
    const body = call.requestBody;
    // Sent, then cut short before OpenAI reported usage: count what was asked and what was relayed.
    // A call never sent cost nothing: no estimate.
    const cutShort = call.outcome === 'client_aborted' || call.outcome === 'upstream_aborted' || call.outcome === 'shutdown' || !!call.reading.error;
    const estimate = cutShort && call.sent && body && !call.reading.usage && call.status < 400;
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
        call.estimated = await estimateUsage(body, call.meter?.relayedText?.() ?? '').catch((error: Error) => {
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
   * The endpoint's price components (images, speech), or the per-call tool fees of a response: only
   * for a call that succeeded, and only on routes that have them (chat and embeddings skip it in one
   * test). Sets call.metered now, or returns the promise of it (a speech estimate loads the tokenizer).
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
    const metered = meter.finish(body ?? call.audio?.fields ?? {}, call.reading, { contentType, bytes: call.meter?.bytes ?? 0 });
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


  /** The one usage event of this call, through the event hooks (the ledger last). A bug here must not take the process down: log it loudly. */
  private record(call: Call): void {
    if (call.anonymous) return this.anonymousRequests.count(call.anonymous);
    try {
      const event = buildUsageEvent(call, this.price);
      call.outcome = event.outcome;
      if (call.meter?.unparsedEvents && !call.reading.usage) {
        this.logger.warn(`usage event ${call.id}: ${call.meter.unparsedEvents} SSE event(s) too large to parse were relayed unread; its usage could not be read (recorded without it)`);
      }
      for (let i = 0; i < this.eventHooks.length; i++) {
        const hook = this.eventHooks[i];
        try {
          hook.onEvent!(event, call);
        } catch (error) {
          this.logger.error(`usage event ${call.id}: hook ${hook.name} failed (${(error as Error).message}); the others ran regardless`);
        }
      }
    } catch (error) {
      this.logger.error(`usage event ${call.id} (${call.endpoint.name}) could not be recorded: ${(error as Error).stack ?? String(error)}`);
    }
  }



  /**
   * Sends the request upstream and relays the response as it arrives: status and headers first,
   * then each chunk through the body meter the endpoint's Metering opened for its content type,
   * with backpressure from the client's socket. Resolves when the response is complete; rejects on
   * any failure on either side.
   */
  private forward(call: Call, path: string, outgoing: Outgoing, headers: Record<string, string>, res: FastifyReply['raw']): Promise<void> {
    return new Promise((resolve, reject) => {
      if (call.clientGone || res.destroyed) return reject(new ClientGoneError());
      // From here on the request may reach OpenAI (undici can write it before any callback), so a
      // client leaving now is client_aborted and estimated; before this it was never sent.
      call.send();
      const metering = meteringOf(call.endpoint);
      /** The head of a `holdHead` endpoint and the body held with it, sent once it is read (with the hooks' headers). */
      let held: { head: Record<string, string | string[]>; chunks: Buffer[]; bytes: number } | undefined;
      this.upstream.dispatch(call.route!.org.baseUrl, path, { method: call.endpoint.method, headers, body: outgoing.bytes }, {
        onRequestStart: (c) => {
          call.cancelUpstream = () => c.abort(new ClientGoneError());
          if (call.clientGone) c.abort(new ClientGoneError());
        },
        onResponseStart: (c, statusCode, upstreamHeaders) => {
          try {
            call.answer(statusCode, upstreamHeaders);
            const meter = (call.meter = metering.open(String(upstreamHeaders['content-type'] ?? ''), outgoing.hideUsageChunk));
            const head = responseHeaders(upstreamHeaders, meter !== undefined && meter.rewrites, call.id);
            if (this.stopping) head.connection = 'close'; // shutting down: no next request on this connection
            if (call.endpoint.holdHead && meter instanceof JsonMeter && this.headHooks.length > 0) held = { head, chunks: [], bytes: 0 };
            else res.writeHead(statusCode, head);
          } catch (error) {
            c.abort(error instanceof Error ? error : new Error(String(error)));
          }
        },
        onResponseData: (c, chunk) => {
          call.ttfbMs ??= Math.round(performance.now() - call.started);
          let out = call.meter ? call.meter.push(chunk) : chunk;
          if (held) {
            held.chunks.push(chunk);
            held.bytes += chunk.length;
            if (held.bytes <= PARSE_LIMIT) return;
            // Too large to hold: relayed as any other body, without the hooks' headers.
            res.writeHead(call.status, held.head);
            out = Buffer.concat(held.chunks, held.bytes);
            held = undefined;
          }
          if (out && !res.write(out)) {
            if (res.destroyed) return c.abort(new ClientGoneError());
            c.pause();
            res.once('drain', () => c.resume());
          }
        },
        onResponseEnd: () => {
          call.upstreamDoneAt = performance.now();
          const meter = call.meter;
          if (held) return this.endHeld(call, held, res, resolve);
          res.end(meter?.end() ?? undefined);
          call.endedAt = performance.now();
          // Read after the client's response ended (a JSON body is parsed here, not before).
          if (meter) {
            call.reading = meter.reading;
            if (!meter.finished) call.outcome = 'upstream_aborted'; // a stream closed without [DONE]
          }
          resolve();
        },
        onResponseError: (_c, error) => reject(error),
      });
    });
  }

  /** Ends a held response: its body read, the hooks' headers added to the head, then the bytes relayed. */
  private endHeld(call: Call, held: { head: Record<string, string | string[]>; chunks: Buffer[]; bytes: number }, res: FastifyReply['raw'], resolve: () => void): void {
    const meter = call.meter!;
    meter.end();
    call.reading = meter.reading;
    for (const hook of this.headHooks) {
      try {
        const extra = hook.responseHeaders!(call);
        if (extra) Object.assign(held.head, extra);
      } catch (error) {
        this.logger.error(`call ${call.id}: hook ${hook.name} failed on the response head (${(error as Error).message})`);
      }
    }
    res.writeHead(call.status, held.head);
    res.end(held.chunks.length === 1 ? held.chunks[0] : Buffer.concat(held.chunks, held.bytes));
    call.endedAt = performance.now();
    resolve();
  }

  /** Maps what went wrong to the right answer (if the client can still get one) and outcome. */
  private fail(call: Call, error: unknown, res: FastifyReply['raw']): void {
    if (call.meter) call.reading = call.meter.reading;
    if (this.cutting) return this.failCut(call, res);
    if (call.clientGone || error instanceof ClientGoneError) {
      // Never dispatched upstream (left while looked up, budget-checked or paced): OpenAI never saw
      // it, so it costs nothing and gets no estimate.
      call.outcome = call.errorKind = call.sent ? 'client_aborted' : 'not_sent';
      return;
    }
    if (res.headersSent) {
      // The upstream broke or stalled mid-body. A stream gets a clean end (the SDK stops reading);
      // a sized JSON body cannot be ended early, so the connection is cut and the client sees it.
      call.outcome = 'upstream_aborted';
      call.errorKind = error instanceof undiciErrors.BodyTimeoutError ? 'upstream_timeout' : 'upstream_aborted';
      if (call.meter?.streamed) res.end();
      else res.destroy();
      return;
    }
    const gatewayError = toGatewayError(error, call.sent);
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
}
