// Input schemas for sign-in, users and API tokens: one definition shared by the API and the CLI.
import { z } from 'zod';
import { ROLES } from './roles.decorator.js';

const email = z
  .string()
  .trim()
  .max(254)
  .email()
  .transform((e) => e.toLowerCase());
// Length caps keep argon2 from hashing megabytes on behalf of an attacker.
const password = z.string().min(12, 'must be at least 12 characters').max(256);
const role = z.enum(ROLES);
const name = z.string().trim().max(100).regex(/^[^\x00-\x1f\x7f]*$/, 'must not contain control characters');

export const signInSchema = z.strictObject({ email, password: z.string().min(1).max(256) });
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
