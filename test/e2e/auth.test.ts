// Dashboard sign-in end to end: sessions in cookies, CSRF, expiry, sign-out, lockout, users,
// API tokens and the audit log, against a real Postgres.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startStack, type Stack } from '../support/stack.js';

const ADMIN_EMAIL = 'root@example.com';
const ADMIN_PASSWORD = 'correct horse battery staple';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { ADMIN_EMAIL, ADMIN_PASSWORD, SIGN_IN_MAX_FAILURES_PER_ACCOUNT: '3', SIGN_IN_MAX_FAILURES_PER_IP: '8' } });
});
afterAll(() => stack?.close());
beforeEach(() => stack.db.query('TRUNCATE sign_in_failures'));

interface Session {
  cookie: string;
  csrf: string;
  setCookie: string;
}

async function call(path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...init.headers };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${stack.url}${path}`, {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? (JSON.parse(text) as Record<string, any>) : null };
}

async function signIn(email: string, password: string, headers: Record<string, string> = {}): Promise<Session> {
  const response = await fetch(`${stack.url}/api/auth/sign-in`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ email, password }),
  });
  const body = (await response.json()) as { csrfToken: string };
  expect(response.status).toBe(200);
  const setCookie = response.headers.get('set-cookie') ?? '';
  return { cookie: setCookie.split(';')[0], csrf: body.csrfToken, setCookie };
}

const as = (s: Session, csrf = true) => ({ cookie: s.cookie, ...(csrf ? { 'x-csrf-token': s.csrf } : {}) });

describe('sign-in', () => {
  it('bootstraps the first admin from ADMIN_EMAIL/ADMIN_PASSWORD and gives a hardened session cookie', async () => {
    const session = await signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    expect(session.setCookie).toMatch(/^tallygate_session=[A-Za-z0-9_-]{43};/);
    expect(session.setCookie).toMatch(/HttpOnly/i);
    expect(session.setCookie).toMatch(/SameSite=Strict/i);
    expect(session.setCookie).not.toMatch(/Secure/i); // plain http here
    const me = await call('/api/auth/me', { headers: as(session, false) });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ email: ADMIN_EMAIL, role: 'admin', kind: 'session', csrfToken: session.csrf });
    const [row] = (await stack.db.query(`SELECT password_hash FROM users WHERE email = $1`, [ADMIN_EMAIL])).rows;
    expect(row.password_hash).toMatch(/^\$argon2id\$/);
  });

  it('marks the cookie Secure behind a TLS-terminating proxy when TRUST_PROXY is set', async () => {
    const other = await startStack({ env: { ADMIN_EMAIL, ADMIN_PASSWORD, TRUST_PROXY: 'true' } });
    try {
      const response = await fetch(`${other.url}/api/auth/sign-in`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-proto': 'https' },
        body: JSON.stringify({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD }),
      });
      expect(response.status).toBe(200);
      expect(response.headers.get('set-cookie')).toMatch(/; Secure/i);
    } finally {
      await other.close();
    }
  });

  it('answers the same generic 401 for an unknown email, a wrong password and a disabled user', async () => {
    const unknown = await call('/api/auth/sign-in', { method: 'POST', body: { email: 'nobody@example.com', password: 'whatever-password' } });
    const wrong = await call('/api/auth/sign-in', { method: 'POST', body: { email: ADMIN_EMAIL, password: 'not the password' } });
    expect(unknown.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect(unknown.body).toEqual(wrong.body);
    expect(wrong.headers.get('set-cookie')).toBeNull();
  });

  it('locks an account after repeated failures, even for the right password, and says so generically', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await call('/api/auth/sign-in', { method: 'POST', body: { email: ADMIN_EMAIL, password: `guess-${i}` } })).status).toBe(401);
    }
    const locked = await call('/api/auth/sign-in', { method: 'POST', body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } });
    expect(locked.status).toBe(429);
    expect(locked.body?.error.code).toBe('sign_in_locked');
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    // An unknown account locks the same way: the lockout reveals nothing about who exists.
    for (let i = 0; i < 3; i++) await call('/api/auth/sign-in', { method: 'POST', body: { email: 'ghost@example.com', password: `guess-${i}` } });
    expect((await call('/api/auth/sign-in', { method: 'POST', body: { email: 'ghost@example.com', password: 'x' } })).status).toBe(429);
    // The window passing unlocks it.
    await stack.db.query(`UPDATE sign_in_failures SET at = at - interval '16 minutes'`);
    await signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
  });

  it('limits failures per address across many accounts', async () => {
    for (let i = 0; i < 8; i++) await call('/api/auth/sign-in', { method: 'POST', body: { email: `spray${i}@example.com`, password: 'Winter2024!' } });
    const blocked = await call('/api/auth/sign-in', { method: 'POST', body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } });
    expect(blocked.status).toBe(429);
  });
});

describe('sessions', () => {
  it('rejects state-changing requests without the CSRF token, and with a wrong one', async () => {
    const session = await signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    const user = { email: 'csrf-victim@example.com', password: 'a long enough password', role: 'finance' };
    const missing = await call('/api/admin/users', { method: 'POST', body: user, headers: as(session, false) });
    expect(missing.status).toBe(403);
    expect(missing.body?.error.code).toBe('csrf_failed');
    const wrong = await call('/api/admin/users', { method: 'POST', body: user, headers: { cookie: session.cookie, 'x-csrf-token': 'forged' } });
    expect(wrong.status).toBe(403);
    const signOut = await call('/api/auth/sign-out', { method: 'POST', headers: as(session, false) });
    expect(signOut.status).toBe(403);
    expect((await stack.db.query(`SELECT 1 FROM users WHERE email = $1`, [user.email])).rowCount).toBe(0);
    // Reads need no token; with it the write goes through.
    expect((await call('/api/admin/users', { headers: as(session, false) })).status).toBe(200);
    expect((await call('/api/admin/users', { method: 'POST', body: user, headers: as(session) })).status).toBe(201);
  });

  it('signing out ends the session on the server, not just in the browser', async () => {
    const session = await signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    const out = await call('/api/auth/sign-out', { method: 'POST', headers: as(session) });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/tallygate_session=;/);
    // Replaying the old cookie no longer works.
    const replay = await call('/api/auth/me', { headers: as(session, false) });
    expect(replay.status).toBe(401);
    expect(replay.body?.error.code).toBe('session_expired');
  });

  it('expires an idle session, and a busy one at its absolute limit', async () => {
    const idle = await signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    const busy = await signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    // 29 idle minutes are fine, and a request resets the idle clock.
    await stack.db.query(`UPDATE sessions SET last_seen_at = now() - interval '29 minutes'`);
    expect((await call('/api/auth/me', { headers: as(idle, false) })).status).toBe(200);
    await stack.db.query(`UPDATE sessions SET last_seen_at = now() - interval '31 minutes' WHERE csrf_token = $1`, [idle.csrf]);
    expect((await call('/api/auth/me', { headers: as(idle, false) })).status).toBe(401);
    // Active all along, but signed in 12 hours ago.
    await stack.db.query(`UPDATE sessions SET created_at = now() - interval '12 hours', expires_at = now() - interval '1 second' WHERE csrf_token = $1`, [busy.csrf]);
    expect((await call('/api/auth/me', { headers: as(busy, false) })).status).toBe(401);
  });
});

describe('users, API tokens and audit', () => {
  it('lets an admin create, change and disable users; disabling ends their sessions', async () => {
    const admin = await signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    const created = await call('/api/admin/users', {
      method: 'POST',
      body: { email: 'Fiona@Example.com', password: 'finance password 1', role: 'finance', name: 'Fiona' },
      headers: as(admin),
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ email: 'fiona@example.com', role: 'finance' });
    expect(JSON.stringify(created.body)).not.toMatch(/password|argon/i);
    const duplicate = await call('/api/admin/users', { method: 'POST', body: { email: 'fiona@example.com', password: 'another password', role: 'engineer' }, headers: as(admin) });
    expect(duplicate.status).toBe(409);

    const fiona = await signIn('fiona@example.com', 'finance password 1');
    expect((await call('/api/admin/users', { headers: as(fiona, false) })).status).toBe(403);
    const promoted = await call(`/api/admin/users/${created.body!.id}`, { method: 'PATCH', body: { role: 'engineer' }, headers: as(admin) });
    expect(promoted.body?.role).toBe('engineer');
    expect((await call('/api/auth/me', { headers: as(fiona, false) })).body?.role).toBe('engineer');

    const disabled = await call(`/api/admin/users/${created.body!.id}`, { method: 'DELETE', headers: as(admin) });
    expect(disabled.status).toBe(200);
    expect(disabled.body?.disabledAt).toBeTruthy();
    expect((await call('/api/auth/me', { headers: as(fiona, false) })).status).toBe(401);
    expect((await call('/api/auth/sign-in', { method: 'POST', body: { email: 'fiona@example.com', password: 'finance password 1' } })).status).toBe(401);
  });

  it('refuses to leave the gateway without an active admin', async () => {
    const admin = await signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    const [{ id }] = (await stack.db.query(`SELECT id FROM users WHERE email = $1`, [ADMIN_EMAIL])).rows;
    const demote = await call(`/api/admin/users/${id}`, { method: 'PATCH', body: { role: 'finance' }, headers: as(admin) });
    expect(demote.status).toBe(409);
    expect((await call('/api/auth/me', { headers: as(admin, false) })).body?.role).toBe('admin');
  });

  it('issues scoped, expiring API tokens shown once and stored hashed', async () => {
    const admin = await signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    const issued = await call('/api/admin/api-tokens', { method: 'POST', body: { name: 'finance sheet', role: 'finance', expiresInDays: 30 }, headers: as(admin) });
    expect(issued.status).toBe(201);
    const token = issued.body!.token as string;
    expect(token).toMatch(/^tga-[A-Za-z0-9_-]{43}$/);
    const me = await call('/api/auth/me', { headers: { authorization: `Bearer ${token}` } });
    expect(me.body).toMatchObject({ kind: 'api_token', role: 'finance' });
    // Scoped: a finance token cannot manage users; no CSRF needed for bearer tokens, but the role still applies.
    expect((await call('/api/admin/users', { headers: { authorization: `Bearer ${token}` } })).status).toBe(403);
    const listed = await call('/api/admin/api-tokens', { headers: as(admin, false) });
    expect(JSON.stringify(listed.body)).not.toContain(token);
    const dump = JSON.stringify((await stack.db.query('SELECT * FROM api_tokens')).rows);
    expect(dump).not.toContain(token);

    await stack.db.query(`UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1`, [issued.body!.record.id]);
    expect((await call('/api/auth/me', { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    await stack.db.query(`UPDATE api_tokens SET expires_at = now() + interval '1 day' WHERE id = $1`, [issued.body!.record.id]);
    expect((await call(`/api/admin/api-tokens/${issued.body!.record.id}`, { method: 'DELETE', headers: as(admin) })).status).toBe(200);
    expect((await call('/api/auth/me', { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
  });

  it('keeps ADMIN_TOKEN as a break-glass admin bearer', async () => {
    const me = await call('/api/auth/me', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(me.body).toMatchObject({ kind: 'admin_token', role: 'admin' });
  });

  it('audits every administrative action with who, when and from where, append-only and admin-only', async () => {
    const admin = await signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    const org = await call('/api/admin/orgs', { method: 'POST', body: { name: 'audited', openaiOrgId: 'org-audited', apiKey: 'sk-audit-secret-0000000001' }, headers: as(admin) });
    expect(org.status).toBe(201);
    const key = await call(`/api/admin/orgs/${org.body!.id}/keys`, { method: 'POST', body: { apiKey: 'sk-audit-secret-0000000002' }, headers: as(admin) });
    expect(key.status).toBe(201);
    const log = await call('/api/admin/audit?limit=10', { headers: as(admin, false) });
    expect(log.status).toBe(200);
    const entries = log.body as unknown as Array<Record<string, unknown>>;
    const actions = entries.map((e) => e.action);
    expect(actions).toContain('org.create');
    expect(actions).toContain('upstream_key.add');
    const entry = entries.find((e) => e.action === 'upstream_key.add')!;
    expect(entry).toMatchObject({ actor: ADMIN_EMAIL, actorRole: 'admin', targetType: 'upstream_key' });
    expect(entry.ip).toMatch(/127\.0\.0\.1/);
    expect(JSON.stringify(entries)).not.toContain('sk-audit-secret');
    await expect(stack.db.query(`DELETE FROM audit_log`)).rejects.toThrow(/append-only/);
    await expect(stack.db.query(`UPDATE audit_log SET actor = 'someone else'`)).rejects.toThrow(/append-only/);
    expect((await call('/api/admin/audit?limit=abc', { headers: as(admin, false) })).status).toBe(400);
  });
});

describe('HTTP hardening', () => {
  it('sends secure headers on the API and the dashboard, and no CORS unless configured', async () => {
    const response = await fetch(`${stack.url}/api/auth/me`, { headers: { origin: 'https://evil.example' } });
    expect(response.status).toBe(401);
    expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await fetch(`${stack.url}/api/admin/users`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    // The gateway answers SDKs: no browser headers on the hot path.
    const gateway = await fetch(`${stack.url}/v1/models`, { headers: { authorization: `Bearer ${stack.features[0].gatewayKey}` } });
    expect(gateway.status).toBe(200);
    expect(gateway.headers.get('content-security-policy')).toBeNull();
  });

  it('allows only the configured origins when CORS_ORIGINS is set', async () => {
    const other = await startStack({ env: { CORS_ORIGINS: 'https://dash.example.com' } });
    try {
      const allowed = await fetch(`${other.url}/api/auth/me`, { headers: { origin: 'https://dash.example.com' } });
      expect(allowed.headers.get('access-control-allow-origin')).toBe('https://dash.example.com');
      const denied = await fetch(`${other.url}/api/auth/me`, { headers: { origin: 'https://evil.example' } });
      expect(denied.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await other.close();
    }
  });

  it('caps request bodies on /api far below the gateway limit', async () => {
    const response = await call('/api/auth/sign-in', { method: 'POST', body: { email: 'a@b.co', password: 'x'.repeat(100_000) } });
    expect(response.status).toBe(413);
  });
});

