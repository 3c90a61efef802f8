// /api/admin orgs, their upstream and admin keys, features and gateway keys (admins only).
import { z } from 'zod';
import { idParams, instant, orgKeyParams, uuid } from './common.js';
import { defineRoutes } from './route.js';

const name = z.string().trim().min(1).max(100);
const openaiOrgId = z.string().regex(/^org-[A-Za-z0-9_-]{1,64}$/, 'must look like org-… (OpenAI organization id)');
const projectId = z.string().regex(/^proj_[A-Za-z0-9_-]{1,64}$/, 'must look like proj_… (OpenAI project id)');
const baseUrl = z
  .string()
  .url()
  .regex(/^https?:\/\//, 'must be an http(s) URL')
  .transform((u) => u.replace(/\/+$/, ''));
const apiKey = z.string().trim().min(8).max(400).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');
const slug = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lowercase letters, digits and dashes');
const budgetUsd = z.coerce.number().nonnegative().max(1e9);
export const ORG_STATUSES = ['active', 'suspended'] as const;

export const createOrgSchema = z.strictObject({
  name,
  openaiOrgId,
  projectId: projectId.optional(),
  baseUrl: baseUrl.optional(),
  apiKey: apiKey.optional(),
  keyLabel: z.string().max(100).optional(),
});
export const updateOrgSchema = z.strictObject({
  name: name.optional(),
  projectId: projectId.nullable().optional(),
  baseUrl: baseUrl.optional(),
  status: z.enum(ORG_STATUSES).optional(),
});
export const addUpstreamKeySchema = z.strictObject({ apiKey, label: z.string().max(100).optional() });
export const adminKeySchema = z.strictObject({ adminKey: apiKey });
export const openaiKeyIdSchema = z.strictObject({
  openaiKeyId: z.string().regex(/^key_[A-Za-z0-9_-]{1,64}$/, 'must look like key_… (the id OpenAI lists for the key)').nullable(),
});
export const createFeatureSchema = z.strictObject({
  slug,
  name,
  defaultOrgId: z.string().uuid(),
  grantedOrgIds: z.array(z.string().uuid()).max(100).optional(),
  monthlyBudgetUsd: budgetUsd.nullable().optional(),
});
export const updateFeatureSchema = z.strictObject({
  name: name.optional(),
  defaultOrgId: z.string().uuid().optional(),
  grantedOrgIds: z.array(z.string().uuid()).max(100).optional(),
  monthlyBudgetUsd: budgetUsd.nullable().optional(),
});
export const issueGatewayKeySchema = z.strictObject({ name: z.string().max(100).default('') });
/** Unknown parameters are ignored here (as they always were). */
export const gatewayKeysQuerySchema = z.object({ feature: z.uuid({ version: 'v4', message: 'expected a feature id (uuid)' }).optional() });

export type CreateOrg = z.infer<typeof createOrgSchema>;
export type UpdateOrg = z.infer<typeof updateOrgSchema>;
export type CreateFeature = z.infer<typeof createFeatureSchema>;
export type UpdateFeature = z.infer<typeof updateFeatureSchema>;

export const upstreamKeySchema = z.object({
  id: uuid,
  orgId: uuid,
  label: z.string(),
  /** The key itself never comes back, only this. */
  masked: z.string(),
  /** OpenAI's id for the key (`key_…`), for reconciliation. */
  openaiKeyId: z.string().nullable(),
  createdAt: instant,
  revokedAt: instant.nullable(),
});
export type UpstreamKeyView = z.infer<typeof upstreamKeySchema>;

export const adminKeyStatusSchema = z.object({ masked: z.string(), createdAt: instant, rotatedAt: instant.nullable() });

export const orgSchema = z.object({
  id: uuid,
  name: z.string(),
  openaiOrgId: z.string(),
  projectId: z.string().nullable(),
  baseUrl: z.string(),
  status: z.enum(ORG_STATUSES),
  createdAt: instant,
  updatedAt: instant,
  upstreamKeys: z.array(upstreamKeySchema),
  /** The admin key reconciliation reads OpenAI's usage and costs with, masked; null: reconciliation is off. */
  adminKey: adminKeyStatusSchema.nullable(),
});
export type OrgView = z.infer<typeof orgSchema>;

export const featureSchema = z.object({
  id: uuid,
  slug: z.string(),
  name: z.string(),
  defaultOrgId: uuid,
  grantedOrgIds: z.array(uuid),
  /** Budget per calendar month (UTC) in nano-dollars; null: none. */
  monthlyBudgetNanos: z.number().int().nonnegative().nullable(),
  createdAt: instant,
  updatedAt: instant,
});
export type FeatureView = z.infer<typeof featureSchema>;

export const gatewayKeySchema = z.object({
  id: uuid,
  featureId: uuid,
  name: z.string(),
  masked: z.string(),
  createdAt: instant,
  revokedAt: instant.nullable(),
});
export type GatewayKeyView = z.infer<typeof gatewayKeySchema>;
export const issuedGatewayKeySchema = z.object({
  /** Shown once; only its hash is stored. */
  key: z.string(),
  record: gatewayKeySchema,
});

const admin = ['admin'] as const;
export const orgRoutes = defineRoutes({
  listOrgs: { method: 'GET', path: '/api/admin/orgs', summary: 'Orgs with their upstream keys (masked) and admin key status', roles: admin, response: z.array(orgSchema) },
  getOrg: { method: 'GET', path: '/api/admin/orgs/:id', summary: 'One org', roles: admin, params: idParams, response: orgSchema },
  createOrg: { method: 'POST', path: '/api/admin/orgs', summary: 'Create an org (optionally with its first upstream key)', roles: admin, body: createOrgSchema, response: orgSchema, status: 201 },
  updateOrg: { method: 'PATCH', path: '/api/admin/orgs/:id', summary: 'Rename, re-point or suspend an org', roles: admin, params: idParams, body: updateOrgSchema, response: orgSchema },
  addUpstreamKey: { method: 'POST', path: '/api/admin/orgs/:id/keys', summary: 'Add an upstream OpenAI key (stored sealed)', roles: admin, params: idParams, body: addUpstreamKeySchema, response: upstreamKeySchema, status: 201 },
  revokeUpstreamKey: { method: 'DELETE', path: '/api/admin/orgs/:id/keys/:keyId', summary: 'Revoke an upstream key', roles: admin, params: orgKeyParams, response: upstreamKeySchema },
  setUpstreamKeyOpenaiId: { method: 'PATCH', path: '/api/admin/orgs/:id/keys/:keyId', summary: "Set the key's OpenAI id (key_…) for reconciliation", roles: admin, params: orgKeyParams, body: openaiKeyIdSchema, response: upstreamKeySchema },
  setAdminKey: { method: 'PUT', path: '/api/admin/orgs/:id/admin-key', summary: "Set or rotate the org's OpenAI admin key (reconciliation)", roles: admin, params: idParams, body: adminKeySchema, response: adminKeyStatusSchema },
  removeAdminKey: { method: 'DELETE', path: '/api/admin/orgs/:id/admin-key', summary: 'Remove the admin key (reconciliation off)', roles: admin, params: idParams, response: null, status: 204 },
  listFeatures: { method: 'GET', path: '/api/admin/features', summary: 'Features with their granted orgs and budgets', roles: admin, response: z.array(featureSchema) },
  createFeature: { method: 'POST', path: '/api/admin/features', summary: 'Create a feature', roles: admin, body: createFeatureSchema, response: featureSchema, status: 201 },
  updateFeature: { method: 'PATCH', path: '/api/admin/features/:id', summary: 'Change a feature', roles: admin, params: idParams, body: updateFeatureSchema, response: featureSchema },
  listGatewayKeys: { method: 'GET', path: '/api/admin/gateway-keys', summary: 'Gateway keys (masked), optionally of one feature', roles: admin, query: gatewayKeysQuerySchema, response: z.array(gatewayKeySchema) },
  issueGatewayKey: { method: 'POST', path: '/api/admin/features/:id/gateway-keys', summary: 'Issue a gateway key for a feature (shown once)', roles: admin, params: idParams, body: issueGatewayKeySchema, response: issuedGatewayKeySchema, status: 201 },
  revokeGatewayKey: { method: 'DELETE', path: '/api/admin/gateway-keys/:id', summary: 'Revoke a gateway key', roles: admin, params: idParams, response: gatewayKeySchema },
});
