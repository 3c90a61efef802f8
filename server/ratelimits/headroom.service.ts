// Reads behind /api/headroom and /api/throttling: the per-minute history the ledger's rollups keep
// (so every replica answers the same), and a projection of each org's headroom to "now".
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import type { FeatureRef, Headroom, HeadroomPoint, LatestHeadroom, OrgRef, ThrottleCounts } from './headroom.types.js';
import type { LatestQuery, RangeQuery } from './ratelimits.dto.js';
import { RateLimitsRepository, type ThrottleRow } from './ratelimits.repository.js';

const num = (v: string | number | null): number | null => (v === null ? null : Number(v));
const utilisation = (limit: number | null, remaining: number | null) =>
  limit === null || remaining === null || limit <= 0 ? null : Math.min(1, Math.max(0, 1 - remaining / limit));

function headroom(limitValue: string | number | null, remainingValue: string | number | null, resetMs: number | null, observedAt: Date, now: number): Headroom | null {
  const limit = num(limitValue);
  const remaining = num(remainingValue);
  const used = utilisation(limit, remaining);
  if (limit === null || remaining === null || used === null) return null;
  const resetAt = resetMs === null ? null : observedAt.getTime() + resetMs;
  // OpenAI refills continuously: what was used is given back evenly until the reset.
  // Without a reset time there is nothing to project: report the observation as is.
  const left = resetMs === null ? 1 : resetMs === 0 ? 0 : Math.max(0, observedAt.getTime() + resetMs - now) / resetMs;
  const usedNow = used * Math.min(1, left);
  return {
    limit,
    remaining,
    resetMs,
    resetAt: resetAt === null ? null : new Date(resetAt).toISOString(),
    utilisation: used,
    utilisationNow: usedNow,
    remainingNow: Math.floor(limit * (1 - usedNow) + 1e-9),
  };
}

function orgRef(row: { org_id: string; org_name: string; openai_org_id: string }): OrgRef {
  return { id: row.org_id, name: row.org_name, openaiOrgId: row.openai_org_id };
}

function counts(row: ThrottleRow): ThrottleCounts {
  return {
    requests: row.requests,
    rateLimitRequests: row.rate_limit_requests,
    rateLimitTokens: row.rate_limit_tokens,
    requestTooLarge: row.request_too_large,
    quota: row.quota,
    paced: row.paced,
    retries: row.retries,
    throttled: row.rate_limit_requests + row.rate_limit_tokens + row.request_too_large,
  };
}

@Injectable()
export class HeadroomService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('ratelimits');
  private pruneTimer?: NodeJS.Timeout;

  constructor(
    private readonly history: RateLimitsRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.pruneTimer = setInterval(() => void this.prune(), 3_600_000);
    this.pruneTimer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.pruneTimer);
  }

  /** Deletes minutes older than RATELIMIT_HISTORY_DAYS; harmless when several replicas run it. */
  async prune(): Promise<void> {
    const days = this.config.RATELIMIT_HISTORY_DAYS;
    try {
      await this.history.prune(days);
    } catch (error) {
      this.logger.warn(`pruning rate-limit history failed: ${(error as Error).message}`);
    }
  }

  /** The newest observation per org and model (from any replica), projected to now. */
  async latest(query: Omit<LatestQuery, 'limit'>): Promise<LatestHeadroom[]> {
    const rows = await this.history.latestHeadroom(query);
    const now = Date.now();
    return rows
      .map((row) => {
        const requests = headroom(row.limit_requests, row.remaining_requests, row.reset_requests_ms, row.observed_at, now);
        const tokens = headroom(row.limit_tokens, row.remaining_tokens, row.reset_tokens_ms, row.observed_at, now);
        const projectTokens = headroom(row.limit_project_tokens, row.remaining_project_tokens, row.reset_project_tokens_ms, row.observed_at, now);
        return {
          org: orgRef(row),
          model: row.model,
          observedAt: row.observed_at.toISOString(),
          requests,
          tokens,
          projectTokens,
          utilisationNow: Math.max(requests?.utilisationNow ?? 0, tokens?.utilisationNow ?? 0, projectTokens?.utilisationNow ?? 0),
        };
      })
      .sort((a, b) => a.org.name.localeCompare(b.org.name) || a.model.localeCompare(b.model));
  }

  /** Org and model pairs sorted by how little room they have now. */
  async closest(query: LatestQuery): Promise<LatestHeadroom[]> {
    const all = await this.latest(query);
    return all.sort((a, b) => b.utilisationNow - a.utilisationNow).slice(0, query.limit);
  }

  /** The oldest minute kept (RATELIMIT_HISTORY_DAYS prunes older ones), for "history since …"; null when none. */
  async historySince(): Promise<string | null> {
    const since = await this.history.oldestMinute();
    return since ? since.toISOString() : null;
  }

  async series(query: RangeQuery): Promise<Array<{ org: OrgRef; model: string; points: HeadroomPoint[] }>> {
    const rows = await this.history.headroomSeries(query);
    const series = new Map<string, { org: OrgRef; model: string; points: HeadroomPoint[] }>();
    for (const row of rows) {
      const key = `${row.org_id}|${row.model}`;
      let entry = series.get(key);
      if (!entry) series.set(key, (entry = { org: orgRef(row), model: row.model, points: [] }));
      entry.points.push({
        minute: row.minute.toISOString(),
        observedAt: row.observed_at.toISOString(),
        requestsUtilisation: utilisation(row.limit_requests, row.remaining_requests),
        tokensUtilisation: utilisation(num(row.limit_tokens), num(row.remaining_tokens)),
        projectTokensUtilisation: utilisation(num(row.limit_project_tokens), num(row.remaining_project_tokens)),
        peakRequestsUtilisation: utilisation(row.limit_requests, row.min_remaining_requests),
        peakTokensUtilisation: utilisation(num(row.limit_tokens), num(row.min_remaining_tokens)),
        limitRequests: row.limit_requests,
        remainingRequests: row.remaining_requests,
        limitTokens: num(row.limit_tokens),
        remainingTokens: num(row.remaining_tokens),
        observations: row.observations,
      });
    }
    return [...series.values()];
  }

  async throttlingSeries(query: RangeQuery): Promise<Array<{ org: OrgRef; feature: FeatureRef; model: string | null; points: Array<{ minute: string } & ThrottleCounts> }>> {
    const rows = await this.history.throttlingSeries(query);
    const series = new Map<string, { org: OrgRef; feature: FeatureRef; model: string | null; points: Array<{ minute: string } & ThrottleCounts> }>();
    for (const row of rows) {
      const key = `${row.org_id}|${row.feature_id}|${row.model}`;
      let entry = series.get(key);
      if (!entry) {
        series.set(key, (entry = { org: orgRef(row), feature: { id: row.feature_id, slug: row.feature_slug }, model: row.model, points: [] }));
      }
      entry.points.push({ minute: row.minute!.toISOString(), ...counts(row) });
    }
    return [...series.values()];
  }

  /** Totals per feature and org over the range, most throttled first. */
  async throttlingSummary(query: RangeQuery): Promise<Array<{ org: OrgRef; feature: FeatureRef } & ThrottleCounts & { throttleRate: number }>> {
    const rows = await this.history.throttlingSummary(query);
    return rows
      .map((row) => {
        const c = counts(row);
        return { org: orgRef(row), feature: { id: row.feature_id, slug: row.feature_slug }, ...c, throttleRate: c.requests ? c.throttled / c.requests : 0 };
      })
      .sort((a, b) => b.throttled - a.throttled || b.quota - a.quota || (a.feature.slug ?? '').localeCompare(b.feature.slug ?? ''));
  }
}
