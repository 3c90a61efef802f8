// Organizations, their upstream keys, features and gateway keys: the admin operations behind
// both the CLI and /api/admin. Secrets go in once and only their masked form comes back out.
import { Inject, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, In, IsNull, Repository } from 'typeorm';
import type { Principal } from '../auth/principal.js';
import { AuditService, type AuditEntry } from '../auth/audit.service.js';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { conflict, notFound } from '../http/openai-error.js';
import { OrgAdminKey } from './admin-key.entity.js';
import { Feature, FeatureOrg } from './feature.entity.js';
import { GatewayKey } from './gateway-key.entity.js';
import { hashGatewayKey, KeySealer, maskSecret, newGatewayKey } from './key-sealer.js';
import { Org } from './org.entity.js';
import type { CreateFeature, CreateOrg, UpdateFeature, UpdateOrg } from './orgs.dto.js';
import { UpstreamKey } from './upstream-key.entity.js';

export interface OrgView extends Org {
  upstreamKeys: UpstreamKey[];
  /** The admin key reconciliation reads OpenAI's usage and costs with, masked; null: reconciliation is off. */
  adminKey: AdminKeyStatus | null;
}
export type AdminKeyStatus = Pick<OrgAdminKey, 'masked' | 'createdAt' | 'rotatedAt'>;
export interface FeatureView extends Feature {
  grantedOrgIds: string[];
}
export interface IssuedGatewayKey {
  /** Shown once; only its hash is stored. */
  key: string;
  record: GatewayKey;
}

/** Who makes a change, for the audit log: a signed-in caller, or a named tool ('cli', 'demo'). */
export interface Actor {
  principal: Principal | string;
  ip?: string;
}
const SYSTEM: Actor = { principal: 'system' };

const UNIQUE_VIOLATION = '23505';
const usdToNanos = (usd: number | null | undefined) => (usd === undefined ? undefined : usd === null ? null : Math.round(usd * 1e9));

@Injectable()
export class OrgsService {
  readonly sealer: KeySealer;
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly dataSource: DataSource,
    @InjectRepository(Org) private readonly orgs: Repository<Org>,
    @InjectRepository(UpstreamKey) private readonly upstreamKeys: Repository<UpstreamKey>,
    @InjectRepository(Feature) private readonly features: Repository<Feature>,
    @InjectRepository(FeatureOrg) private readonly featureOrgs: Repository<FeatureOrg>,
    @InjectRepository(GatewayKey) private readonly gatewayKeys: Repository<GatewayKey>,
    @InjectRepository(OrgAdminKey) private readonly adminKeys: Repository<OrgAdminKey>,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.sealer = new KeySealer(config.MASTER_KEY, config.MASTER_KEY_PREVIOUS);
  }

  /** Lets the gateway drop cached routes as soon as an admin change is made in this process. */
  onChange(listener: () => void): void {
    this.listeners.add(listener);
  }
  /** A change made on another replica (see ChangeNotices): drop cached routes, nothing to audit here. */
  applyRemoteChange(): void {
    for (const listener of this.listeners) listener();
  }

  /** Every change: drop cached routes, and record who did what (never a secret: keys only masked). */
  private async changed(actor: Actor, entry: AuditEntry): Promise<void> {
    for (const listener of this.listeners) listener();
    await this.audit.record(actor.principal, entry, actor.ip);
  }

  async listOrgs(): Promise<OrgView[]> {
    const [orgs, keys, adminKeys] = await Promise.all([
      this.orgs.find({ order: { name: 'ASC' } }),
      this.upstreamKeys.find({ order: { createdAt: 'DESC' } }),
      this.adminKeys.find(),
    ]);
    const adminKeyOf = (orgId: string) => adminKeys.find((k) => k.orgId === orgId);
    return orgs.map((org) => ({ ...org, upstreamKeys: keys.filter((k) => k.orgId === org.id), adminKey: adminKeyStatus(adminKeyOf(org.id)) }));
  }

  async getOrg(id: string): Promise<OrgView> {
    const org = await this.orgs.findOneBy({ id });
    if (!org) throw notFound(`No organization with id ${id}.`);
    const [upstreamKeys, adminKey] = await Promise.all([
      this.upstreamKeys.find({ where: { orgId: id }, order: { createdAt: 'DESC' } }),
      this.adminKeys.findOneBy({ orgId: id }),
    ]);
    return { ...org, upstreamKeys, adminKey: adminKeyStatus(adminKey) };
  }

  /** Finds an org by its id, its name or its OpenAI org id (handy on the command line). */
  async findOrg(ref: string): Promise<Org> {
    const isUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(ref);
    const org = await this.orgs.findOne({ where: [...(isUuid ? [{ id: ref }] : []), { name: ref }, { openaiOrgId: ref }] });
    if (!org) throw notFound(`No organization named or with id ${ref}.`);
    return org;
  }

  async createOrg(input: CreateOrg, actor = SYSTEM): Promise<OrgView> {
    const id = await this.unique(`An organization with that name or OpenAI org id already exists.`, () =>
      this.dataSource.transaction(async (tx) => {
        const org = await tx.getRepository(Org).save(
          tx.getRepository(Org).create({
            name: input.name,
            openaiOrgId: input.openaiOrgId,
            projectId: input.projectId ?? null,
            baseUrl: input.baseUrl ?? 'https://api.openai.com/v1',
            status: 'active',
          }),
        );
        if (input.apiKey) await tx.getRepository(UpstreamKey).insert(this.sealedKey(org.id, input.apiKey, input.keyLabel));
        return org.id;
      }),
    );
    const org = await this.getOrg(id);
    const details = { name: org.name, openaiOrgId: org.openaiOrgId, baseUrl: org.baseUrl, upstreamKeys: org.upstreamKeys.map((k) => k.masked) };
    await this.changed(actor, { action: 'org.create', targetType: 'org', targetId: id, details });
    return org;
  }

  async updateOrg(id: string, patch: UpdateOrg, actor = SYSTEM): Promise<OrgView> {
    await this.getOrg(id);
    await this.unique('An organization with that name already exists.', () => this.orgs.update({ id }, patch));
    await this.changed(actor, { action: 'org.update', targetType: 'org', targetId: id, details: patch });
    return this.getOrg(id);
  }

  /** Adds a key; the newest live key carries traffic, so adding one is the first step of a rotation. */
  async addUpstreamKey(orgId: string, apiKey: string, label?: string, actor = SYSTEM): Promise<UpstreamKey> {
    await this.getOrg(orgId);
    const row = this.sealedKey(orgId, apiKey, label);
    const { identifiers } = await this.upstreamKeys.insert(row);
    const key = await this.upstreamKeys.findOneByOrFail({ id: identifiers[0].id as string });
    await this.changed(actor, { action: 'upstream_key.add', targetType: 'upstream_key', targetId: key.id, details: { orgId, masked: key.masked, label: key.label } });
    return key;
  }

  async revokeUpstreamKey(orgId: string, keyId: string, actor = SYSTEM): Promise<UpstreamKey> {
    const key = await this.upstreamKeys.findOneBy({ id: keyId, orgId });
    if (!key) throw notFound(`No upstream key ${keyId} in organization ${orgId}.`);
    if (!key.revokedAt) await this.upstreamKeys.update({ id: keyId }, { revokedAt: new Date() });
    await this.changed(actor, { action: 'upstream_key.revoke', targetType: 'upstream_key', targetId: keyId, details: { orgId, masked: key.masked } });
    return this.upstreamKeys.findOneByOrFail({ id: keyId });
  }

  /** Records OpenAI's id for an upstream key (`key_…`, from the key's page in OpenAI's dashboard or its admin API). */
  async setUpstreamKeyOpenaiId(orgId: string, keyId: string, openaiKeyId: string | null, actor = SYSTEM): Promise<UpstreamKey> {
    const key = await this.upstreamKeys.findOneBy({ id: keyId, orgId });
    if (!key) throw notFound(`No upstream key ${keyId} in organization ${orgId}.`);
    await this.upstreamKeys.update({ id: keyId }, { openaiKeyId });
    await this.changed(actor, { action: 'upstream_key.openai_id', targetType: 'upstream_key', targetId: keyId, details: { orgId, masked: key.masked, openaiKeyId } });
    return this.upstreamKeys.findOneByOrFail({ id: keyId });
  }

  /** Sets or rotates (replaces) the org's admin key; reconciliation starts (or goes on) with it. */
  async setAdminKey(orgId: string, adminKey: string, actor = SYSTEM): Promise<AdminKeyStatus> {
    await this.getOrg(orgId);
    const existing = await this.adminKeys.findOneBy({ orgId });
    const row = { sealed: this.sealer.seal(adminKey), masked: maskSecret(adminKey) };
    if (existing) await this.adminKeys.update({ orgId }, { ...row, rotatedAt: new Date() });
    else await this.adminKeys.insert({ orgId, ...row });
    const saved = await this.adminKeys.findOneByOrFail({ orgId });
    const action = existing ? 'admin_key.rotate' : 'admin_key.set';
    await this.changed(actor, { action, targetType: 'org', targetId: orgId, details: { masked: saved.masked, previous: existing?.masked ?? null } });
    return adminKeyStatus(saved)!;
  }

  /** Removes the admin key: reconciliation stops for the org (what was synced stays). */
  async removeAdminKey(orgId: string, actor = SYSTEM): Promise<void> {
    const existing = await this.adminKeys.findOneBy({ orgId });
    if (!existing) throw notFound(`Organization ${orgId} has no admin key.`);
    await this.adminKeys.delete({ orgId });
    await this.changed(actor, { action: 'admin_key.remove', targetType: 'org', targetId: orgId, details: { masked: existing.masked } });
  }

  /** The admin key in clear, for the reconciliation client only; undefined when the org has none. */
  async openAdminKey(orgId: string): Promise<string | undefined> {
    const row = await this.adminKeys.createQueryBuilder('k').addSelect('k.sealed').where('k.org_id = :orgId', { orgId }).getOne();
    return row ? this.sealer.open(row.sealed) : undefined;
  }

  async listFeatures(): Promise<FeatureView[]> {
    const [features, grants] = await Promise.all([this.features.find({ order: { slug: 'ASC' } }), this.featureOrgs.find()]);
    return features.map((f) => ({ ...f, grantedOrgIds: grants.filter((g) => g.featureId === f.id).map((g) => g.orgId) }));
  }

  async getFeature(id: string): Promise<FeatureView> {
    const feature = await this.features.findOneBy({ id });
    if (!feature) throw notFound(`No feature with id ${id}.`);
    const grants = await this.featureOrgs.findBy({ featureId: id });
    return { ...feature, grantedOrgIds: grants.map((g) => g.orgId) };
  }

  async findFeature(ref: string): Promise<Feature> {
    const isUuid = /^[0-9a-f-]{36}$/i.test(ref);
    const feature = await this.features.findOne({ where: [...(isUuid ? [{ id: ref }] : []), { slug: ref }] });
    if (!feature) throw notFound(`No feature with slug or id ${ref}.`);
    return feature;
  }

  async createFeature(input: CreateFeature, actor = SYSTEM): Promise<FeatureView> {
    await this.requireOrgs([input.defaultOrgId, ...(input.grantedOrgIds ?? [])]);
    const id = await this.unique(`A feature with slug ${input.slug} already exists.`, () =>
      this.dataSource.transaction(async (tx) => {
        const feature = await tx.getRepository(Feature).save(
          tx.getRepository(Feature).create({
            slug: input.slug,
            name: input.name,
            defaultOrgId: input.defaultOrgId,
            monthlyBudgetNanos: usdToNanos(input.monthlyBudgetUsd) ?? null,
          }),
        );
        await this.replaceGrants(tx.getRepository(FeatureOrg), feature.id, input.grantedOrgIds ?? []);
        return feature.id;
      }),
    );
    await this.changed(actor, { action: 'feature.create', targetType: 'feature', targetId: id, details: input });
    return this.getFeature(id);
  }

  async updateFeature(id: string, patch: UpdateFeature, actor = SYSTEM): Promise<FeatureView> {
    await this.getFeature(id);
    await this.requireOrgs([...(patch.defaultOrgId ? [patch.defaultOrgId] : []), ...(patch.grantedOrgIds ?? [])]);
    await this.dataSource.transaction(async (tx) => {
      const { grantedOrgIds, monthlyBudgetUsd, ...rest } = patch;
      const budget = usdToNanos(monthlyBudgetUsd);
      const changes = { ...rest, ...(budget !== undefined ? { monthlyBudgetNanos: budget } : {}) };
      if (Object.keys(changes).length) await tx.getRepository(Feature).update({ id }, changes);
      if (grantedOrgIds) await this.replaceGrants(tx.getRepository(FeatureOrg), id, grantedOrgIds);
    });
    await this.changed(actor, { action: 'feature.update', targetType: 'feature', targetId: id, details: patch });
    return this.getFeature(id);
  }

  async listGatewayKeys(featureId?: string): Promise<GatewayKey[]> {
    return this.gatewayKeys.find({ where: featureId ? { featureId } : {}, order: { createdAt: 'DESC' } });
  }

  async issueGatewayKey(featureId: string, name = '', actor = SYSTEM): Promise<IssuedGatewayKey> {
    await this.getFeature(featureId);
    const key = newGatewayKey();
    const { identifiers } = await this.gatewayKeys.insert({ featureId, name, keyHash: hashGatewayKey(key), masked: maskSecret(key) });
    const record = await this.gatewayKeys.findOneByOrFail({ id: identifiers[0].id as string });
    await this.changed(actor, { action: 'gateway_key.issue', targetType: 'gateway_key', targetId: record.id, details: { featureId, name, masked: record.masked } });
    return { key, record };
  }

  async revokeGatewayKey(id: string, actor = SYSTEM): Promise<GatewayKey> {
    const updated = await this.gatewayKeys.update({ id, revokedAt: IsNull() }, { revokedAt: new Date() });
    const key = await this.gatewayKeys.findOneBy({ id });
    if (!key) throw notFound(`No gateway key with id ${id}.`);
    if (updated.affected) await this.changed(actor, { action: 'gateway_key.revoke', targetType: 'gateway_key', targetId: id, details: { masked: key.masked } });
    return key;
  }

  /**
   * Re-seals every upstream key under the current master key (after MASTER_KEY was rotated and
   * the old one moved to MASTER_KEY_PREVIOUS). Returns how many keys were re-sealed.
   */
  async resealUpstreamKeys(actor = SYSTEM): Promise<number> {
    const rows = await this.upstreamKeys.createQueryBuilder('k').addSelect('k.sealed').getMany();
    let resealed = 0;
    for (const row of rows) {
      if (this.sealer.isCurrent(row.sealed)) continue;
      await this.upstreamKeys.update({ id: row.id }, { sealed: this.sealer.seal(this.sealer.open(row.sealed)) });
      resealed++;
    }
    // Admin keys are sealed the same way, so a master-key rotation covers them too.
    for (const row of await this.adminKeys.createQueryBuilder('k').addSelect('k.sealed').getMany()) {
      if (this.sealer.isCurrent(row.sealed)) continue;
      await this.adminKeys.update({ orgId: row.orgId }, { sealed: this.sealer.seal(this.sealer.open(row.sealed)) });
      resealed++;
    }
    await this.changed(actor, { action: 'upstream_key.reseal', targetType: 'upstream_key', details: { resealed } });
    return resealed;
  }

  private sealedKey(orgId: string, apiKey: string, label = '') {
    return { orgId, label, sealed: this.sealer.seal(apiKey), masked: maskSecret(apiKey) };
  }

  private async requireOrgs(ids: string[]): Promise<void> {
    const unique = [...new Set(ids)];
    if (unique.length === 0) return;
    const found = await this.orgs.countBy({ id: In(unique) });
    if (found !== unique.length) throw notFound('One of the organizations given does not exist.');
  }

  private async replaceGrants(repo: Repository<FeatureOrg>, featureId: string, orgIds: string[]): Promise<void> {
    await repo.delete({ featureId });
    if (orgIds.length) await repo.insert([...new Set(orgIds)].map((orgId) => ({ featureId, orgId })));
  }

  private async unique<T>(message: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if ((error as { code?: string }).code === UNIQUE_VIOLATION || (error as { driverError?: { code?: string } }).driverError?.code === UNIQUE_VIOLATION) {
        throw conflict(message);
      }
      throw error;
    }
  }
}

function adminKeyStatus(key: OrgAdminKey | null | undefined): AdminKeyStatus | null {
  return key ? { masked: key.masked, createdAt: key.createdAt, rotatedAt: key.rotatedAt } : null;
}
