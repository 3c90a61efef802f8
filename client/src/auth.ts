// Who is signed in, and the credentials every API call carries. This is the one module to adapt
// as sign-in evolves: a session cookie (httpOnly, set by /api/auth/sign-in) plus a CSRF token
// echoed as x-csrf-token on writes, or a bearer token (ADMIN_TOKEN or an API token).

import type { Me as MeAnswer, Role, SignedIn } from '../../server/contract/index.js';

export type { Role };
/** Who the dashboard shows as signed in. */
export interface Me {
  email: string;
  role: Role;
}

const TOKEN_KEY = 'tallygate.token';
const CSRF_KEY = 'tallygate.csrf';
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

let unauthenticatedHandler: (message: string) => void = () => {};

export function authHeaders(method: string): Record<string, string> {
  const headers: Record<string, string> = {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.authorization = `Bearer ${token}`;
  const csrf = sessionStorage.getItem(CSRF_KEY) ?? csrfFromCookie();
  if (!SAFE.has(method.toUpperCase()) && csrf) headers['x-csrf-token'] = csrf;
  return headers;
}

function csrfFromCookie(): string | null {
  const match = /(?:^|;\s*)(?:tg_csrf|csrf_token|csrf)=([^;]+)/.exec(document.cookie);
  return match ? decodeURIComponent(match[1]) : null;
}

function rememberCsrf(body: unknown, res: Response): void {
  const fromBody = body && typeof body === 'object' ? ((body as Record<string, unknown>).csrfToken ?? (body as Record<string, unknown>).csrf) : undefined;
  const csrf = typeof fromBody === 'string' ? fromBody : res.headers.get('x-csrf-token');
  if (csrf) sessionStorage.setItem(CSRF_KEY, csrf);
}

export function onUnauthenticated(message: string): void {
  unauthenticatedHandler(message);
}
export function setUnauthenticatedHandler(handler: (message: string) => void): void {
  unauthenticatedHandler = handler;
}

/** From /api/auth/me's answer or sign-in's (checked at run time too: an older gateway may answer otherwise). */
function asMe(body: MeAnswer | SignedIn | null): Me | null {
  const b = (body && typeof body === 'object' ? ('user' in body ? body.user : body) : null) as { email?: unknown; id?: unknown; role?: unknown } | null;
  if (!b || !(b.role === 'admin' || b.role === 'finance' || b.role === 'engineer')) return null;
  // Bearer tokens have no email: show the token's id ("admin-token") instead.
  const email = typeof b.email === 'string' ? b.email : typeof b.id === 'string' ? b.id : 'token';
  return { email, role: b.role };
}

async function readJson<T = unknown>(res: Response): Promise<T | null> {
  return res.json().catch(() => null) as Promise<T | null>;
}

function errorMessage(body: unknown, fallback: string): string {
  const message = (body as { error?: { message?: unknown } } | null)?.error?.message;
  return typeof message === 'string' ? message : fallback;
}

/** The signed-in user, or null. A bearer token is an admin while /api/auth/me does not exist yet. */
export async function currentUser(): Promise<Me | null> {
  const res = await fetch('/api/auth/me', { headers: { accept: 'application/json', ...authHeaders('GET') }, credentials: 'same-origin' });
  const body = await readJson<MeAnswer>(res);
  if (res.ok) {
    rememberCsrf(body, res);
    return asMe(body);
  }
  if (res.status === 404 && sessionStorage.getItem(TOKEN_KEY)) {
    const probe = await fetch('/api/admin/orgs', { headers: authHeaders('GET') });
    if (probe.ok) return { email: 'admin token', role: 'admin' };
  }
  return null;
}

export async function signIn(email: string, password: string): Promise<Me> {
  sessionStorage.removeItem(TOKEN_KEY);
  const res = await fetch('/api/auth/sign-in', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    credentials: 'same-origin',
    body: JSON.stringify({ email, password }),
  });
  const body = await readJson<SignedIn>(res);
  if (res.status === 404) throw new Error('Sign-in with a password is not available on this gateway yet: use an admin token.');
  if (!res.ok) throw new Error(errorMessage(body, 'Sign-in failed: check the email and password.'));
  rememberCsrf(body, res);
  const me = asMe(body) ?? (await currentUser());
  if (!me) throw new Error('Signed in, but the gateway did not say who you are. Reload the page.');
  return me;
}

export async function signInWithToken(token: string): Promise<Me> {
  sessionStorage.setItem(TOKEN_KEY, token.trim());
  const me = await currentUser();
  if (!me) {
    sessionStorage.removeItem(TOKEN_KEY);
    throw new Error('That token was not accepted.');
  }
  return me;
}

export async function signOut(): Promise<void> {
  const hadToken = sessionStorage.getItem(TOKEN_KEY);
  if (!hadToken) {
    await fetch('/api/auth/sign-out', { method: 'POST', headers: { 'content-type': 'application/json', ...authHeaders('POST') }, credentials: 'same-origin', body: '{}' }).catch(() => undefined);
  }
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(CSRF_KEY);
}
