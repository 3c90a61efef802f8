// Pacing shared by every replica through Redis: one estimate of each OpenAI bucket (requests and
// tokens, per org and model family) that all replicas take from atomically (a Lua script per take
// and per release, on Redis's own clock), so N replicas together send no more than the headers
// allow, where N local pacers would each send up to the limit. Same model as the local Pacer
// (pacer.ts): the last remaining value refilled at the rate the headers imply, minus what is in
// flight. A waiting request polls its lane until there is room or its wait bound is reached; the
// order between replicas is not strictly FIFO. Costs one Redis round trip per paced request
// (two with the release); used only for paced orgs and only while Redis answers.
import type { Redis } from 'ioredis';
import { PaceRefusedError, type PaceRefusal } from './pacer.js';
import type { RateLimitSnapshot } from '../ledger/rate-limit-snapshot.js';

export interface SharedTicket {
  readonly shared: true;
  readonly key: string;
  readonly tokens: number;
  readonly waitedMs: number;
}

const SAFETY_MS = 25;
/** A lane no replica touched for this long is forgotten (its next request probes again). */
const LANE_TTL_MS = 600_000;
/** How often a request waiting for the first answer of a lane (the probe) looks again. */
const PROBE_POLL_MS = 50;

// Fields: known, inf (requests in flight), inft (tokens in flight), obs (newest observation applied),
// and per bucket b in {r, t}: bl (limit), bv (level), ba (at, ms), bp (refill per ms).
const PRELUDE = `
local function now_ms() local t = redis.call('TIME') return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) end
local function num(v) return tonumber(v) or 0 end
local h = {}
local raw = redis.call('HGETALL', KEYS[1])
for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
local now = now_ms()
local function refill(b)
  local limit = tonumber(h[b .. 'l'])
  if not limit then return nil end
  local level = num(h[b .. 'v']) + math.max(0, now - num(h[b .. 'a'])) * num(h[b .. 'p'])
  if level > limit then level = limit end
  h[b .. 'v'] = level
  h[b .. 'a'] = now
  return level
end
local function save()
  local out = {}
  for k, v in pairs(h) do out[#out + 1] = k; out[#out + 1] = tostring(v) end
  redis.call('HSET', KEYS[1], unpack(out))
  redis.call('PEXPIRE', KEYS[1], ${LANE_TTL_MS})
end
`;

/** ARGV: tokens. Returns {wait ms (0: taken, -1: wait for the probe), tokens taken}. */
const TAKE = `${PRELUDE}
local tokens = tonumber(ARGV[1])
if h.known ~= '1' then
  if num(h.inf) > 0 then return {-1, 0} end
  h.inf = num(h.inf) + 1
  h.inft = num(h.inft) + tokens
  save()
  return {0, tokens}
end
local r = refill('r')
local t = refill('t')
local limitT = tonumber(h.tl)
if limitT and tokens > limitT then tokens = 0 end
local wait = 0
if r and r < 1 then wait = math.max(wait, math.ceil((1 - r) / math.max(num(h.rp), 1e-9)) + ${SAFETY_MS}) end
if t and t < tokens then wait = math.max(wait, math.ceil((tokens - t) / math.max(num(h.tp), 1e-9)) + ${SAFETY_MS}) end
if wait > 0 then save() return {wait, 0} end
if r then h.rv = r - 1 end
if t then h.tv = t - tokens end
h.inf = num(h.inf) + 1
h.inft = num(h.inft) + tokens
save()
return {0, tokens}
`;

/**
 * ARGV: tokens, observedAt, responded (0/1), then limit/remaining/reset for requests and tokens
 * ('' when absent). The newest observation across replicas resets the estimate.
 */
const RELEASE = `${PRELUDE}
h.inf = math.max(0, num(h.inf) - 1)
h.inft = math.max(0, num(h.inft) - tonumber(ARGV[1]))
local observed = tonumber(ARGV[2])
local function update(b, limit, remaining, reset, unconfirmed)
  limit = tonumber(limit) remaining = tonumber(remaining) reset = tonumber(reset)
  if not limit or not remaining or limit <= 0 then return end
  local per
  if reset and reset > 0 and remaining < limit then per = (limit - remaining) / reset
  elseif tonumber(h[b .. 'l']) == limit and h[b .. 'p'] then per = tonumber(h[b .. 'p'])
  else per = limit / 60000 end
  -- Answers from several replicas arrive out of order: headers read later may describe the
  -- upstream earlier. An observation may lower the estimate, never raise it above what the
  -- estimate refilled to since (the refill rate catches up on the pessimism); a changed limit resets it.
  local level = remaining - unconfirmed
  if tonumber(h[b .. 'l']) == limit then
    local current = refill(b)
    if current and current < level then level = current end
  end
  h[b .. 'l'] = limit h[b .. 'v'] = level h[b .. 'a'] = now h[b .. 'p'] = per
end
if (ARGV[4] ~= '' or ARGV[7] ~= '') and observed >= num(h.obs) then
  h.obs = observed
  h.known = '1'
  update('r', ARGV[4], ARGV[5], ARGV[6], num(h.inf))
  update('t', ARGV[7], ARGV[8], ARGV[9], num(h.inft))
elseif ARGV[3] == '1' and h.known ~= '1' then
  h.known = '1'
end
save()
return 1
`;

type Commands = Redis & {
  tallygateTake(key: string, tokens: number): Promise<[number, number]>;
  tallygateRelease(key: string, ...args: Array<string | number>): Promise<number>;
};

export class SharedPacer {
  /** Requests waiting here per lane, against PACING_MAX_QUEUE. */
  private readonly waiting = new Map<string, number>();

  constructor(
    private readonly options: { maxWaitMs: number; maxQueue: number; prefix: string },
  ) {}

  private commands(redis: Redis): Commands {
    const r = redis as Commands;
    if (!r.tallygateTake) {
      redis.defineCommand('tallygateTake', { numberOfKeys: 1, lua: TAKE });
      redis.defineCommand('tallygateRelease', { numberOfKeys: 1, lua: RELEASE });
    }
    return r;
  }

  async acquire(redis: Redis, lane: string, tokens: number): Promise<SharedTicket> {
    const key = `${this.options.prefix}pace:${lane}`;
    const commands = this.commands(redis);
    const started = Date.now();
    let [wait, taken] = await commands.tallygateTake(key, tokens);
    if (wait === 0) return { shared: true, key, tokens: taken, waitedMs: 0 };
    const queued = this.waiting.get(lane) ?? 0;
    if (queued >= this.options.maxQueue) throw new PaceRefusedError(refusal(wait, 'queue_full'));
    if (wait > this.options.maxWaitMs) throw new PaceRefusedError(refusal(wait, 'wait_too_long'));
    this.waiting.set(lane, queued + 1);
    try {
      for (;;) {
        const left = this.options.maxWaitMs - (Date.now() - started);
        if (left <= 0 || (wait > 0 && wait > left)) throw new PaceRefusedError(refusal(wait > 0 ? wait : 1_000, 'timed_out'));
        await new Promise((resolve) => setTimeout(resolve, wait > 0 ? wait : PROBE_POLL_MS).unref());
        [wait, taken] = await commands.tallygateTake(key, tokens);
        if (wait === 0) return { shared: true, key, tokens: taken, waitedMs: Date.now() - started };
      }
    } finally {
      const n = (this.waiting.get(lane) ?? 1) - 1;
      if (n > 0) this.waiting.set(lane, n);
      else this.waiting.delete(lane);
    }
  }

  release(redis: Redis, ticket: SharedTicket, limits: RateLimitSnapshot | undefined, observedAt: number, responded: boolean): Promise<number> {
    const v = (n: number | undefined) => (n === undefined ? '' : n);
    return this.commands(redis).tallygateRelease(
      ticket.key,
      ticket.tokens,
      observedAt,
      responded ? 1 : 0,
      v(limits?.limitRequests),
      v(limits?.remainingRequests),
      v(limits?.resetRequestsMs),
      v(limits?.limitTokens),
      v(limits?.remainingTokens),
      v(limits?.resetTokensMs),
    );
  }

  queued(): number {
    let total = 0;
    for (const n of this.waiting.values()) total += n;
    return total;
  }
}

function refusal(waitMs: number, reason: PaceRefusal['reason']): PaceRefusal {
  return { resource: 'requests', reason, retryAfterMs: Math.max(1, waitMs) };
}
