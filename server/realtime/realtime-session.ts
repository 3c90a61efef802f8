// One Realtime session relayed by the gateway: the client's WebSocket and the upstream's, paired.
// Every message goes through unchanged (text as text, binary as binary, in order); the faster side
// is paused while the other's send buffer is full. Upstream text messages are looked at only for
// the few event types the ledger needs (response.created, the first delta, response.done,
// session.created), by a native substring search before any JSON.parse: an audio delta, which is
// nearly all of the traffic, is never parsed.
import { randomUUID } from 'node:crypto';
import type { RawData, WebSocket } from 'ws';
import type { Outcome, UsageEvent } from '../ledger/usage-event.js';
import type { Route } from '../orgs/route-resolver.js';
import type { MeteredUsage } from '../pricing/cost.js';
import type { PricedUsage } from '../pricing/pricing.service.js';
import type { SessionCloser } from './realtime-sessions.repository.js';
import { responseEvent, unmeteredResponse, type RealtimeResponseDone, type ResponseContext } from './realtime-usage.js';

/** Past this many bytes queued towards one side, the other side is paused until it drains below LOW_WATER. */
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
/** A side that left mid-response: the response is cancelled upstream and its usage awaited this long. */
const CANCEL_WAIT_MS = 2_000;

const RESPONSE_DONE = Buffer.from('"response.done"');
const RESPONSE_CREATED = Buffer.from('"response.created"');
const SESSION_CREATED = Buffer.from('"session.created"');
const DELTA = Buffer.from('.delta"');
const CANCEL = JSON.stringify({ type: 'response.cancel' });

export interface SessionLimits {
  idleMs: number;
  maxMs: number;
}

export interface SessionOwner {
  record(event: UsageEvent): void;
  price(model: string, at: Date, usage: MeteredUsage): PricedUsage;
  ended(session: RealtimeSession, closedBy: SessionCloser, closeCode: number): void;
}

/** What the ledger calls a response cut by whoever ended the session. */
const CUT_OUTCOME: Record<SessionCloser, Outcome> = {
  client: 'client_aborted',
  idle_timeout: 'client_aborted',
  frame_too_large: 'client_aborted',
  max_duration: 'client_aborted',
  upstream: 'upstream_aborted',
  upstream_error: 'upstream_aborted',
  shutdown: 'shutdown',
};

/** Close codes an endpoint may send (RFC 6455 §7.4): the reserved ones become a normal or an error close. */
function sendableCode(code: number): number {
  if (code === 1000 || code === 1001 || code === 1003 || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)) return code;
  return code === 1005 ? 1000 : 1011;
}

/** A close reason fits 123 bytes. */
const reasonOf = (reason: Buffer | string): string => Buffer.from(reason).subarray(0, 123).toString('utf8').replace(/\uFFFD+$/, '');

export class RealtimeSession {
  readonly id = randomUUID();
  readonly openedAt = new Date();
  responses = 0;
  upstreamSessionId: string | null = null;
  private current?: { startedAt: number; at: Date; firstDeltaAt: number };
  private closedBy?: SessionCloser;
  private closeCode = 1000;
  /** Shutdown began: end at the next moment no response is in progress. */
  private draining = false;
  private cancelTimer?: NodeJS.Timeout;
  private readonly idle?: NodeJS.Timeout;
  private readonly lifetime?: NodeJS.Timeout;
  private clientPaused = false;
  private upstreamPaused = false;
  private finished = false;

  constructor(
    readonly route: Route,
    public model: string,
    private readonly client: WebSocket,
    private readonly upstream: WebSocket,
    limits: SessionLimits,
    private readonly owner: SessionOwner,
  ) {
    if (limits.idleMs > 0) this.idle = setTimeout(() => this.end('idle_timeout', 1001, `no frame for ${limits.idleMs} ms: session closed (REALTIME_IDLE_TIMEOUT_MS)`), limits.idleMs).unref();
    if (limits.maxMs > 0) this.lifetime = setTimeout(() => this.end('max_duration', 1001, `session reached its longest duration, ${limits.maxMs} ms (REALTIME_MAX_SESSION_MS)`), limits.maxMs).unref();
    client.on('message', this.fromClient);
    upstream.on('message', this.fromUpstream);
    client.on('close', (code, reason) => this.end('client', code, reasonOf(reason)));
    upstream.on('close', (code, reason) => this.end('upstream', code, reasonOf(reason)));
    client.on('error', (error: Error & { code?: string }) => this.end(error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'frame_too_large' : 'client', 1009, 'message too large (REALTIME_MAX_FRAME_BYTES)'));
    upstream.on('error', (error: Error & { code?: string }) =>
      error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? this.end('frame_too_large', 1009, 'upstream message too large (REALTIME_MAX_FRAME_BYTES)') : this.end('upstream_error', 1011, 'upstream connection failed'),
    );
    upstream.resume();
    // Closed between its open and this session's start: nothing will say so again.
    if (upstream.readyState !== 1) this.end('upstream', 1011, 'upstream session ended');
  }

  /** A response is between response.created and response.done. */
  get inResponse(): boolean {
    return this.current !== undefined;
  }

  private readonly fromClient = (data: RawData, isBinary: boolean): void => {
    this.idle?.refresh();
    if (this.upstream.readyState !== 1 || this.closedBy) return;
    this.upstream.send(data as Buffer, { binary: isBinary }, this.upstreamSent);
    if (!this.clientPaused && this.upstream.bufferedAmount > HIGH_WATER) {
      this.clientPaused = true;
      this.client.pause();
    }
  };

  private readonly fromUpstream = (data: RawData, isBinary: boolean): void => {
    this.idle?.refresh();
    // Relayed before it is looked at: a response.done that ends a draining session reaches the client first.
    if (this.client.readyState === 1) {
      this.client.send(data as Buffer, { binary: isBinary }, this.clientSent);
      if (!this.upstreamPaused && this.client.bufferedAmount > HIGH_WATER) {
        this.upstreamPaused = true;
        this.upstream.pause();
      }
    }
    if (!isBinary) this.observe(data as Buffer);
  };

  private readonly upstreamSent = (): void => {
    if (this.clientPaused && this.upstream.bufferedAmount < LOW_WATER) {
      this.clientPaused = false;
      this.client.resume();
    }
  };

  private readonly clientSent = (): void => {
    if (this.upstreamPaused && this.client.bufferedAmount < LOW_WATER) {
      this.upstreamPaused = false;
      this.upstream.resume();
    }
  };

  private observe(data: Buffer): void {
    if (this.current && this.current.firstDeltaAt === 0 && data.indexOf(DELTA) >= 0) {
      this.current.firstDeltaAt = performance.now();
      return;
    }
    if (data.indexOf(RESPONSE_DONE) >= 0) {
      const event = parse(data);
      if (event?.type === 'response.done') this.responseDone(event as unknown as RealtimeResponseDone);
    } else if (data.indexOf(RESPONSE_CREATED) >= 0) {
      if (parse(data)?.type === 'response.created') this.current = { startedAt: performance.now(), at: new Date(), firstDeltaAt: 0 };
    } else if (this.upstreamSessionId === null && data.indexOf(SESSION_CREATED) >= 0) {
      const event = parse(data);
      const session = event?.type === 'session.created' ? (event.session as { id?: unknown; model?: unknown } | undefined) : undefined;
      if (typeof session?.id === 'string') this.upstreamSessionId = session.id;
      if (typeof session?.model === 'string' && session.model.length > 0 && session.model.length <= 256) this.model = session.model;
    }
  }

  private context(now: number): ResponseContext {
    const current = this.current;
    return {
      orgId: this.route.org.orgId,
      featureId: this.route.featureId,
      gatewayKeyId: this.route.gatewayKeyId,
      model: this.model,
      startedAt: current?.at ?? new Date(),
      ttfbMs: current && current.firstDeltaAt > 0 ? Math.round(current.firstDeltaAt - current.startedAt) : null,
      latencyMs: current ? Math.round(now - current.startedAt) : 0,
      cancelledBy: this.closedBy ? CUT_OUTCOME[this.closedBy] : undefined,
    };
  }

  private responseDone(event: RealtimeResponseDone): void {
    this.responses++;
    this.owner.record(responseEvent(event, this.context(performance.now()), (model, at, usage) => this.owner.price(model, at, usage)));
    this.current = undefined;
    if (this.cancelTimer) this.finish();
    else if (this.draining) this.end('shutdown', 1012, 'Tallygate is restarting: reconnect to continue');
  }

  /** Shutdown: end now when no response is in progress, otherwise right after it is done. */
  drain(): void {
    this.draining = true;
    if (!this.current) this.end('shutdown', 1012, 'Tallygate is restarting: reconnect to continue');
  }

  /**
   * Ends the session once, whoever started it: the client gets `code` (unless it is the one that
   * left); a response in progress is cancelled upstream and its usage awaited briefly, so what
   * OpenAI bills for it is still recorded; then the upstream is closed.
   */
  end(closedBy: SessionCloser, code: number, reason: string): void {
    if (this.closedBy) return;
    this.closedBy = closedBy;
    this.closeCode = code;
    clearTimeout(this.idle);
    clearTimeout(this.lifetime);
    if (this.clientPaused) this.client.resume();
    if (this.client.readyState === 1) this.client.close(sendableCode(code), reason);
    if (this.current && closedBy !== 'upstream' && closedBy !== 'upstream_error' && this.upstream.readyState === 1) {
      this.upstream.send(CANCEL);
      this.cancelTimer = setTimeout(() => this.finish(), CANCEL_WAIT_MS);
      return;
    }
    this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.cancelTimer);
    const closedBy = this.closedBy ?? 'upstream';
    // Ended mid-response with no response.done: OpenAI may bill what it generated; unknown, not $0.
    if (this.current) this.owner.record(unmeteredResponse(this.context(performance.now()), CUT_OUTCOME[closedBy]));
    this.current = undefined;
    if (this.upstreamPaused) this.upstream.resume();
    if (this.upstream.readyState === 1) this.upstream.close(1000, 'client session ended');
    else if (this.upstream.readyState === 0) this.upstream.terminate();
    this.owner.ended(this, closedBy, this.closeCode);
  }
}

function parse(data: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(data.toString('utf8'));
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
