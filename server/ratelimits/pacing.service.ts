// Optional pacing (off by default): the gateway's side of the Pacer. Decides which orgs are paced,
// estimates a request's token cost, and turns a refusal into OpenAI's 429 shape with retry-after.
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { OpenAIError } from '../http/openai-error.js';
import { modelFamily } from '../pricing/model-family.js';
import { SharedState } from '../shared-state/shared-state.js';
import { PaceRefusedError, Pacer, type PaceRefusal, type PacingTicket as LocalTicket } from './pacer.js';
import type { RateLimitSnapshot } from '../ledger/rate-limit-snapshot.js';
import { SharedPacer, type SharedTicket } from './shared-pacer.js';

/** What was held and sent: by this replica's own pacer, or by the one every replica shares (Redis). */
export type PacingTicket = LocalTicket | SharedTicket;

interface PacedOrg {
  orgId: string;
  openaiOrgId: string;
}
interface OutgoingRequest {
  bytes?: unknown;
  /** The body's length, when `bytes` is not given. */
  byteLength?: number;
  json?: Record<string, unknown>;
}

const OUTPUT_LIMIT_FIELDS = ['max_completion_tokens', 'max_tokens', 'max_output_tokens'] as const;

/**
 * What OpenAI will count against TPM before answering: about a token per 4 characters of input
 * (its own rule of thumb; the JSON around the text makes this generous) plus the output limit
 * the request sets. Wrong estimates are corrected by the next response's headers.
 */
export function estimateTokens(outgoing: OutgoingRequest): number {
  const length = Buffer.isBuffer(outgoing.bytes) ? outgoing.bytes.length : (outgoing.byteLength ?? 0);
  let output = 0;
  for (const field of OUTPUT_LIMIT_FIELDS) {
    const value = outgoing.json?.[field];
    if (typeof value === 'number' && Number.isFinite(value) && value > 0) {
      output = value;
      break;
    }
  }
  const n = typeof outgoing.json?.n === 'number' && outgoing.json.n > 1 ? Math.min(outgoing.json.n, 128) : 1;
  return Math.ceil(length / 4) + output * n;
}

const REASONS: Record<PaceRefusal['reason'], string> = {
  queue_full: 'too many requests are already waiting for it (PACING_MAX_QUEUE)',
  wait_too_long: 'that is longer than this gateway holds a request (PACING_MAX_WAIT_MS)',
  timed_out: 'this request waited as long as this gateway holds one (PACING_MAX_WAIT_MS)',
};

@Injectable()
export class PacingService {
  private readonly pacer: Pacer;
  private readonly sharedPacer: SharedPacer;
  private readonly orgs: ReadonlySet<string>;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly shared: SharedState,
  ) {
    this.pacer = new Pacer({ maxWaitMs: config.PACING_MAX_WAIT_MS, maxQueue: config.PACING_MAX_QUEUE });
    this.sharedPacer = new SharedPacer({ maxWaitMs: config.PACING_MAX_WAIT_MS, maxQueue: config.PACING_MAX_QUEUE, prefix: shared.prefix });
    this.orgs = new Set(config.PACING_ORGS);
  }

  paces(openaiOrgId: string): boolean {
    return this.config.PACING_ENABLED || this.orgs.has(openaiOrgId);
  }

  /**
   * Called right before the upstream request. Undefined (no wait, no allocation) when the org is not
   * paced; otherwise resolves when there is room, or throws the gateway's 429.
   */
  admit(org: PacedOrg, model: string | null, outgoing: OutgoingRequest): Promise<PacingTicket> | undefined {
    if (!model || !this.paces(org.openaiOrgId)) return undefined;
    const family = modelFamily(model);
    const lane = `${org.orgId}|${family}`;
    const tokens = estimateTokens(outgoing);
    const refused = (error: unknown): never => {
      if (error instanceof PaceRefusedError) throw pacedError(org.openaiOrgId, family, error.refusal);
      throw error;
    };
    // With Redis, every replica takes from one estimate; if Redis fails under a request, that
    // request is paced by this replica alone (as all are while Redis is away).
    const redis = this.shared.client;
    if (redis) {
      return this.sharedPacer.acquire(redis, lane, tokens).catch((error: unknown) => {
        if (error instanceof PaceRefusedError) return refused(error);
        return this.pacer.acquire(lane, tokens).catch(refused);
      });
    }
    return this.pacer.acquire(lane, tokens).catch(refused);
  }

  release(ticket: PacingTicket, limits: RateLimitSnapshot | undefined, observedAt: number, responded: boolean): void {
    if (!('shared' in ticket)) return this.pacer.release(ticket, limits, observedAt, responded);
    const redis = this.shared.client;
    // Redis away: the lane's in-flight count stays high until the lane expires (LANE_TTL_MS) or the next headers reset it.
    if (redis) void this.sharedPacer.release(redis, ticket, limits, observedAt, responded).catch(() => undefined);
  }

  queued(): number {
    return this.pacer.queued() + this.sharedPacer.queued();
  }

  /** Tickets out (paced calls not yet ended). */
  inFlight(): number {
    return this.pacer.inFlight();
  }
}

function pacedError(openaiOrgId: string, family: string, refusal: PaceRefusal): OpenAIError {
  const seconds = Math.max(1, Math.ceil(refusal.retryAfterMs / 1000));
  return new OpenAIError(
    429,
    `Rate limit reached for ${family} in organization ${openaiOrgId} on ${refusal.resource}: Tallygate is pacing this org, ` +
      `the last rate-limit headers leave no room for about ${(refusal.retryAfterMs / 1000).toFixed(1)} s, and ${REASONS[refusal.reason]}. ` +
      `The request was not sent to OpenAI. Please try again in ${seconds}s.`,
    refusal.resource,
    'gateway_paced',
    null,
    true,
    { 'retry-after': String(seconds), 'retry-after-ms': String(Math.max(1, Math.ceil(refusal.retryAfterMs))) },
  );
}
