// /api/admin users, API tokens and the audit log (admins only).
import { z } from 'zod';
import { email, password } from './auth.js';
import { idParams, instant, role, uuid } from './common.js';
import { defineRoutes } from './route.js';

const name = z.string().trim().max(100).regex(/^[^\x00-\x1f\x7f]*$/, 'must not contain control characters');

export const createUserSchema = z.strictObject({ email, password, role, name: name.optional() });
export const updateUserSchema = z.strictObject({
  role: role.optional(),
  name: name.optional(),
  password: password.optional(),
  disabled: z.boolean().optional(),
});
export const createApiTokenSchema = z.strictObject({
  name: name.min(1),
  role,
  /** Days until the token stops working; a token always expires. */
  expiresInDays: z.number().int().min(1).max(366),
});
export const auditQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(200),
  before: z
    .string()
    .regex(/^[0-9]{1,18}$/, 'must be an audit entry id')
    .optional(),
  /** An action or its prefix: `upstream_key` matches upstream_key.add, .revoke, … */
  action: z.string().trim().min(1).max(100).optional(),
  /** Part of the actor's email or name, any case. */
  actor: z.string().trim().min(1).max(200).optional(),
  /** Part of the target's name (org, feature, user, key as masked) or its id. */
  target: z.string().trim().min(1).max(200).optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  /** Sign-ins and sign-outs are most of the log: left out unless asked for. */
  signIns: z.enum(['include', 'exclude']).default('exclude'),
});
export type AuditQuery = z.infer<typeof auditQuerySchema>;
export type CreateUser = z.infer<typeof createUserSchema>;
export type UpdateUser = z.infer<typeof updateUserSchema>;
export type CreateApiToken = z.infer<typeof createApiTokenSchema>;

export const userSchema = z.object({
  id: uuid,
  email: z.string(),
  name: z.string(),
  role,
  createdAt: instant,
  updatedAt: instant,
  /** Users are disabled, never deleted (the audit log names them). */
  disabledAt: instant.nullable(),
});
export type UserView = z.infer<typeof userSchema>;

export const apiTokenSchema = z.object({
  id: uuid,
  name: z.string(),
  role,
  masked: z.string(),
  createdBy: z.string(),
  createdAt: instant,
  expiresAt: instant,
  lastUsedAt: instant.nullable(),
  revokedAt: instant.nullable(),
});
export type ApiTokenView = z.infer<typeof apiTokenSchema>;
export const issuedApiTokenSchema = z.object({
  /** Shown once; only its hash is stored. */
  token: z.string(),
  record: apiTokenSchema,
});

export const auditRecordSchema = z.object({
  id: z.string().regex(/^\d+$/),
  at: instant,
  actor: z.string(),
  actorRole: z.string().nullable(),
  action: z.string(),
  targetType: z.string().nullable(),
  targetId: z.string().nullable(),
  /** The target's name now (null when it has none or is gone). */
  targetName: z.string().nullable(),
  /** What changed, never a secret (keys appear only masked). */
  details: z.record(z.string(), z.unknown()),
  ip: z.string().nullable(),
});
export type AuditRecordView = z.infer<typeof auditRecordSchema>;

const admin = ['admin'] as const;
export const userRoutes = defineRoutes({
  listUsers: { method: 'GET', path: '/api/admin/users', summary: 'Dashboard users', roles: admin, response: z.array(userSchema) },
  getUser: { method: 'GET', path: '/api/admin/users/:id', summary: 'One user', roles: admin, params: idParams, response: userSchema },
  createUser: { method: 'POST', path: '/api/admin/users', summary: 'Create a user', roles: admin, body: createUserSchema, response: userSchema, status: 201 },
  updateUser: { method: 'PATCH', path: '/api/admin/users/:id', summary: 'Change role, name, password or disable', roles: admin, params: idParams, body: updateUserSchema, response: userSchema },
  disableUser: { method: 'DELETE', path: '/api/admin/users/:id', summary: 'Disable a user (never deleted)', roles: admin, params: idParams, response: userSchema },
  listApiTokens: { method: 'GET', path: '/api/admin/api-tokens', summary: 'API tokens for automation, newest first', roles: admin, response: z.array(apiTokenSchema) },
  createApiToken: { method: 'POST', path: '/api/admin/api-tokens', summary: 'Issue an API token (shown once)', roles: admin, body: createApiTokenSchema, response: issuedApiTokenSchema, status: 201 },
  revokeApiToken: { method: 'DELETE', path: '/api/admin/api-tokens/:id', summary: 'Revoke an API token', roles: admin, params: idParams, response: apiTokenSchema },
  listAudit: { method: 'GET', path: '/api/admin/audit', summary: 'The audit log, newest first (page with ?before=<id>; filter by action, actor, target and time; sign-ins only with ?signIns=include)', roles: admin, query: auditQuerySchema, response: z.array(auditRecordSchema) },
});
