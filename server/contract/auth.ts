// /api/auth: dashboard sign-in (a session cookie plus a CSRF token), sign-out, and who am I.
import { z } from 'zod';
import { defineRoutes } from './route.js';
import { instant, role, uuid } from './common.js';

export const email = z
  .string()
  .trim()
  .max(254)
  .email()
  .transform((e) => e.toLowerCase());
// Length caps keep argon2 from hashing megabytes on behalf of an attacker.
export const password = z.string().min(12, 'must be at least 12 characters').max(256);

export const signInSchema = z.strictObject({ email, password: z.string().min(1).max(256) });

export const signedInSchema = z.object({
  user: z.object({ id: uuid, email: z.string(), role }),
  /** Echo it in x-csrf-token on every state-changing request. */
  csrfToken: z.string(),
  expiresAt: instant,
});
export type SignedIn = z.infer<typeof signedInSchema>;

export const meSchema = z.object({
  kind: z.enum(['admin_token', 'session', 'api_token']),
  id: z.string(),
  email: z.string().nullable(),
  role,
  /** Only for a session (a bearer token needs none). */
  csrfToken: z.string().nullable(),
});
export type Me = z.infer<typeof meSchema>;

export const authRoutes = defineRoutes({
  signIn: { method: 'POST', path: '/api/auth/sign-in', summary: 'Sign in: sets the session cookie and returns the CSRF token', roles: 'public', body: signInSchema, response: signedInSchema },
  signOut: { method: 'POST', path: '/api/auth/sign-out', summary: 'Sign out (ends the session; nothing to end for a bearer token)', roles: ['admin', 'finance', 'engineer'], response: null, status: 204 },
  me: { method: 'GET', path: '/api/auth/me', summary: 'Who am I; the dashboard also picks up its CSRF token here after a reload', roles: ['admin', 'finance', 'engineer'], response: meSchema },
});
