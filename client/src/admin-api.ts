// Types and calls for /api/admin (orgs, upstream keys, features, gateway keys, users, API tokens, audit).
import { api } from './api.js';
import { remember } from './catalog.js';
import type {
  ApiRoute,
  ApiTokenView,
  AuditRecordView,
  FeatureView,
  GatewayKeyView,
  KeyUsage,
  KeyUsageResponse,
  keyUsageRoutes,
  OrgView,
  QueryOf,
  RequestBody,
  ResponseOf,
  UpstreamKeyView,
  UserView,
  attributionAdminRoutes,
  orgRoutes,
  userRoutes,
} from '../../server/contract/index.js';
import type { FeatureAttribution, TagDeclaration } from '../../server/contract/attribution.js';

export type { FeatureAttribution, TagDeclaration };

// The shapes are the API contract's (server/contract): what the server validates and answers.
export type UpstreamKey = UpstreamKeyView;
export type Org = OrgView;
export type Feature = FeatureView;
export type GatewayKey = GatewayKeyView;
export type User = UserView;
export type ApiToken = ApiTokenView;
export type AuditRecord = AuditRecordView;
export type { KeyUsage, KeyUsageResponse };
type Answer<R extends ApiRoute> = ResponseOf<R>;
type Routes = typeof orgRoutes & typeof userRoutes & typeof attributionAdminRoutes & typeof keyUsageRoutes;
type Body<K extends keyof Routes> = RequestBody<Routes[K]>;

/** Filters of GET /api/admin/audit (all optional; sign-ins are left out unless signIns=include). */
export type AuditFilters = Pick<QueryOf<Routes['listAudit']>, 'action' | 'actor' | 'target' | 'from' | 'to' | 'signIns'>;

export const admin = {
  async orgs(signal?: AbortSignal): Promise<Org[]> {
    const orgs = await api.get<Answer<Routes['listOrgs']>>('/api/admin/orgs', undefined, signal);
    orgs.forEach((o) => remember('org', o.id, o.name));
    return orgs;
  },
  createOrg: (body: Body<'createOrg'>) => api.post<Answer<Routes['createOrg']>>('/api/admin/orgs', body),
  updateOrg: (id: string, body: Body<'updateOrg'>) => api.patch<Answer<Routes['updateOrg']>>(`/api/admin/orgs/${id}`, body),
  addKey: (orgId: string, apiKey: string, label: string) => api.post<Answer<Routes['addUpstreamKey']>>(`/api/admin/orgs/${orgId}/keys`, { apiKey, label } satisfies Body<'addUpstreamKey'>),
  revokeKey: (orgId: string, keyId: string) => api.delete<Answer<Routes['revokeUpstreamKey']>>(`/api/admin/orgs/${orgId}/keys/${keyId}`),
  async features(signal?: AbortSignal): Promise<Feature[]> {
    const features = await api.get<Answer<Routes['listFeatures']>>('/api/admin/features', undefined, signal);
    features.forEach((f) => remember('feature', f.id, f.name));
    return features;
  },
  createFeature: (body: Body<'createFeature'>) => api.post<Answer<Routes['createFeature']>>('/api/admin/features', body),
  updateFeature: (id: string, body: Body<'updateFeature'>) => api.patch<Answer<Routes['updateFeature']>>(`/api/admin/features/${id}`, body),
  keyUsage: (signal?: AbortSignal) => api.get<Answer<Routes['keyUsage']>>('/api/admin/key-usage', undefined, signal),
  gatewayKeys: (signal?: AbortSignal) => api.get<Answer<Routes['listGatewayKeys']>>('/api/admin/gateway-keys', undefined, signal),
  issueGatewayKey: (featureId: string, name: string) => api.post<Answer<Routes['issueGatewayKey']>>(`/api/admin/features/${featureId}/gateway-keys`, { name } satisfies Body<'issueGatewayKey'>),
  revokeGatewayKey: (id: string) => api.delete<Answer<Routes['revokeGatewayKey']>>(`/api/admin/gateway-keys/${id}`),
  users: (signal?: AbortSignal) => api.get<Answer<Routes['listUsers']>>('/api/admin/users', undefined, signal),
  createUser: (body: Body<'createUser'>) => api.post<Answer<Routes['createUser']>>('/api/admin/users', body),
  updateUser: (id: string, body: Body<'updateUser'>) => api.patch<Answer<Routes['updateUser']>>(`/api/admin/users/${id}`, body),
  disableUser: (id: string) => api.delete<Answer<Routes['disableUser']>>(`/api/admin/users/${id}`),
  apiTokens: (signal?: AbortSignal) => api.get<Answer<Routes['listApiTokens']>>('/api/admin/api-tokens', undefined, signal),
  createApiToken: (body: Body<'createApiToken'>) => api.post<Answer<Routes['createApiToken']>>('/api/admin/api-tokens', body),
  revokeApiToken: (id: string) => api.delete<Answer<Routes['revokeApiToken']>>(`/api/admin/api-tokens/${id}`),
  tags: (signal?: AbortSignal) => api.get<Answer<Routes['listTags']>>('/api/admin/tags', undefined, signal),
  declareTag: (body: Body<'declareTag'>) => api.post<Answer<Routes['declareTag']>>('/api/admin/tags', body),
  updateTag: (name: string, body: Body<'updateTag'>) => api.patch<Answer<Routes['updateTag']>>(`/api/admin/tags/${encodeURIComponent(name)}`, body),
  removeTag: (name: string) => api.delete<Answer<Routes['removeTag']>>(`/api/admin/tags/${encodeURIComponent(name)}`),
  featureAttribution: (id: string) => api.get<Answer<Routes['featureAttribution']>>(`/api/admin/features/${id}/attribution`),
  setFeatureAttribution: (id: string, body: Body<'setFeatureAttribution'>) => api.put<Answer<Routes['setFeatureAttribution']>>(`/api/admin/features/${id}/attribution`, body),
  audit: (limit: number, before?: string, signal?: AbortSignal, filters: AuditFilters = {}) =>
    api.get<Answer<Routes['listAudit']>>('/api/admin/audit', { limit, before, ...filters } satisfies QueryOf<Routes['listAudit']>, signal),
};
