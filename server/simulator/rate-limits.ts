// Per org+model token buckets that behave like OpenAI's RPM/TPM limits, and the x-ratelimit-* headers they produce.
import type { SimulatedOrg } from './simulator.js';

export interface ModelLimits {
  rpm: number;
  /** Undefined for models limited by requests only (whisper-1): no token headers then. */
  tpm?: number;
}

type Tier = 1 | 2 | 3 | 4 | 5;

const MS_PER_MINUTE = 60_000;

// Tier-1 defaults (OPENAI-WIRE.md); families not listed fall back by prefix, then to gpt-4o's.
const TIER1_LIMITS: Record<string, ModelLimits> = {
  'gpt-4o': { rpm: 500, tpm: 30_000 },
  'gpt-4o-mini': { rpm: 500, tpm: 200_000 },
  'gpt-4.1': { rpm: 500, tpm: 30_000 },
  'gpt-4.1-mini': { rpm: 500, tpm: 200_000 },
  'gpt-4.1-nano': { rpm: 500, tpm: 200_000 },
  o1: { rpm: 500, tpm: 30_000 },
  'o1-mini': { rpm: 500, tpm: 200_000 },
  o3: { rpm: 500, tpm: 30_000 },
  'o3-mini': { rpm: 1_000, tpm: 100_000 },
  'o4-mini': { rpm: 1_000, tpm: 100_000 },
  'gpt-3.5-turbo': { rpm: 3_500, tpm: 200_000 },
  'gpt-3.5-turbo-instruct': { rpm: 3_500, tpm: 90_000 },
  'babbage-002': { rpm: 3_000, tpm: 250_000 },
  'davinci-002': { rpm: 3_000, tpm: 250_000 },
  'whisper-1': { rpm: 500 },
  'gpt-4o-transcribe': { rpm: 500, tpm: 10_000 },
  'gpt-4o-mini-transcribe': { rpm: 500, tpm: 50_000 },
  'gpt-5': { rpm: 500, tpm: 30_000 },
  'gpt-5-mini': { rpm: 500, tpm: 200_000 },
  'gpt-5-nano': { rpm: 500, tpm: 200_000 },
  // Image, speech and video models: dall-e, tts-1 and sora are limited by requests (images/videos per minute) only.
  'gpt-image-1': { rpm: 500, tpm: 100_000 },
  'gpt-image-1-mini': { rpm: 500, tpm: 100_000 },
  'dall-e-2': { rpm: 500 },
  'dall-e-3': { rpm: 500 },
  'tts-1': { rpm: 500 },
  'tts-1-hd': { rpm: 500 },
  'gpt-4o-mini-tts': { rpm: 500, tpm: 50_000 },
  'sora-2': { rpm: 25 },
  'sora-2-pro': { rpm: 25 },
};
const EMBEDDING_LIMITS: ModelLimits = { rpm: 3_000, tpm: 1_000_000 };
const MODERATION_LIMITS: ModelLimits = { rpm: 500, tpm: 10_000 };
const FALLBACK_LIMITS: ModelLimits = { rpm: 500, tpm: 30_000 };

// Higher tiers: the published gpt-4o / gpt-4o-mini rows, and gpt-4o's growth factors for the rest.
const TIER_TABLE: Record<string, Record<Tier, ModelLimits>> = {
  'gpt-4o': {
    1: { rpm: 500, tpm: 30_000 },
    2: { rpm: 5_000, tpm: 450_000 },
    3: { rpm: 5_000, tpm: 800_000 },
    4: { rpm: 10_000, tpm: 2_000_000 },
    5: { rpm: 10_000, tpm: 30_000_000 },
  },
  'gpt-4o-mini': {
    1: { rpm: 500, tpm: 200_000 },
    2: { rpm: 5_000, tpm: 2_000_000 },
    3: { rpm: 5_000, tpm: 4_000_000 },
    4: { rpm: 10_000, tpm: 10_000_000 },
    5: { rpm: 30_000, tpm: 150_000_000 },
  },
};
const TIER_GROWTH: Record<Tier, { rpm: number; tpm: number }> = {
  1: { rpm: 1, tpm: 1 },
  2: { rpm: 10, tpm: 15 },
  3: { rpm: 10, tpm: 27 },
  4: { rpm: 20, tpm: 67 },
  5: { rpm: 20, tpm: 1_000 },
};

/** `gpt-4o-2024-08-06` → `gpt-4o`, `gpt-3.5-turbo-0125` → `gpt-3.5-turbo`. */
export function modelFamily(model: string): string {
  return model.replace(/-\d{4}-\d{2}-\d{2}$/, '').replace(/-(0[1-9]|1[0-2])\d{2}$/, '');
}

export function defaultLimits(family: string, tier: Tier): ModelLimits {
  const tiered = TIER_TABLE[family];
  if (tiered) return tiered[tier];
  let base = TIER1_LIMITS[family];
  if (!base) {
    if (family.startsWith('text-embedding')) base = EMBEDDING_LIMITS;
    else if (family.includes('moderation')) base = MODERATION_LIMITS;
    else base = FALLBACK_LIMITS;
  }
  const growth = TIER_GROWTH[tier];
  return {
    rpm: base.rpm * growth.rpm,
    tpm: base.tpm === undefined ? undefined : base.tpm * growth.tpm,
  };
}

export function limitsFor(org: SimulatedOrg, model: string, family: string): ModelLimits {
  return org.limits?.[model] ?? org.limits?.[family] ?? defaultLimits(family, org.tier ?? 1);
}

/** Go's time.Duration.String() style, as OpenAI prints resets: `17ms`, `1s`, `1.5s`, `6m0s`, `1h2m3.5s`. */
export function goDuration(ms: number): string {
  const rounded = Math.max(0, Math.ceil(ms));
  if (rounded === 0) return '0s';
  if (rounded < 1_000) return `${rounded}ms`;
  const hours = Math.floor(rounded / 3_600_000);
  const minutes = Math.floor((rounded % 3_600_000) / 60_000);
  const seconds = (rounded % 60_000) / 1_000;
  const secondsText = `${Number(seconds.toFixed(3))}s`;
  if (hours > 0) return `${hours}h${minutes}m${secondsText}`;
  if (minutes > 0) return `${minutes}m${secondsText}`;
  return secondsText;
}

/** A continuously refilling bucket holding up to `limit` units per minute. */
class Bucket {
  private level: number;
  private updatedAt: number;

  constructor(
    readonly limit: number,
    now: number,
  ) {
    this.level = limit;
    this.updatedAt = now;
  }

  available(now: number): number {
    if (now > this.updatedAt) {
      this.level = Math.min(this.limit, this.level + ((now - this.updatedAt) * this.limit) / MS_PER_MINUTE);
      this.updatedAt = now;
    }
    return this.level;
  }

  take(amount: number): void {
    this.level -= amount;
  }

  msUntil(amount: number, now: number): number {
    return Math.max(0, ((amount - this.available(now)) * MS_PER_MINUTE) / this.limit);
  }

  msUntilFull(now: number): number {
    return this.msUntil(this.limit, now);
  }
}

export type RateLimitKind = 'requests' | 'tokens';

export type Admission =
  | { admitted: true; headers: Record<string, string> }
  | {
      admitted: false;
      kind: RateLimitKind;
      message: string;
      retryAfterMs: number;
      /** True when the request can never fit (tokens above the whole TPM limit). */
      tooLarge: boolean;
      headers: Record<string, string>;
    };

interface ModelBuckets {
  requests: Bucket;
  tokens: Bucket | undefined;
}

export class RateLimiter {
  private readonly models = new Map<string, ModelBuckets>();
  private readonly projects = new Map<string, Bucket>();

  /** Checks and, when everything fits, consumes one request and `tokens` tokens. */
  admit(org: SimulatedOrg, model: string, tokens: number, project: string | undefined): Admission {
    const now = Date.now();
    const family = modelFamily(model);
    const buckets = this.bucketsFor(org, model, family, now);
    const projectBucket = this.projectBucket(org, project, now);

    const fail = (kind: RateLimitKind, message: string, retryAfterMs: number, tooLarge: boolean): Admission => ({
      admitted: false,
      kind,
      message,
      retryAfterMs: Math.max(1, Math.ceil(retryAfterMs)),
      tooLarge,
      headers: this.headers(buckets, projectBucket, now),
    });
    const where = `${family} in organization ${org.id}`;

    if (buckets.tokens && tokens > buckets.tokens.limit) {
      return fail(
        'tokens',
        `Request too large for ${where} on tokens per min (TPM): Limit ${buckets.tokens.limit}, Requested ${tokens}. ` +
          'The input or output tokens must be reduced in order to run successfully. ' +
          'Visit https://platform.openai.com/account/rate-limits to learn more.',
        0,
        true,
      );
    }
    if (buckets.requests.available(now) < 1) {
      const wait = buckets.requests.msUntil(1, now);
      return fail('requests', exceeded(where, 'requests per min (RPM)', buckets.requests, 1, wait, now), wait, false);
    }
    if (buckets.tokens && buckets.tokens.available(now) < tokens) {
      const wait = buckets.tokens.msUntil(tokens, now);
      return fail('tokens', exceeded(where, 'tokens per min (TPM)', buckets.tokens, tokens, wait, now), wait, false);
    }
    if (projectBucket && projectBucket.available(now) < tokens) {
      const wait = projectBucket.msUntil(tokens, now);
      const whereProject = `${family} in project ${project ?? ''}`;
      return fail('tokens', exceeded(whereProject, 'tokens per min (TPM)', projectBucket, tokens, wait, now), wait, false);
    }

    buckets.requests.take(1);
    buckets.tokens?.take(tokens);
    projectBucket?.take(tokens);
    return { admitted: true, headers: this.headers(buckets, projectBucket, now) };
  }

  /** Headers for the current state without consuming anything (errors that are not rate limits). */
  peek(org: SimulatedOrg, model: string, project: string | undefined): Record<string, string> {
    const now = Date.now();
    const buckets = this.bucketsFor(org, model, modelFamily(model), now);
    return this.headers(buckets, this.projectBucket(org, project, now), now);
  }

  /** A synthetic 429 for fault injection, worded like the real one for the current state. */
  forced(org: SimulatedOrg, model: string, kind: RateLimitKind, project: string | undefined): Admission {
    const now = Date.now();
    const family = modelFamily(model);
    const buckets = this.bucketsFor(org, model, family, now);
    const bucket = kind === 'tokens' ? (buckets.tokens ?? buckets.requests) : buckets.requests;
    const requested = kind === 'tokens' ? Math.ceil(bucket.available(now)) + 1 : 1;
    const wait = bucket.msUntil(requested, now);
    const unit = kind === 'tokens' ? 'tokens per min (TPM)' : 'requests per min (RPM)';
    return {
      admitted: false,
      kind,
      message: exceeded(`${family} in organization ${org.id}`, unit, bucket, requested, wait, now),
      retryAfterMs: Math.max(1, Math.ceil(wait)),
      tooLarge: false,
      headers: this.headers(buckets, this.projectBucket(org, project, now), now),
    };
  }

  forgetOrg(orgId: string): void {
    const prefix = `${orgId}|`;
    for (const key of this.models.keys()) if (key.startsWith(prefix)) this.models.delete(key);
    for (const key of this.projects.keys()) if (key.startsWith(prefix)) this.projects.delete(key);
  }

  clear(): void {
    this.models.clear();
    this.projects.clear();
  }

  private bucketsFor(org: SimulatedOrg, model: string, family: string, now: number): ModelBuckets {
    // Keyed by the family so dated snapshots share their family's limit, as OpenAI does,
    // unless the org configured the exact model.
    const limitKey = org.limits?.[model] ? model : family;
    const key = `${org.id}|${limitKey}`;
    let buckets = this.models.get(key);
    if (!buckets) {
      const limits = limitsFor(org, model, family);
      buckets = {
        requests: new Bucket(limits.rpm, now),
        tokens: limits.tpm === undefined ? undefined : new Bucket(limits.tpm, now),
      };
      this.models.set(key, buckets);
    }
    return buckets;
  }

  private projectBucket(org: SimulatedOrg, project: string | undefined, now: number): Bucket | undefined {
    if (!org.projectTpm || !project) return undefined;
    const key = `${org.id}|${project}`;
    let bucket = this.projects.get(key);
    if (!bucket) {
      bucket = new Bucket(org.projectTpm, now);
      this.projects.set(key, bucket);
    }
    return bucket;
  }

  private headers(buckets: ModelBuckets, project: Bucket | undefined, now: number): Record<string, string> {
    const headers: Record<string, string> = {
      'x-ratelimit-limit-requests': String(buckets.requests.limit),
      'x-ratelimit-remaining-requests': String(Math.max(0, Math.floor(buckets.requests.available(now)))),
      'x-ratelimit-reset-requests': goDuration(buckets.requests.msUntilFull(now)),
    };
    if (buckets.tokens) {
      headers['x-ratelimit-limit-tokens'] = String(buckets.tokens.limit);
      headers['x-ratelimit-remaining-tokens'] = String(Math.max(0, Math.floor(buckets.tokens.available(now))));
      headers['x-ratelimit-reset-tokens'] = goDuration(buckets.tokens.msUntilFull(now));
    }
    if (project) {
      headers['x-ratelimit-limit-project-tokens'] = String(project.limit);
      headers['x-ratelimit-remaining-project-tokens'] = String(Math.max(0, Math.floor(project.available(now))));
      headers['x-ratelimit-reset-project-tokens'] = goDuration(project.msUntilFull(now));
    }
    return headers;
  }
}

function exceeded(where: string, unit: string, bucket: Bucket, requested: number, waitMs: number, now: number): string {
  const used = Math.max(0, Math.round(bucket.limit - bucket.available(now)));
  return (
    `Rate limit reached for ${where} on ${unit}: Limit ${bucket.limit}, Used ${used}, Requested ${requested}. ` +
    `Please try again in ${goDuration(waitMs)}. Visit https://platform.openai.com/account/rate-limits to learn more.`
  );
}
