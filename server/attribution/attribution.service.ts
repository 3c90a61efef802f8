// Attribution's state and rules: the declared tags, each feature's default and required tags, and
// the values admitted per tag this UTC month (the cardinality caps). The gateway's hook reads it all
// from memory; it is reloaded from Postgres at start, after each change here and every
// ATTRIBUTION_REFRESH_MS (other replicas' changes), so the hot path never waits on the database.
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { AuditService } from '../auth/audit.service.js';
import type { Principal } from '../auth/access.guard.js';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import type { DeclareTag, FeatureAttribution, FeatureAttributionInput, TagDeclaration, UpdateTag } from '../contract/attribution.js';
import { TAG_VALUE_MAX } from '../ledger/bounds.js';
import { badRequest, conflict, notFound } from '../http/openai-error.js';
import { AttributionRepository, type TagRow } from './attribution.repository.js';

/** Who changes a setting, for the audit log. */
export interface AttributionActor {
  principal: Principal | string;
  ip?: string;
}

/** The values one tag was given this month; `limit` of them at most, the rest are "other". */
interface Admitted {
  limit: number;
  values: Set<string>;
}

export interface FeatureTagRules {
  defaultTags: Record<string, string>;
  /** Names of the default tags, precomputed: the hook applies them without Object.entries per call. */
  defaultNames: string[];
  requiredTags: string[];
}

/** The end user's key in the admitted map and the tag rollups (no tag name is empty). */
export const END_USER_TAG = '';

/** Admitted values are reread every this many reloads (with ATTRIBUTION_REFRESH_MS at 30 s: every 5 minutes). */
const VALUES_EVERY = 10;

const monthOf = (at: Date) => at.getUTCFullYear() * 12 + at.getUTCMonth();

@Injectable()
export class AttributionService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('attribution');
  private declared = new Map<string, { maxValues: number; maxLength: number }>();
  private features = new Map<string, FeatureTagRules>();
  private admitted = new Map<string, Admitted>();
  private month = monthOf(new Date());
  private timer?: NodeJS.Timeout;
  private reloads = 0;
  /** The month whose admitted values were last read from the rollup. */
  private valuesMonth = -1;
  /** True once any tag is declared or any feature has tag rules: until then the hook only scans headers. */
  configured = false;

  constructor(
    private readonly repository: AttributionRepository,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.reload();
    if (this.config.ATTRIBUTION_REFRESH_MS > 0) {
      this.timer = setInterval(() => void this.reload().catch((e: Error) => this.logger.warn(`reload failed (${e.message}); keeping the last settings`)), this.config.ATTRIBUTION_REFRESH_MS);
      this.timer.unref();
    }
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /**
   * Rereads declarations and feature rules; and this month's admitted values (merged with what this
   * process admitted since) at start, at a new month and every VALUES_EVERY reloads: that read
   * aggregates the month of the daily tag rollup (~600k rows at the 10M-event benchmark's scale).
   */
  async reload(): Promise<void> {
    const [tags, features] = await Promise.all([this.repository.tags(), this.repository.featureSettings()]);
    this.declared = new Map(tags.map((t) => [t.name, { maxValues: t.max_values, maxLength: t.max_length }]));
    this.features = new Map(
      features.map((f) => [f.feature_id, { defaultTags: f.default_tags, defaultNames: Object.keys(f.default_tags), requiredTags: f.required_tags }]),
    );
    this.configured = this.declared.size > 0 || this.features.size > 0;
    const now = new Date();
    if (monthOf(now) !== this.month) this.resetMonth(monthOf(now));
    for (const [name, entry] of this.admitted) entry.limit = this.limitOf(name);
    if (this.reloads++ % VALUES_EVERY !== 0 && this.valuesMonth === this.month) return;
    this.valuesMonth = this.month;
    const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    const rows = await this.repository.admittedValues(start, {
      names: tags.map((t) => t.name),
      limits: tags.map((t) => t.max_values),
      fallback: this.config.ATTRIBUTION_MAX_VALUES,
      endUsers: this.config.ATTRIBUTION_MAX_END_USERS,
    });
    for (const row of rows) this.entry(row.tag)?.values.add(row.value);
  }

  private resetMonth(month: number): void {
    this.month = month;
    this.admitted.clear();
  }

  private limitOf(name: string): number {
    return name === END_USER_TAG ? this.config.ATTRIBUTION_MAX_END_USERS : (this.declared.get(name)?.maxValues ?? this.config.ATTRIBUTION_MAX_VALUES);
  }

  /** The state of one tag; undefined past ATTRIBUTION_MAX_TAG_NAMES names (the tag is then dropped). */
  private entry(name: string): Admitted | undefined {
    let entry = this.admitted.get(name);
    if (entry) return entry;
    if (name !== END_USER_TAG && this.admitted.size >= this.config.ATTRIBUTION_MAX_TAG_NAMES + 1) return undefined; // + 1: the end user
    this.admitted.set(name, (entry = { limit: this.limitOf(name), values: new Set() }));
    return entry;
  }

  /**
   * The value to record for a tag on a call made at `at`: the value itself while the tag has fewer
   * than its cap of values this month (or already has this one), null ("other") past it, undefined
   * when the tag cannot be kept at all (too many tag names). Memory is bounded by names x caps.
   */
  admit(name: string, value: string, at: Date): string | null | undefined {
    const month = at.getUTCFullYear() * 12 + at.getUTCMonth();
    if (month !== this.month) this.resetMonth(month);
    const entry = this.entry(name);
    if (!entry) return undefined;
    if (entry.values.has(value)) return value;
    if (entry.values.size >= entry.limit) return null;
    entry.values.add(value);
    return value;
  }

  /** The longest value kept for a tag (declared, or the ledger's bound). */
  maxLength(name: string): number {
    return this.declared.get(name)?.maxLength ?? TAG_VALUE_MAX;
  }

  isDeclared(name: string): boolean {
    return this.declared.has(name);
  }

  featureRules(featureId: string): FeatureTagRules | undefined {
    return this.features.get(featureId);
  }

  // Admin: declarations.

  async listTags(): Promise<TagDeclaration[]> {
    return (await this.repository.tags()).map((t) => this.view(t));
  }

  async declareTag(input: DeclareTag, actor: AttributionActor): Promise<TagDeclaration> {
    const row = await this.repository.insertTag({
      name: input.name,
      description: input.description,
      maxValues: input.maxValues ?? this.config.ATTRIBUTION_MAX_VALUES,
      maxLength: input.maxLength,
    });
    if (!row) throw conflict(`The tag "${input.name}" is already declared: change it with PATCH /api/admin/tags/${input.name}.`, 'name');
    await this.audit.record(actor.principal, { action: 'tag.declare', targetType: 'tag', targetId: row.name, details: { maxValues: row.max_values, maxLength: row.max_length } }, actor.ip);
    await this.reload();
    return this.view(row);
  }

  async updateTag(name: string, patch: UpdateTag, actor: AttributionActor): Promise<TagDeclaration> {
    const row = await this.repository.updateTag(name, patch);
    if (!row) throw notFound(`No declared tag "${name}": declare it with POST /api/admin/tags.`);
    await this.audit.record(actor.principal, { action: 'tag.update', targetType: 'tag', targetId: name, details: patch }, actor.ip);
    await this.reload();
    return this.view(row);
  }

  async removeTag(name: string, actor: AttributionActor): Promise<{ removed: string }> {
    if (!(await this.repository.deleteTag(name))) throw notFound(`No declared tag "${name}".`);
    await this.audit.record(actor.principal, { action: 'tag.remove', targetType: 'tag', targetId: name }, actor.ip);
    await this.reload();
    return { removed: name };
  }

  private view(t: TagRow): TagDeclaration {
    return {
      name: t.name,
      description: t.description,
      maxValues: t.max_values,
      maxLength: t.max_length,
      valuesThisMonth: this.admitted.get(t.name)?.values.size ?? 0,
      createdAt: t.created_at.toISOString(),
      updatedAt: t.updated_at.toISOString(),
    };
  }

  // Admin: features.

  async featureAttribution(feature: string): Promise<FeatureAttribution> {
    const found = await this.repository.featureExists(feature);
    if (!found) throw notFound(`No feature "${feature}": use a feature id or slug.`);
    const rules = this.features.get(found.id);
    return { featureId: found.id, defaultTags: rules?.defaultTags ?? {}, requiredTags: rules?.requiredTags ?? [] };
  }

  async setFeatureAttribution(feature: string, input: FeatureAttributionInput, actor: AttributionActor): Promise<FeatureAttribution> {
    const found = await this.repository.featureExists(feature);
    if (!found) throw notFound(`No feature "${feature}": use a feature id or slug.`);
    for (const [name, value] of Object.entries(input.defaultTags)) {
      const max = this.maxLength(name);
      if (value.length > max) throw badRequest(`defaultTags.${name}: the tag "${name}" keeps values of at most ${max} characters.`, `defaultTags.${name}`);
    }
    const requiredTags = [...new Set(input.requiredTags)];
    const row = await this.repository.upsertFeatureSettings(found.id, input.defaultTags, requiredTags);
    await this.audit.record(actor.principal, { action: 'feature.attribution', targetType: 'feature', targetId: found.id, details: { defaultTags: input.defaultTags, requiredTags } }, actor.ip);
    await this.reload();
    return { featureId: row.feature_id, defaultTags: row.default_tags, requiredTags: row.required_tags };
  }
}
