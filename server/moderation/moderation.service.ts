// Moderation policies per feature (kept in memory for the hot path, refreshed from Postgres) and the
// dashboard's view of what was flagged where.
import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { Principal } from '../auth/access.guard.js';
import { AuditService } from '../auth/audit.service.js';
import type { ModerationPolicyInput, ModerationPolicyView, ModerationQuery, ModerationSummary } from '../contract/moderation.js';
import { OpenAIError } from '../http/openai-error.js';
import { OrgsService } from '../orgs/orgs.service.js';
import { SharedState } from '../shared-state/shared-state.js';
import { ModerationRepository } from './moderation.repository.js';
import { CATEGORIES, thresholdOf, type ModerationPolicy } from './policy.js';

/** How often each replica re-reads policies changed elsewhere (a change made here applies at once). */
const REFRESH_MS = 15_000;
const RECENT_LIMIT = 50;
const CHANGED = 'moderation-changed';

@Injectable()
export class ModerationService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('moderation');
  private policies = new Map<string, ModerationPolicy>();
  private timer?: ReturnType<typeof setInterval>;

  constructor(
    private readonly repository: ModerationRepository,
    private readonly orgs: OrgsService,
    private readonly audit: AuditService,
    private readonly shared: SharedState,
  ) {}

  async onModuleInit(): Promise<void> {
    // A policy changed on another replica applies here at once (with Redis), else on the next refresh.
    this.shared.subscribe(CHANGED, (from) => {
      if (from !== this.shared.replicaId) void this.refresh().catch(() => undefined);
    });
    await this.refresh().catch((error: Error) => this.logger.warn(`moderation policies not loaded yet (${error.message}); retrying every ${REFRESH_MS / 1000} s`));
    this.timer = setInterval(() => void this.refresh().catch(() => undefined), REFRESH_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    const list = await this.repository.listPolicies();
    this.policies = new Map(list.map((p) => [p.featureId, p]));
  }

  /** The feature's policy, from memory: one Map lookup on the hot path. */
  policyOf(featureId: string): ModerationPolicy | undefined {
    return this.policies.get(featureId);
  }

  async list(): Promise<ModerationPolicyView[]> {
    const features = await this.orgs.listFeatures();
    return features.map((f) => view(f, this.policies.get(f.id)));
  }

  async get(featureRef: string): Promise<ModerationPolicyView> {
    const feature = await this.orgs.findFeature(featureRef);
    return view(feature, this.policies.get(feature.id));
  }

  async set(featureRef: string, input: ModerationPolicyInput, actor: Principal | string, ip?: string): Promise<ModerationPolicyView> {
    const feature = await this.orgs.findFeature(featureRef);
    const before = this.policies.get(feature.id);
    const saved = await this.repository.upsertPolicy({ featureId: feature.id, ...input });
    this.policies.set(feature.id, saved);
    this.shared.publish(CHANGED, this.shared.replicaId);
    await this.audit.record(actor, {
      action: 'moderation_policy.set',
      targetType: 'feature',
      targetId: feature.id,
      details: { feature: feature.slug, before: before ? summary(before) : null, after: summary(saved) },
    }, ip);
    return view(feature, saved);
  }

  async remove(featureRef: string, actor: Principal | string, ip?: string): Promise<ModerationPolicyView> {
    const feature = await this.orgs.findFeature(featureRef);
    if (!(await this.repository.deletePolicy(feature.id))) throw new OpenAIError(404, `Feature ${feature.slug} has no moderation policy.`, 'invalid_request_error', 'not_found');
    this.policies.delete(feature.id);
    this.shared.publish(CHANGED, this.shared.replicaId);
    await this.audit.record(actor, { action: 'moderation_policy.remove', targetType: 'feature', targetId: feature.id, details: { feature: feature.slug } }, ip);
    return view(feature, undefined);
  }

  async summary(query: ModerationQuery): Promise<ModerationSummary> {
    const from = new Date(query.from);
    const to = new Date(query.to);
    if (!(from < to)) throw new OpenAIError(400, '`from` must be before `to`.', 'invalid_request_error', 'invalid_range', 'from');
    if (!isZone(query.zone)) throw new OpenAIError(400, `Unknown time zone ${query.zone}: use an IANA name such as Europe/Paris.`, 'invalid_request_error', 'invalid_zone', 'zone');
    const featureIds = query.feature ? await Promise.all(query.feature.split(',').map(async (ref) => (await this.orgs.findFeature(ref.trim())).id)) : null;
    const [buckets, series, recent, guardrailLatency, policies] = await Promise.all([
      this.repository.buckets(from, to, query.bucket, query.zone),
      this.repository.flaggedSeries(from, to, query.bucket, query.zone, featureIds),
      this.repository.recentGuardrailEvents(from, to, featureIds, ['blocked', 'flagged', 'failed_open', 'failed_closed'], RECENT_LIMIT),
      this.repository.guardrailLatency(from, to, featureIds),
      this.list(),
    ]);
    return { from: from.toISOString(), to: to.toISOString(), bucket: query.bucket, buckets, categories: [...CATEGORIES], series, policies, guardrailLatency, recent };
  }
}

function view(feature: { id: string; slug: string; name: string }, policy: ModerationPolicy | undefined): ModerationPolicyView {
  const p = policy ?? { preset: 'default' as const, thresholds: {}, guardrail: 'off' as const, failMode: 'open' as const, timeoutMs: 2_000, storeInputs: false, updatedAt: undefined };
  const effective: Record<string, number | null> = {};
  for (const category of CATEGORIES) effective[category] = thresholdOf(p, category) ?? null;
  return {
    featureId: feature.id,
    featureSlug: feature.slug,
    featureName: feature.name,
    preset: p.preset,
    thresholds: p.thresholds,
    effective,
    guardrail: p.guardrail,
    failMode: p.failMode,
    timeoutMs: p.timeoutMs,
    storeInputs: p.storeInputs,
    updatedAt: p.updatedAt ?? null,
  };
}

const summary = (p: ModerationPolicy) => ({ preset: p.preset, thresholds: p.thresholds, guardrail: p.guardrail, failMode: p.failMode, timeoutMs: p.timeoutMs, storeInputs: p.storeInputs });

function isZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
