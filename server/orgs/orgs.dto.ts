// Input schemas for the admin API and the CLI: one definition of what a valid org, key or feature is.
import { z } from 'zod';

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
const usd = z.coerce.number().nonnegative().max(1e9);

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
  status: z.enum(['active', 'suspended']).optional(),
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
  monthlyBudgetUsd: usd.nullable().optional(),
});
export const updateFeatureSchema = z.strictObject({
  name: name.optional(),
  defaultOrgId: z.string().uuid().optional(),
  grantedOrgIds: z.array(z.string().uuid()).max(100).optional(),
  monthlyBudgetUsd: usd.nullable().optional(),
});
export const issueGatewayKeySchema = z.strictObject({ name: z.string().max(100).default('') });

export type CreateOrg = z.infer<typeof createOrgSchema>;
export type UpdateOrg = z.infer<typeof updateOrgSchema>;
export type CreateFeature = z.infer<typeof createFeatureSchema>;
export type UpdateFeature = z.infer<typeof updateFeatureSchema>;
