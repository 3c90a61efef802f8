// Turns a gateway key (and an optional OpenAI-Organization header) into where the request goes:
// feature, org, base URL and the org's live upstream key. One indexed query per key, cached for
// KEY_CACHE_TTL_MS (revocations made in this process apply at once, elsewhere within the TTL plus
// at most STALE_MS). An entry that expired less than STALE_MS ago is refreshed by one query for
// all requests, which meanwhile keep using it: letting each request look the key up itself sent
// hundreds of queries at once every TTL under load, and requests queued behind them for up to
// ~400 ms (measured at 1,000 req/s). A lookup that hangs is given up after LOOKUP_TIMEOUT_MS.
//
// Postgres down: a key seen before keeps working from its entry for KEY_CACHE_OUTAGE_MS past its
// expiry (one probe per key and PROBE_MS tries the store again; the first that succeeds replaces the
// entry, so a revocation made meanwhile applies then). A key with no entry gets 503
// gateway_store_unavailable: the gateway's own store is down, not OpenAI. Hostile input stays
// bounded: a string that cannot be a Tallygate key is refused without a query, and unknown keys
// (all well-formed, so of a fixed length) are cached in their own map, bounded and swept.
import { Inject, Injectable, Logger } from '@nestjs/common';
import { Clock } from '../config/clock.js';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { OpenAIError } from '../http/openai-error.js';
import { hashGatewayKey, maskSecret } from './key-sealer.js';
import { OrgsService } from './orgs.service.js';
import { RoutesRepository, type RouteRow } from './routes.repository.js';

export interface OrgRoute {
  orgId: string;
  openaiOrgId: string;
  projectId: string | null;
  baseUrl: string;
  suspended: boolean;
  /** The newest live upstream key, in clear; null when the org has none. */
  upstreamKey: string | null;
}

export interface KeyRoutes {
  gatewayKeyId: string;
  featureId: string;
  featureSlug: string;
  defaultOrgId: string;
  monthlyBudgetNanos: number | null;
  /** Orgs this feature may use, by OpenAI org id. */
  orgs: Map<string, OrgRoute>;
  /** Revoked: refused, but known (its refusal is recorded under its feature). */
  revoked?: boolean;
}

/**
 * Whose a refused gateway key is (revoked, org not allowed or suspended, no upstream key): Tallygate
 * issued it, so the refusal still gets its ledger row under the key's feature.
 */
export interface RefusedKey {
  gatewayKeyId: string;
  featureId: string;
  /** The org the call would have gone to, when there is one. */
  orgId: string | null;
}
export type KeyRefusal = OpenAIError & { refusedKey: RefusedKey };
export const isKeyRefusal = (error: unknown): error is KeyRefusal => error instanceof OpenAIError && 'refusedKey' in error;

export interface Route {
  gatewayKeyId: string;
  featureId: string;
  featureSlug: string;
  monthlyBudgetNanos: number | null;
  org: OrgRoute;
}

interface CacheEntry {
  routes: KeyRoutes | null;
  expires: number;
  /** While the store is down: no new probe of this key before then. */
  probeAt?: number;
}

const MAX_CACHED = 50_000;
/**
 * Keys Tallygate never issued (or revoked), cached so a retrying client does not query each time.
 * Only well-formed keys get here (46 characters), so this bounds the bytes too: ~2 MB at most.
 */
const MAX_UNKNOWN = 10_000;
/** What newGatewayKey() issues: `tg-` and 32 random bytes in base64url. Nothing else can be valid. */
const GATEWAY_KEY_FORMAT = /^tg-[A-Za-z0-9_-]{43}$/;
/** During an outage, how often one key's lookup is tried again (the others keep using the cache). */
const PROBE_MS = 1_000;
/** Advised to clients refused because the store is down: a few seconds, not a hot loop. */
const STORE_RETRY_AFTER_S = '2';
/** How long after expiry an entry still answers while its refresh runs. */
const STALE_MS = 1_000;
/** A key lookup Postgres has not answered by then fails the requests waiting for it (503), and the next request tries again. */
const LOOKUP_TIMEOUT_MS = 5_000;

@Injectable()
export class RouteResolver {
  private cache = new Map<string, CacheEntry>();
  /** Keys with no routes (never issued, revoked), apart from the live ones: bounded by MAX_UNKNOWN and swept. */
  private unknown = new Map<string, CacheEntry>();
  /** Set by a lookup Postgres failed, cleared by the next that succeeds. */
  private storeDown = false;
  /** How long past its expiry an entry may still serve (stale refresh, or an outage). */
  private readonly keepMs: number;
  private readonly logger = new Logger('gateway');
  /** Lookups under way, one per key, shared by every request that needs it. */
  private readonly loading = new Map<string, Promise<KeyRoutes | null>>();
  /** Bumped on every admin change: a lookup that started before it must not cache what it read. */
  private generation = 0;

  constructor(
    private readonly routes: RoutesRepository,
    private readonly orgsService: OrgsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly clock: Clock,
  ) {
    this.keepMs = Math.max(STALE_MS, config.KEY_CACHE_OUTAGE_MS);
    orgsService.onChange(() => {
      this.generation++;
      this.cache.clear();
      this.unknown.clear();
      this.loading.clear();
    });
  }

  /**
   * Resolves or throws the OpenAI-shaped error the caller should get. Synchronous on a cache hit
   * (the common case): no await, so the request does not wait behind the microtask queue.
   */
  resolve(authorization: string | undefined, requestedOrg: string | undefined): Route | Promise<Route> {
    const key = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
    if (!key) {
      throw new OpenAIError(401, "You didn't provide an API key. Use your Tallygate gateway key as the bearer token (the SDK's apiKey).", 'invalid_request_error', 'missing_api_key');
    }
    const hit = this.cache.get(key);
    const now = this.clock.now();
    if (hit && hit.expires > now) return this.route(key, hit.routes, requestedOrg);
    return this.resolveUncached(key, hit, now, requestedOrg);
  }

  /** Entries the cache holds: live keys and unknown ones (for /metrics and tests). */
  cacheSize(): { known: number; unknown: number } {
    return { known: this.cache.size, unknown: this.unknown.size };
  }

  /** Every path but a fresh hit: expired entries, unknown and malformed keys, the store down. */
  private resolveUncached(key: string, hit: CacheEntry | undefined, now: number, requestedOrg: string | undefined): Route | Promise<Route> {
    if (!hit) {
      hit = this.unknown.get(key);
      if (hit && hit.expires > now) return this.route(key, null, requestedOrg);
      // Refused before any query: a 15 KB random "key" would otherwise cost a lookup and a cache entry.
      if (!hit && !GATEWAY_KEY_FORMAT.test(key)) return this.route(key, null, requestedOrg);
    }
    const age = hit ? now - hit.expires : Infinity;
    const outage = this.config.KEY_CACHE_OUTAGE_MS;
    if (hit && this.storeDown && age < outage) {
      // Postgres is down: answer from what we know; one request per key and PROBE_MS tries it again.
      if (now >= (hit.probeAt ?? 0)) {
        hit.probeAt = now + PROBE_MS;
        this.lookup(key).catch(() => undefined);
      }
      return this.route(key, hit.routes, requestedOrg);
    }
    const loading = this.lookup(key);
    if (hit && age < Math.min(STALE_MS, this.config.KEY_CACHE_TTL_MS)) {
      // Recently expired: refresh in the background and answer from what we know.
      loading.catch(() => undefined);
      return this.route(key, hit.routes, requestedOrg);
    }
    return loading.then(
      (routes) => this.route(key, routes, requestedOrg),
      (error: unknown) => {
        // The store failed this lookup: a key seen within the outage window still works.
        if (hit && age < outage && isStoreUnavailable(error)) return this.route(key, hit.routes, requestedOrg);
        throw error;
      },
    );
  }

  private lookup(key: string): Promise<KeyRoutes | null> {
    let loading = this.loading.get(key);
    if (!loading) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${LOOKUP_TIMEOUT_MS} ms`)), LOOKUP_TIMEOUT_MS);
      });
      const load = this.load(key).then((routes) => {
        this.storeDown = false;
        return routes;
      });
      const started: Promise<KeyRoutes | null> = Promise.race([load, timeout])
        .catch((error: unknown) => {
          if (error instanceof OpenAIError) throw error; // ours (an unreadable upstream key), not the store's
          // Said once per outage, with the cause; clients get a message without the database's details.
          if (!this.storeDown) this.logger.error(`gateway-key lookups failing, serving known keys from the cache for up to ${this.config.KEY_CACHE_OUTAGE_MS} ms past expiry: ${(error as Error).message}`);
          this.storeDown = true;
          throw storeUnavailable();
        })
        .finally(() => {
          clearTimeout(timer);
          if (this.loading.get(key) === started) this.loading.delete(key);
        });
      this.loading.set(key, (loading = started));
    }
    return loading;
  }

  private route(key: string, routes: KeyRoutes | null, requestedOrg: string | undefined): Route {
    const invalid = () => new OpenAIError(401, `Incorrect API key provided: ${maskSecret(key)}. Use a gateway key issued by Tallygate; it may have been revoked.`, 'invalid_request_error', 'invalid_api_key');
    if (!routes) throw invalid();
    const refused = (error: OpenAIError, orgId: string | null): KeyRefusal => Object.assign(error, { refusedKey: { gatewayKeyId: routes.gatewayKeyId, featureId: routes.featureId, orgId } });
    if (routes.revoked) throw refused(invalid(), routes.defaultOrgId);
    const org = requestedOrg ? routes.orgs.get(requestedOrg.trim()) : [...routes.orgs.values()].find((o) => o.orgId === routes.defaultOrgId);
    if (!org) {
      throw refused(new OpenAIError(403, `Feature ${routes.featureSlug} is not allowed to use organization ${requestedOrg}. Ask an admin to grant it, or omit the organization to use the feature's default.`, 'invalid_request_error', 'organization_not_allowed', null, false), null);
    }
    if (org.suspended) {
      throw refused(new OpenAIError(403, `Organization ${org.openaiOrgId} is suspended in Tallygate. Ask an admin to reactivate it.`, 'invalid_request_error', 'organization_suspended'), org.orgId);
    }
    if (!org.upstreamKey) {
      throw refused(new OpenAIError(503, `Organization ${org.openaiOrgId} has no live upstream API key. Ask an admin to add one.`, 'server_error', 'no_upstream_key'), org.orgId);
    }
    return { gatewayKeyId: routes.gatewayKeyId, featureId: routes.featureId, featureSlug: routes.featureSlug, monthlyBudgetNanos: routes.monthlyBudgetNanos, org };
  }

  /**
   * One indexed query; cached by the key itself (hashing on every call cost more than the lookup),
   * which is safe for memory because only well-formed, fixed-length keys reach it.
   */
  private async load(key: string): Promise<KeyRoutes | null> {
    const generation = this.generation;
    const rows = await this.routes.routesFor(hashGatewayKey(key));
    // The TTL counts from when the answer arrived, not from when the lookup started: a slow lookup
    // (a loaded database) otherwise cached an entry that was already near its expiry, or past it.
    const now = this.clock.now();
    const routes = rows.length === 0 ? null : this.toRoutes(rows);
    if (generation !== this.generation) return routes; // changed meanwhile: answer, but do not cache
    const entry = { routes, expires: now + this.config.KEY_CACHE_TTL_MS };
    // A key is in one map only: the next successful lookup moves it (a revocation applies then).
    if (routes) {
      this.unknown.delete(key);
      remember(this.cache, key, entry, MAX_CACHED, this.keepMs, now);
    } else {
      this.cache.delete(key);
      remember(this.unknown, key, entry, MAX_UNKNOWN, this.keepMs, now);
    }
    return routes;
  }

  private openKey(sealed: string, openaiOrgId: string): string {
    try {
      return this.orgsService.sealer.open(sealed);
    } catch {
      // An operator problem, not an upstream one: say so, and where to look.
      throw new OpenAIError(500, `Tallygate cannot open the upstream key of organization ${openaiOrgId}: MASTER_KEY (or MASTER_KEY_PREVIOUS during a rotation) does not match the key it was sealed with.`, 'server_error', 'upstream_key_unreadable');
    }
  }

  private toRoutes(rows: RouteRow[]): KeyRoutes {
    const first = rows[0];
    const orgs = new Map<string, OrgRoute>();
    // A revoked key needs only whose it is: its upstream keys are not opened.
    for (const row of first.revoked ? [] : rows) {
      orgs.set(row.openai_org_id, {
        orgId: row.org_id,
        openaiOrgId: row.openai_org_id,
        projectId: row.project_id,
        baseUrl: row.base_url,
        suspended: row.status !== 'active',
        upstreamKey: row.sealed ? this.openKey(row.sealed, row.openai_org_id) : null,
      });
    }
    return {
      gatewayKeyId: first.gateway_key_id,
      featureId: first.feature_id,
      featureSlug: first.slug,
      defaultOrgId: first.default_org_id,
      monthlyBudgetNanos: first.monthly_budget_nanos === null ? null : Number(first.monthly_budget_nanos),
      orgs,
      revoked: first.revoked,
    };
  }
}

/**
 * Inserts last, so the oldest entries are the first evicted; and as every entry lives the same TTL,
 * insertion order is expiry order: the expired ones are swept from the front, a few per insert.
 */
function remember(cache: Map<string, CacheEntry>, key: string, entry: CacheEntry, max: number, keepMs: number, now: number): void {
  cache.delete(key);
  for (const [oldest, old] of cache) {
    if (old.expires + keepMs > now && cache.size < max) break;
    cache.delete(oldest);
  }
  cache.set(key, entry);
}

const STORE_UNAVAILABLE = 'gateway_store_unavailable';

/** The gateway's own database failed: retryable, and said to be Tallygate's, not OpenAI's. */
function storeUnavailable(): OpenAIError {
  return new OpenAIError(
    503,
    'Tallygate could not check the API key: its own database is unavailable. This is not an OpenAI outage; retry in a few seconds.',
    'server_error',
    STORE_UNAVAILABLE,
    null,
    true,
    { 'retry-after': STORE_RETRY_AFTER_S },
  );
}

function isStoreUnavailable(error: unknown): boolean {
  return error instanceof OpenAIError && error.code === STORE_UNAVAILABLE;
}
