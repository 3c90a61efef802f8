// The admin REST API as a script or the dashboard uses it (driven with supertest): validation in
// OpenAI's error shape, secrets shown once and masked afterwards, conflicts, revocation.
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startStack, type Stack } from '../support/stack.js';

let stack: Stack;
let api: ReturnType<typeof request>;
beforeAll(async () => {
  stack = await startStack();
  api = request(stack.app.getHttpServer());
});
afterAll(() => stack?.close());

const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

describe('admin API', () => {
  it('creates an org with its upstream key, and never returns the key again', async () => {
    const created = await api.post('/api/admin/orgs').set(auth).send({ name: 'acme', openaiOrgId: 'org-acme', apiKey: 'sk-acme-secret-key-9876' });
    expect(created.status).toBe(201);
    expect(created.body.upstreamKeys).toEqual([expect.objectContaining({ masked: 'sk-…9876' })]);
    expect(JSON.stringify(created.body)).not.toContain('secret-key');
    const listed = await api.get('/api/admin/orgs').set(auth);
    expect(JSON.stringify(listed.body)).not.toContain('secret-key');
    expect(listed.body.map((o: { name: string }) => o.name)).toContain('acme');
  });

  it('answers bad input with 400 in OpenAI shape naming the field, and unknown fields too', async () => {
    const bad = await api.post('/api/admin/orgs').set(auth).send({ name: 'x', openaiOrgId: 'acme' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ type: 'invalid_request_error', param: 'openaiOrgId' });
    const unknown = await api.post('/api/admin/orgs').set(auth).send({ name: 'y', openaiOrgId: 'org-y', isAdmin: true });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toMatch(/Unknown parameter/);
    const notJson = await api.post('/api/admin/orgs').set(auth).set('content-type', 'application/json').send('{"name":');
    expect(notJson.status).toBe(400);
    expect(notJson.body.error.code).toBe('invalid_json');
  });

  it('refuses a second org with the same OpenAI org id with 409', async () => {
    const again = await api.post('/api/admin/orgs').set(auth).send({ name: 'acme-2', openaiOrgId: 'org-acme' });
    expect(again.status).toBe(409);
  });

  it('issues a gateway key once, lists it masked, and revokes it', async () => {
    const org = stack.orgs[0];
    const feature = await api.post('/api/admin/features').set(auth).send({ slug: 'api-test', name: 'API test', defaultOrgId: org.id, monthlyBudgetUsd: 25 });
    expect(feature.status).toBe(201);
    expect(feature.body.monthlyBudgetNanos).toBe(25e9);
    const issued = await api.post(`/api/admin/features/${feature.body.id}/gateway-keys`).set(auth).send({ name: 'ci' });
    expect(issued.status).toBe(201);
    const key: string = issued.body.key;
    expect(key).toMatch(/^tg-[A-Za-z0-9_-]{43}$/);
    const listed = await api.get(`/api/admin/gateway-keys?feature=${feature.body.id}`).set(auth);
    expect(listed.body).toEqual([expect.objectContaining({ name: 'ci', masked: `tg-…${key.slice(-4)}`, revokedAt: null })]);
    expect(JSON.stringify(listed.body)).not.toContain(key);

    expect((await stack.client({ id: feature.body.id, slug: 'api-test', gatewayKey: key }).models.list()).data.length).toBeGreaterThan(0);
    const revoked = await api.delete(`/api/admin/gateway-keys/${issued.body.record.id}`).set(auth);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revokedAt).not.toBeNull();
    const error = await stack.client({ id: feature.body.id, slug: 'api-test', gatewayKey: key }).models.list().catch((e: { status: number }) => e);
    expect((error as { status: number }).status).toBe(401);
  });

  it('is closed without credentials', async () => {
    const res = await api.get('/api/admin/orgs');
    expect(res.status).toBe(401);
    expect(res.body.error.type).toBe('authentication_error');
  });
});
