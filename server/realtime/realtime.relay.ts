// /v1/realtime: the Realtime WebSocket, authenticated with a gateway key and relayed to the org's
// upstream with the org's key. Not an HTTP route: the Node server's `upgrade` event is handled
// here (ws, noServer), so the HTTP proxy's hot path is untouched. Refusals before the upgrade are
// answered as plain HTTP errors in OpenAI's shape (401, 403, 429, 503), each with its ledger row.
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { WebSocket, WebSocketServer } from 'ws';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { shuttingDown } from '../http/openai-error.js';
import { TEXT_MAX } from '../ledger/bounds.js';
import { LedgerWriter } from '../ledger/ledger.writer.js';
import { budgetExceeded, HardBudgets } from '../budgets/hard-budgets.js';
import type { UsageEvent } from '../ledger/usage-event.js';
import { badRequest, OpenAIError } from '../http/openai-error.js';
import { isKeyRefusal, RouteResolver, type RefusedKey, type Route } from '../orgs/route-resolver.js';
import { PricingService } from '../pricing/pricing.service.js';
import { classifyError } from '../ratelimits/rate-limit-headers.js';
import { RealtimeSessionsRepository, type SessionCloser } from './realtime-sessions.repository.js';
import { RealtimeSession, type SessionOwner } from './realtime-session.js';
import { unmeteredResponse } from './realtime-usage.js';

const PATH = '/v1/realtime';
/** Browsers cannot set headers on a WebSocket: the SDK's browser client sends the key as a subprotocol. */
const KEY_PROTOCOL = 'openai-insecure-api-key.';
/** An upstream refusal's body relayed to the client: an OpenAI error is far smaller. */
const MAX_REFUSAL_BODY = 64 * 1024;
/** Headers of the client's upgrade request passed to the upstream (the rest are the gateway's own or hop-by-hop). */
const FORWARD_HEADERS = ['openai-beta', 'user-agent', 'x-stainless-lang', 'x-stainless-package-version'];

export interface RealtimeStats {
  open: number;
  opened: number;
  refused: number;
}

@Injectable()
export class RealtimeRelay implements OnApplicationBootstrap, BeforeApplicationShutdown, SessionOwner {
  private readonly logger = new Logger('realtime');
  private readonly wss: WebSocketServer;
  private readonly sessions = new Set<RealtimeSession>();
  private readonly perFeature = new Map<string, number>();
  /** Session rows being written; shutdown waits for them. */
  private readonly writes = new Set<Promise<void>>();
  private readonly saved = new Map<RealtimeSession, Promise<void>>();
  /** Subprotocol to answer each upgrade with (what the upstream chose, never the key). */
  private readonly chosenProtocol = new WeakMap<IncomingMessage, string | false>();
  private stopping = false;
  private server?: Server;
  private idle?: () => void;
  private readonly stats: RealtimeStats = { open: 0, opened: 0, refused: 0 };

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly resolver: RouteResolver,
    private readonly ledger: LedgerWriter,
    private readonly pricing: PricingService,
    private readonly budgets: HardBudgets,
    private readonly repository: RealtimeSessionsRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: config.REALTIME_MAX_FRAME_BYTES,
      handleProtocols: (_protocols, request) => this.chosenProtocol.get(request) ?? false,
    });
  }

  onApplicationBootstrap(): void {
    this.server = this.adapterHost.httpAdapter.getHttpServer() as Server;
    this.server.on('upgrade', this.onUpgrade);
  }

  beforeApplicationShutdown(): Promise<void> {
    this.cutAll();
    return this.drain();
  }

  snapshot(): RealtimeStats {
    return { ...this.stats, open: this.sessions.size };
  }

  /** SIGTERM: no new session; each open one ends (1012) as soon as no response is in progress. */
  beginShutdown(): void {
    this.stopping = true;
    for (const session of [...this.sessions]) session.drain();
  }

  /** The grace period is over: every session ends now (a response in progress is cancelled and its usage awaited briefly). */
  cutAll(): void {
    this.stopping = true;
    for (const session of [...this.sessions]) session.end('shutdown', 1012, 'Tallygate is restarting: reconnect to continue');
  }

  /** Resolves once every session has ended and its row is written (bounded). */
  async drain(timeoutMs = 10_000): Promise<void> {
    if (this.sessions.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.idle = resolve;
        timer = setTimeout(resolve, timeoutMs);
      });
      clearTimeout(timer);
      this.idle = undefined;
    }
    await Promise.allSettled([...this.writes]);
  }

  // --- SessionOwner
  record(event: UsageEvent): void {
    this.ledger.record(event);
    // A session's spend counts against hard budgets as it is made (the next session is refused once spent).
    if (event.costNanos && event.costNanos !== '0') this.budgets.addSpend(event.featureId, event.orgId, BigInt(event.costNanos), event.createdAt);
  }

  price(model: string, at: Date, usage: Parameters<PricingService['price']>[3]) {
    return this.pricing.price(model, undefined, at, usage);
  }

  ended(session: RealtimeSession, closedBy: SessionCloser, closeCode: number): void {
    if (!this.sessions.delete(session)) return;
    this.release(session.route.featureId);
    const closedAt = new Date();
    const opened = this.saved.get(session) ?? Promise.resolve();
    this.saved.delete(session);
    this.track(
      opened.then(() =>
        this.repository.closed({
          id: session.id,
          closedAt,
          durationMs: closedAt.getTime() - session.openedAt.getTime(),
          responses: session.responses,
          closedBy,
          closeCode,
          upstreamSessionId: session.upstreamSessionId,
        }),
      ),
    );
    if (this.sessions.size === 0) this.idle?.();
  }

  private track(write: Promise<void>): Promise<void> {
    const tracked = write.catch((error: Error) => this.logger.warn(`realtime session row not written: ${error.message}`));
    this.writes.add(tracked);
    void tracked.finally(() => this.writes.delete(tracked));
    return tracked;
  }

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => undefined);
    const url = req.url ?? '';
    if (!(url === PATH || url.startsWith(`${PATH}?`))) {
      refuse(socket, new OpenAIError(404, `No WebSocket endpoint at ${url.split('?')[0]}: the Realtime API is at ${PATH}?model=….`, 'invalid_request_error', 'not_found'));
      return;
    }
    this.admit(req, socket, head).catch((error: unknown) => {
      this.stats.refused++;
      if (error instanceof OpenAIError) return refuse(socket, error);
      this.logger.error(`realtime upgrade failed: ${(error as Error).stack ?? String(error)}`);
      refuse(socket, new OpenAIError(500, 'Tallygate failed to open the Realtime session.', 'server_error', 'gateway_error'));
    });
  };

  private async admit(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const started = performance.now();
    const createdAt = new Date();
    const model = new URL(req.url ?? '', 'http://gateway').searchParams.get('model')?.slice(0, TEXT_MAX) ?? null;
    const offered = (header(req, 'sec-websocket-protocol') ?? '').split(',').map((p) => p.trim()).filter(Boolean);
    const keyProtocol = offered.find((p) => p.startsWith(KEY_PROTOCOL));
    const authorization = header(req, 'authorization') ?? (keyProtocol ? `Bearer ${keyProtocol.slice(KEY_PROTOCOL.length)}` : undefined);
    let route: Route | undefined;
    let refusedKey: RefusedKey | undefined;
    let reserved = false;
    try {
      if (this.stopping) throw shuttingDown();
      // What ws would refuse at handleUpgrade, refused before an upstream session is opened for it.
      if (!isWebSocketUpgrade(req)) throw badRequest('Not a WebSocket upgrade: send GET with Upgrade: websocket, Sec-WebSocket-Version: 13 and a Sec-WebSocket-Key.');
      try {
        route = await this.resolver.resolve(authorization, header(req, 'openai-organization'));
      } catch (error) {
        if (isKeyRefusal(error)) refusedKey = error.refusedKey;
        throw error;
      }
      if (!model) throw badRequest(`Missing required parameter: 'model'. Connect to ${PATH}?model=gpt-realtime (or another realtime model).`, 'model', 'missing_required_parameter');
      // Hard budgets, as on the HTTP proxy (the feature's, then its org's; shared by replicas through Redis).
      const budget = this.budgets.exhausted(route.featureId, route.org.orgId);
      if (budget) throw budgetExceeded(budget);
      this.reserve(route);
      reserved = true;
      const upstream = await this.connectUpstream(req, socket, route, offered.filter((p) => !p.startsWith(KEY_PROTOCOL)));
      if (socket.destroyed) {
        upstream.terminate();
        throw new OpenAIError(499, 'The client left while the upstream session was being opened.', 'invalid_request_error', 'client_closed');
      }
      this.chosenProtocol.set(req, upstream.protocol || (offered.includes('realtime') ? 'realtime' : false));
      const admitted = route;
      let opened = false;
      // Should ws still refuse the handshake, the upstream session and the reserved slot are let go.
      socket.once('close', () => {
        if (opened) return;
        upstream.terminate();
        this.release(admitted.featureId);
      });
      this.wss.handleUpgrade(req, socket, head, (client) => {
        opened = true;
        this.open(admitted, model, client, upstream);
      });
    } catch (error) {
      if (reserved && route) this.release(route.featureId);
      const status = error instanceof OpenAIError ? error.status : 500;
      // As on the HTTP proxy: a row for every key Tallygate issued (live or revoked), none for the rest.
      if (status !== 499 && (route || refusedKey)) this.recordRefusal(createdAt, started, route, refusedKey, model, error);
      throw error;
    }
  }

  private open(route: Route, model: string, client: WebSocket, upstream: WebSocket): void {
    const session = new RealtimeSession(route, model, client, upstream, { idleMs: this.config.REALTIME_IDLE_TIMEOUT_MS, maxMs: this.config.REALTIME_MAX_SESSION_MS }, this);
    this.sessions.add(session);
    this.stats.opened++;
    this.saved.set(
      session,
      this.track(this.repository.opened({ id: session.id, featureId: route.featureId, orgId: route.org.orgId, gatewayKeyId: route.gatewayKeyId, model, openedAt: session.openedAt })),
    );
    // Opened during the last moments before a shutdown began.
    if (this.stopping) session.drain();
  }

  private reserve(route: Route): void {
    const cap = this.config.REALTIME_MAX_SESSIONS_PER_FEATURE;
    const open = this.perFeature.get(route.featureId) ?? 0;
    if (cap > 0 && open >= cap) {
      throw new OpenAIError(
        429,
        `Feature ${route.featureSlug} already has ${cap} Realtime sessions open through this Tallygate replica (REALTIME_MAX_SESSIONS_PER_FEATURE). Close one, or ask the operator to raise the cap.`,
        'requests',
        'realtime_session_limit',
        null,
        true,
        { 'retry-after': '1' },
      );
    }
    this.perFeature.set(route.featureId, open + 1);
  }

  private release(featureId: string): void {
    const open = (this.perFeature.get(featureId) ?? 1) - 1;
    if (open > 0) this.perFeature.set(featureId, open);
    else this.perFeature.delete(featureId);
  }

  /**
   * Opens the upstream WebSocket with the org's key. An upstream refusal (its 401, 429, ...) is
   * relayed to the client as it is, status and body, before any upgrade.
   */
  private connectUpstream(req: IncomingMessage, socket: Duplex, route: Route, protocols: string[]): Promise<WebSocket> {
    const base = route.org.baseUrl.replace(/\/+$/, '').replace(/^http/, 'ws');
    const query = (req.url ?? '').slice(PATH.length);
    const headers: Record<string, string> = { authorization: `Bearer ${route.org.upstreamKey}`, 'openai-organization': route.org.openaiOrgId };
    if (route.org.projectId) headers['openai-project'] = route.org.projectId;
    for (const name of FORWARD_HEADERS) {
      const value = header(req, name);
      if (value !== undefined) headers[name] = value;
    }
    return new Promise<WebSocket>((resolve, reject) => {
      const upstream = new WebSocket(`${base}/realtime${query}`, protocols, {
        headers,
        perMessageDeflate: false,
        maxPayload: this.config.REALTIME_MAX_FRAME_BYTES,
        handshakeTimeout: this.config.UPSTREAM_CONNECT_TIMEOUT_MS || undefined,
      });
      const clientGone = () => upstream.terminate();
      socket.once('close', clientGone);
      const settle = () => socket.removeListener('close', clientGone);
      upstream.once('open', () => {
        // Held until the session listens: session.created must not be emitted to no one.
        upstream.pause();
        settle();
        resolve(upstream);
      });
      upstream.once('unexpected-response', (_request, response) => {
        settle();
        readBounded(response).then(
          (body) => {
            upstream.terminate();
            reject(new UpstreamRefusal(response.statusCode ?? 502, response.headers['content-type'], body));
          },
          () => reject(unreachable(route)),
        );
      });
      upstream.once('error', () => {
        settle();
        reject(unreachable(route));
      });
    });
  }

  private recordRefusal(createdAt: Date, started: number, route: Route | undefined, refusedKey: RefusedKey | undefined, model: string | null, error: unknown): void {
    const owner = route ? { orgId: route.org.orgId, featureId: route.featureId, gatewayKeyId: route.gatewayKeyId } : refusedKey;
    const status = error instanceof OpenAIError ? error.status : 500;
    const parsed = error instanceof UpstreamRefusal ? error.parsed() : undefined;
    const event = unmeteredResponse(
      { orgId: owner?.orgId ?? '', featureId: owner?.featureId ?? '', gatewayKeyId: owner?.gatewayKeyId ?? '', model: model ?? '', startedAt: createdAt, ttfbMs: null, latencyMs: Math.round(performance.now() - started) },
      'error',
    );
    this.ledger.record({
      ...event,
      orgId: owner?.orgId ?? null,
      featureId: owner?.featureId ?? null,
      gatewayKeyId: owner?.gatewayKeyId ?? null,
      model,
      streamed: false,
      status,
      errorKind: error instanceof UpstreamRefusal ? classifyError(status, parsed?.type, parsed?.code, parsed?.message) : status === 401 || status === 403 ? 'auth' : status === 503 ? 'shutdown' : 'gateway',
      errorType: parsed?.type ?? (error instanceof OpenAIError ? error.type : 'server_error'),
      errorCode: parsed?.code ?? (error instanceof OpenAIError ? error.code : null),
      // Refused before OpenAI generated anything: free.
      costNanos: '0',
    });
  }
}

/** The upstream answered the upgrade with an HTTP error: relayed to the client as it is. */
class UpstreamRefusal extends OpenAIError {
  constructor(
    status: number,
    readonly contentType: string | undefined,
    readonly raw: Buffer,
  ) {
    super(status, 'upstream refused the Realtime session', 'upstream_error');
  }

  parsed(): { type?: string; code?: string; message?: string } | undefined {
    try {
      return (JSON.parse(this.raw.toString('utf8')) as { error?: { type?: string; code?: string; message?: string } }).error;
    } catch {
      return undefined;
    }
  }
}

function unreachable(route: Route): OpenAIError {
  return new OpenAIError(502, `Tallygate could not open the Realtime WebSocket to ${route.org.baseUrl} for organization ${route.org.openaiOrgId}. Retry shortly.`, 'server_error', 'upstream_unreachable', null, true);
}

function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return (
    req.method === 'GET' &&
    header(req, 'upgrade')?.toLowerCase() === 'websocket' &&
    /^[+/0-9A-Za-z]{22}==$/.test(header(req, 'sec-websocket-key') ?? '') &&
    (header(req, 'sec-websocket-version') === '13' || header(req, 'sec-websocket-version') === '8')
  );
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function readBounded(response: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    response.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_REFUSAL_BODY) chunks.push(chunk);
    });
    response.once('end', () => resolve(Buffer.concat(chunks)));
    response.once('error', reject);
  });
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable' };

/** An HTTP answer on the raw socket, then closed: the upgrade is refused. */
function refuse(socket: Duplex, error: OpenAIError): void {
  if (socket.destroyed || !socket.writable) return void socket.destroy();
  const body = error instanceof UpstreamRefusal ? error.raw : Buffer.from(JSON.stringify(error.body()));
  const headers: Record<string, string> = error instanceof UpstreamRefusal ? { 'content-type': error.contentType ?? 'application/json' } : { ...error.responseHeaders() };
  headers['content-length'] = String(body.length);
  headers.connection = 'close';
  const head = [`HTTP/1.1 ${error.status} ${STATUS_TEXT[error.status] ?? 'Error'}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
  socket.end(Buffer.concat([Buffer.from(head), body]));
}
