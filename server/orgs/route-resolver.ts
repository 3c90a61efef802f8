// Turns a gateway key (and an optional OpenAI-Organization header) into where the request goes:
// feature, org, base URL and the org's live upstream key. One indexed query per key, cached for
// KEY_CACHE_TTL_MS (revocations made in this process apply at once, elsewhere within the TTL plus
// at most STALE_MS). An entry that expired less than STALE_MS ago is refreshed by one query for
// all requests, which meanwhile keep using it: letting each request look the key up itself sent
// hundreds of queries at once every TTL under load, and requests queued behind them for up to
// ~400 ms (measured at 1,000 req/s). A lookup that hangs is given up after LOOKUP_TIMEOUT_MS.
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { OpenAIError } from '../http/openai-error.js';
import { hashGatewayKey, maskSecret } from './key-sealer.js';
import { OrgsService } from './orgs.service.js';

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
}

interface RouteRow {
  gateway_key_id: string;
  revoked: boolean;
  feature_id: string;
  slug: string;
  default_org_id: string;
  monthly_budget_nanos: string | null;
  org_id: string;
  openai_org_id: string;
  project_id: string | null;
  base_url: string;
  status: string;
  sealed: string | null;
}

const ROUTES_SQL = `
  SELECT gk.id AS gateway_key_id, gk.revoked_at IS NOT NULL AS revoked, f.id AS feature_id, f.slug,
         f.default_org_id, f.monthly_budget_nanos, o.id AS org_id, o.openai_org_id, o.project_id,
         o.base_url, o.status,
         (SELECT u.sealed FROM upstream_keys u WHERE u.org_id = o.id AND u.revoked_at IS NULL
           ORDER BY u.created_at DESC LIMIT 1) AS sealed
  FROM gateway_keys gk
  JOIN features f ON f.id = gk.feature_id
  JOIN orgs o ON o.id = f.default_org_id
    OR o.id IN (SELECT fo.org_id FROM feature_orgs fo WHERE fo.feature_id = f.id)
  WHERE gk.key_hash = $1`;

const MAX_CACHED = 50_000;
/** How long after expiry an entry still answers while its refresh runs. */
const STALE_MS = 1_000;
/** A key lookup Postgres has not answered by then fails the requests waiting for it (503), and the next request tries again. */
const LOOKUP_TIMEOUT_MS = 5_000;

@Injectable()
export class RouteResolver {
  private cache = new Map<string, CacheEntry>();
  /** Lookups under way, one per key, shared by every request that needs it. */
  private readonly loading = new Map<string, Promise<KeyRoutes | null>>();
  /** Bumped on every admin change: a lookup that started before it must not cache what it read. */
  private generation = 0;

  constructor(
    private readonly dataSource: DataSource,
    private readonly orgsService: OrgsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    orgsService.onChange(() => {
      this.generation++;
      this.cache.clear();
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
    const now = Date.now();
    if (hit && hit.expires > now) return this.route(key, hit.routes, requestedOrg);
    const loading = this.lookup(key);
    if (hit && now - hit.expires < Math.min(STALE_MS, this.config.KEY_CACHE_TTL_MS)) {
      // Recently expired: refresh in the background and answer from what we know.
      loading.catch(() => undefined);
      return this.route(key, hit.routes, requestedOrg);
    }
    return loading.then((routes) => this.route(key, routes, requestedOrg));
  }

  private lookup(key: string): Promise<KeyRoutes | null> {
    let loading = this.loading.get(key);
    if (!loading) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new OpenAIError(503, 'Tallygate could not check the API key in time (its database is slow or unreachable). Try again shortly.', 'server_error', 'key_lookup_timeout', null, true)),
          LOOKUP_TIMEOUT_MS,
        );
      });
      const started: Promise<KeyRoutes | null> = Promise.race([this.load(key), timeout]).finally(() => {
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

  /** One indexed query; cached by the key itself (hashing on every call cost more than the lookup). */
  private async load(key: string): Promise<KeyRoutes | null> {
    const now = Date.now();
    const generation = this.generation;
    const rows = (await this.dataSource.query(ROUTES_SQL, [hashGatewayKey(key)])) as RouteRow[];
    const routes = rows.length === 0 ? null : this.toRoutes(rows);
    if (generation !== this.generation) return routes; // changed meanwhile: answer, but do not cache
    this.cache.delete(key); // re-inserted last: the oldest entries are the first evicted
    if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, { routes, expires: now + this.config.KEY_CACHE_TTL_MS });
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
