import { describe, expect, it } from 'vitest';
import { createApiTokenSchema, createUserSchema, signInSchema, updateUserSchema } from '../../server/auth/auth.dto.js';
import { hashPassword, verifyPassword } from '../../server/auth/passwords.js';
import { loadConfig } from '../../server/config/config.js';

const MASTER_KEY = Buffer.alloc(32, 1).toString('base64');

describe('passwords', () => {
  it('hashes with argon2id, salted, and verifies only the right password', async () => {
    const [a, b] = await Promise.all([hashPassword('correct horse battery'), hashPassword('correct horse battery')]);
    expect(a).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword(a, 'correct horse battery')).toBe(true);
    expect(await verifyPassword(a, 'correct horse batterY')).toBe(false);
    expect(await verifyPassword('not a hash', 'anything')).toBe(false);
  });

  it('spends about as long on an unknown account as on a wrong password', async () => {
    const hash = await hashPassword('some password here');
    await verifyPassword(null, 'warm up the dummy hash');
    const time = async (f: () => Promise<unknown>) => {
      const start = performance.now();
      await f();
      return performance.now() - start;
    };
    // Interleaved pairs and the median ratio, so load from other test files shifts both sides alike.
    const ratios: number[] = [];
    for (let i = 0; i < 9; i++) {
      const known = await time(() => verifyPassword(hash, 'wrong password'));
      const unknown = await time(() => verifyPassword(null, 'wrong password'));
      ratios.push(unknown / known);
    }
    const median = ratios.sort((a, b) => a - b)[4];
    expect(median).toBeGreaterThan(0.5);
    expect(median).toBeLessThan(2);
  });
});

describe('input schemas', () => {
  it('normalises emails and refuses weak or oversized passwords and unknown roles', () => {
    expect(createUserSchema.parse({ email: ' Ann@Example.COM ', password: 'twelve chars!', role: 'finance' }).email).toBe('ann@example.com');
    expect(createUserSchema.safeParse({ email: 'ann@example.com', password: 'short', role: 'finance' }).success).toBe(false);
    expect(createUserSchema.safeParse({ email: 'ann@example.com', password: 'x'.repeat(257), role: 'finance' }).success).toBe(false);
    expect(createUserSchema.safeParse({ email: 'ann@example.com', password: 'twelve chars!', role: 'root' }).success).toBe(false);
    expect(updateUserSchema.safeParse({ passwordHash: 'x' }).success).toBe(false);
    expect(signInSchema.safeParse({ email: 'ann@example.com', password: 'p'.repeat(300) }).success).toBe(false);
  });

  it('requires every API token to expire within a year', () => {
    expect(createApiTokenSchema.safeParse({ name: 'sheet', role: 'finance' }).success).toBe(false);
    expect(createApiTokenSchema.safeParse({ name: 'sheet', role: 'finance', expiresInDays: 367 }).success).toBe(false);
    expect(createApiTokenSchema.parse({ name: 'sheet', role: 'finance', expiresInDays: 90 }).expiresInDays).toBe(90);
  });
});

describe('configuration', () => {
  it('defaults to 30-minute idle and 12-hour sessions, no CORS, no proxy trust', () => {
    const config = loadConfig({ MASTER_KEY });
    expect(config.SESSION_IDLE_MINUTES).toBe(30);
    expect(config.SESSION_MAX_HOURS).toBe(12);
    expect(config.CORS_ORIGINS).toBeUndefined();
    expect(config.TRUST_PROXY).toBe(false);
  });

  it('reads TRUST_PROXY as a flag or a list of proxy addresses, and refuses a short bootstrap password', () => {
    expect(loadConfig({ MASTER_KEY, TRUST_PROXY: 'true' }).TRUST_PROXY).toBe(true);
    expect(loadConfig({ MASTER_KEY, TRUST_PROXY: 'loopback, 10.0.0.0/8' }).TRUST_PROXY).toEqual(['loopback', '10.0.0.0/8']);
    expect(() => loadConfig({ MASTER_KEY, ADMIN_EMAIL: 'a@b.co', ADMIN_PASSWORD: 'short' })).toThrow(/ADMIN_PASSWORD/);
  });
});
