// Types and calls for /api/admin (orgs, upstream keys, features, gateway keys, users, API tokens, audit).
import { api } from './api.js';
import type { Role } from './auth.js';
import { remember } from './catalog.js';
import type { KeyUsage, KeyUsageResponse } from '../../server/contract/key-usage.js';

export type { KeyUsage, KeyUsageResponse };

export interface UpstreamKey {
  id: string;
  orgId: string;
  label: string;
  masked: string;
  /** OpenAI's id for the key (`key_…`), for reconciliation. */
  openaiKeyId?: string | null;
  createdAt: string;
  revokedAt: string | null;
}
export interface Org {
  id: string;
  name: string;
  openaiOrgId: string;
  projectId: string | null;
  baseUrl: string;
  status: 'active' | 'suspended';
  createdAt: string;
  upstreamKeys: UpstreamKey[];
}
export interface Feature {
  id: string;
  slug: string;
  name: string;
  defaultOrgId: string;
  grantedOrgIds: string[];
  monthlyBudgetNanos: number | null;
  createdAt: string;
}
export interface GatewayKey {
  id: string;
  featureId: string;
  name: string;
  masked: string;
  createdAt: string;
  revokedAt: string | null;
}
export interface User {
  id: string;
  email: string;
  name: string;
  role: Role;
  createdAt: string;
  disabledAt: string | null;
}
export interface ApiToken {
  id: string;
  name: string;
  role: Role;
  masked: string;
  createdAt: string;
  expiresAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}
export interface AuditRecord {
  id: string;
  at: string;
  actor: string;
  actorRole: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  /** The target's name now (org, feature, user email, key masked with its owner); null when gone. */
  targetName?: string | null;
  details: Record<string, unknown>;
  ip: string | null;
}

/** Filters of GET /api/admin/audit (all optional; sign-ins are left out unless signIns=include). */
export interface AuditFilters {
  action?: string;
  actor?: string;
  target?: string;
  from?: string;
  to?: string;
  signIns?: 'include' | 'exclude';
}

export const admin = {
  async orgs(signal?: AbortSignal): Promise<Org[]> {
    const orgs = await api.get<Org[]>('/api/admin/orgs', undefined, signal);
    orgs.forEach((o) => remember('org', o.id, o.name));
    return orgs;
  },
  createOrg: (body: Record<string, string>) => api.post<Org>('/api/admin/orgs', body),
  updateOrg: (id: string, body: Record<string, unknown>) => api.patch<Org>(`/api/admin/orgs/${id}`, body),
  addKey: (orgId: string, apiKey: string, label: string) => api.post<UpstreamKey>(`/api/admin/orgs/${orgId}/keys`, { apiKey, label }),
  revokeKey: (orgId: string, keyId: string) => api.delete<UpstreamKey>(`/api/admin/orgs/${orgId}/keys/${keyId}`),
  async features(signal?: AbortSignal): Promise<Feature[]> {
    const features = await api.get<Feature[]>('/api/admin/features', undefined, signal);
    features.forEach((f) => remember('feature', f.id, f.name));
    return features;
  },
  createFeature: (body: Record<string, unknown>) => api.post<Feature>('/api/admin/features', body),
  updateFeature: (id: string, body: Record<string, unknown>) => api.patch<Feature>(`/api/admin/features/${id}`, body),
  keyUsage: (signal?: AbortSignal) => api.get<KeyUsageResponse>('/api/admin/key-usage', undefined, signal),
  gatewayKeys: (signal?: AbortSignal) => api.get<GatewayKey[]>('/api/admin/gateway-keys', undefined, signal),
  issueGatewayKey: (featureId: string, name: string) => api.post<{ key: string; record: GatewayKey }>(`/api/admin/features/${featureId}/gateway-keys`, { name }),
  revokeGatewayKey: (id: string) => api.delete<GatewayKey>(`/api/admin/gateway-keys/${id}`),
  users: (signal?: AbortSignal) => api.get<User[]>('/api/admin/users', undefined, signal),
  createUser: (body: Record<string, unknown>) => api.post<User>('/api/admin/users', body),
  updateUser: (id: string, body: Record<string, unknown>) => api.patch<User>(`/api/admin/users/${id}`, body),
  disableUser: (id: string) => api.delete<User>(`/api/admin/users/${id}`),
  apiTokens: (signal?: AbortSignal) => api.get<ApiToken[]>('/api/admin/api-tokens', undefined, signal),
  createApiToken: (body: Record<string, unknown>) => api.post<{ token: string; record: ApiToken }>('/api/admin/api-tokens', body),
  revokeApiToken: (id: string) => api.delete<ApiToken>(`/api/admin/api-tokens/${id}`),
  audit: (limit: number, before?: string, signal?: AbortSignal, filters: AuditFilters = {}) => api.get<AuditRecord[]>('/api/admin/audit', { limit, before, ...filters }, signal),
};
