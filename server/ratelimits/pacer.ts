// Holds requests that would certainly be refused with a 429 until the org's rate-limit window has
// room again, from what the last x-ratelimit-* headers said. One lane per org and model family,
// each an estimate of OpenAI's bucket: the last remaining value, refilled at the rate implied by
// limit, remaining and reset, minus what this process sent since. Per process: a replica paces
// on what it saw (see docs/operations.md, "Pacing").
import type { RateLimitSnapshot } from '../ledger/rate-limit-snapshot.js';

export interface PacerOptions {
  /** Longest a request may wait for room; a longer estimated wait is answered 429 at once. */
  maxWaitMs: number;
  /** Requests waiting per org and model; past this, 429 at once. */
  maxQueue: number;
  now?: () => number;
}

/** What was held and sent: returned to the pacer when the response (or the failure) is known. */
export interface PacingTicket {
  readonly lane: Lane;
  readonly tokens: number;
  readonly waitedMs: number;
}

export type PaceRefusal = {
  /** Which limit ran out: `requests` or `tokens`. */
  resource: 'requests' | 'tokens';
  reason: 'queue_full' | 'wait_too_long' | 'timed_out';
  retryAfterMs: number;
};

export class PaceRefusedError extends Error {
  constructor(readonly refusal: PaceRefusal) {
    super(`paced: ${refusal.reason}`);
  }
}

/** An estimate of one of OpenAI's buckets (requests or tokens) for one org and model. */
interface Bucket {
  limit: number;
  /** Units available at `at` (may go negative: sent but not yet confirmed). */
  level: number;
  at: number;
  perMs: number;
}

interface Waiter {
  tokens: number;
  queuedAt: number;
  deadline: number;
  resolve: (ticket: PacingTicket) => void;
  reject: (error: PaceRefusedError) => void;
}

// The upstream's clock and rounding are not ours: wait a little longer than the estimate.
const SAFETY_MS = 25;
const MS_PER_MINUTE = 60_000;
const MAX_IDLE_LANES = 10_000;

export class Lane {
  requests?: Bucket;
  tokens?: Bucket;
  /** Whether a response from this lane has been seen; until then one request at a time probes. */
  known = false;
  /** Time of the newest observation applied: older ones (a long stream ending late) are ignored. */
  observedAt = 0;
  inFlight = 0;
  inFlightTokens = 0;
  readonly queue: Waiter[] = [];
  timer?: NodeJS.Timeout;

  constructor(readonly key: string) {}
}

function available(bucket: Bucket, now: number): number {
  if (now > bucket.at) {
    bucket.level = Math.min(bucket.limit, bucket.level + (now - bucket.at) * bucket.perMs);
    bucket.at = now;
  }
  return bucket.level;
}

/** Milliseconds until `need` units are available; 0 when they are now. */
function msUntil(bucket: Bucket | undefined, need: number, now: number): number {
  if (!bucket) return 0;
  const level = available(bucket, now);
  if (level >= need) return 0;
  return Math.ceil((need - level) / bucket.perMs) + SAFETY_MS;
}

/** For one request: one that needs more than the whole limit can never fit, so OpenAI should say so, not us. */
function msUntilFits(bucket: Bucket | undefined, need: number, now: number): number {
  return bucket && need > bucket.limit ? 0 : msUntil(bucket, need, now);
}

function update(current: Bucket | undefined, limit: number | undefined, remaining: number | undefined, resetMs: number | undefined, unconfirmed: number, now: number): Bucket | undefined {
  if (limit === undefined || remaining === undefined || limit <= 0) return current;
  // Reset is the time until the bucket is full again; OpenAI refills continuously, so the refill
  // rate is what is missing over that time. A full bucket says nothing about the rate: keep the last
  // one, or assume the limit is per minute.
  const perMs = resetMs && remaining < limit ? (limit - remaining) / resetMs : (current?.limit === limit ? current.perMs : limit / MS_PER_MINUTE);
  // Answers arrive out of order: headers read later may describe the upstream earlier. An
  // observation may lower the estimate, never raise it above its refill (as in shared-pacer.ts).
  let level = remaining - unconfirmed;
  if (current?.limit === limit) level = Math.min(level, available(current, now));
  return { limit, level, at: now, perMs };
}

export class Pacer {
  private readonly lanes = new Map<string, Lane>();
  private readonly now: () => number;

  constructor(private readonly options: PacerOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Resolves when the request may be sent; rejects with PaceRefusedError past the queue or wait bound. */
  acquire(key: string, tokens: number): Promise<PacingTicket> {
    const lane = this.lane(key);
    const now = this.now();
    if (lane.queue.length === 0 && this.waitMs(lane, tokens, now) === 0) return Promise.resolve(this.dispatch(lane, tokens, now, 0));
    if (lane.queue.length >= this.options.maxQueue) {
      return Promise.reject(new PaceRefusedError(this.refusal(lane, tokens, now, 'queue_full')));
    }
    // Everyone queued ahead goes first: estimate the wait for the whole queue plus this one.
    const queuedTokens = lane.queue.reduce((sum, w) => sum + w.tokens, 0);
    const estimate = Math.max(msUntil(lane.requests, lane.queue.length + 1, now), msUntil(lane.tokens, queuedTokens + tokens, now));
    if (lane.known && estimate > this.options.maxWaitMs) {
      return Promise.reject(new PaceRefusedError(this.refusal(lane, queuedTokens + tokens, now, 'wait_too_long', lane.queue.length + 1)));
    }
    return new Promise<PacingTicket>((resolve, reject) => {
      lane.queue.push({ tokens, queuedAt: now, deadline: now + this.options.maxWaitMs, resolve, reject });
      this.pump(lane);
    });
  }

  /**
   * The call is over: `limits` are the headers of its response (empty when there was none),
   * `observedAt` when they were received.
   */
  release(ticket: PacingTicket, limits: RateLimitSnapshot | undefined, observedAt: number, responded: boolean): void {
    const lane = ticket.lane;
    lane.inFlight--;
    lane.inFlightTokens -= ticket.tokens;
    const now = this.now();
    if (limits && observedAt >= lane.observedAt && (limits.limitRequests !== undefined || limits.limitTokens !== undefined)) {
      lane.observedAt = observedAt;
      lane.known = true;
      // Whatever else is still in flight may not be in these numbers yet: count it as spent.
      lane.requests = update(lane.requests, limits.limitRequests, limits.remainingRequests, limits.resetRequestsMs, lane.inFlight, now);
      lane.tokens = update(lane.tokens, limits.limitTokens, limits.remainingTokens, limits.resetTokensMs, lane.inFlightTokens, now);
    } else if (responded && !lane.known) {
      lane.known = true; // OpenAI answered without rate-limit headers: nothing to pace on
    }
    this.pump(lane);
  }

  /** Requests waiting, per lane (for metrics and tests). */
  queued(): number {
    let total = 0;
    for (const lane of this.lanes.values()) total += lane.queue.length;
    return total;
  }

  /** Tickets handed out and not yet released, over every lane (for tests and diagnostics). */
  inFlight(): number {
    let total = 0;
    for (const lane of this.lanes.values()) total += lane.inFlight;
    return total;
  }

  private lane(key: string): Lane {
    let lane = this.lanes.get(key);
    if (!lane) {
      if (this.lanes.size >= MAX_IDLE_LANES) this.evictIdle();
      lane = new Lane(key);
      this.lanes.set(key, lane);
    }
    return lane;
  }

  private evictIdle(): void {
    for (const [key, lane] of this.lanes) if (lane.inFlight === 0 && lane.queue.length === 0) this.lanes.delete(key);
  }

  /** 0 when a request needing `tokens` may go now, else the estimated wait (Infinity: wait for the probe). */
  private waitMs(lane: Lane, tokens: number, now: number): number {
    if (!lane.known) return lane.inFlight === 0 ? 0 : Infinity;
    return Math.max(msUntil(lane.requests, 1, now), msUntilFits(lane.tokens, tokens, now));
  }

  private dispatch(lane: Lane, asked: number, now: number, waitedMs: number): PacingTicket {
    // A request above the whole token limit will be refused without spending anything.
    const tokens = lane.tokens && asked > lane.tokens.limit ? 0 : asked;
    lane.inFlight++;
    lane.inFlightTokens += tokens;
    if (lane.requests) lane.requests.level = available(lane.requests, now) - 1;
    if (lane.tokens) lane.tokens.level = available(lane.tokens, now) - tokens;
    return { lane, tokens, waitedMs };
  }

  private pump(lane: Lane): void {
    if (lane.timer) {
      clearTimeout(lane.timer);
      lane.timer = undefined;
    }
    const now = this.now();
    while (lane.queue.length > 0) {
      const head = lane.queue[0];
      const wait = this.waitMs(lane, head.tokens, now);
      if (wait === 0) {
        lane.queue.shift();
        head.resolve(this.dispatch(lane, head.tokens, now, now - head.queuedAt));
        continue;
      }
      // Room will come too late for this one (a finite estimate past its deadline): say so now.
      if (now >= head.deadline || (wait !== Infinity && now + wait > head.deadline)) {
        lane.queue.shift();
        head.reject(new PaceRefusedError(this.refusal(lane, head.tokens, now, 'timed_out')));
        continue;
      }
      lane.timer = setTimeout(() => this.pump(lane), Math.max(1, Math.min(wait, head.deadline - now)));
      lane.timer.unref();
      return;
    }
  }

  private refusal(lane: Lane, tokens: number, now: number, reason: PaceRefusal['reason'], requests = 1): PaceRefusal {
    const requestsWait = msUntil(lane.requests, requests, now);
    const tokensWait = msUntilFits(lane.tokens, tokens, now);
    // Unknown lane (the probe has not answered): suggest a short retry.
    const retryAfterMs = Math.max(requestsWait, tokensWait, lane.known ? 1 : 1000);
    return { resource: tokensWait > requestsWait ? 'tokens' : 'requests', reason, retryAfterMs };
  }
}
