// Alert channels end to end: a webhook retried with backoff until it answers 2xx (each attempt in the
// delivery log with its response code, every one signed), a permanent refusal not retried, Slack's
// payload shape, an email received by a real SMTP server, and secrets sealed at rest.
import { createHmac, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeliveriesWorker } from '../../server/alerts/deliveries.worker.js';
import { eventually, startReceiver, type Receiver } from '../support/receiver.js';
import { ADMIN_TOKEN, startStack, type Stack } from '../support/stack.js';

let stack: Stack;
let hook: Receiver;
let smtp: SMTPServer;
const mails: Array<{ from: string; to: string[]; raw: string }> = [];
const SECRET = 'channel-secret-' + randomBytes(8).toString('hex');

async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const response = await fetch(`${stack.url}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${response.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

interface DeliveryView {
  id: string;
  channelId: string;
  event: string;
  status: string;
  attempts: number;
  responseCode: number | null;
  error: string | null;
}
const delivery = async (id: string) => (await api<{ deliveries: DeliveryView[] }>('/api/alerts/deliveries')).deliveries.find((d) => d.id === id)!;
const drain = () => stack.app.get(DeliveriesWorker).drain();

beforeAll(async () => {
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      let raw = '';
      stream.on('data', (c: Buffer) => (raw += c.toString('utf8')));
      stream.on('end', () => {
        mails.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), raw });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', () => resolve()));
  const port = (smtp.server.address() as AddressInfo).port;
  hook = await startReceiver();
  stack = await startStack({ env: { ALERTS_RETRY_BASE_MS: '100', ALERTS_EVAL_INTERVAL_MS: '0', SMTP_URL: `smtp://127.0.0.1:${port}`, ALERTS_EMAIL_FROM: 'Tallygate <alerts@tallygate.test>' } });
});
afterAll(async () => {
  await stack?.close();
  await hook?.close();
  await new Promise<void>((resolve) => smtp?.close(() => resolve()));
});

describe('webhook channel', () => {
  it('retries with backoff until 2xx, logs each attempt with its response code, signs every body', async () => {
    const channel = await api<{ id: string; target: string; secretMasked: string }>('/api/alerts/channels', {
      method: 'POST',
      body: { kind: 'webhook', name: 'ops hook', url: `${hook.url}/hook?token=abc123`, secret: SECRET },
    });
    expect(channel.target).toBe(hook.url); // origin only: the path and query may carry a token
    expect(channel.secretMasked).toBe(`…${SECRET.slice(-4)}`);
    hook.failWith.push(500, 503);
    const started = Date.now();
    const { deliveryId } = await api<{ deliveryId: string }>(`/api/alerts/channels/${channel.id}/test`, { method: 'POST' });
    await drain();
    expect(await delivery(deliveryId)).toMatchObject({ status: 'pending', attempts: 1, responseCode: 500 });
    const done = await eventually(async () => {
      await drain();
      const d = await delivery(deliveryId);
      return d.status === 'delivered' && d;
    });
    expect(done).toMatchObject({ attempts: 3, responseCode: 200, error: null });
    // Backoff: 100 ms then 200 ms at least between the attempts.
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    const attempts = hook.received.filter((r) => r.path === '/hook?token=abc123');
    expect(attempts).toHaveLength(3);
    for (const r of attempts) {
      expect(r.headers['x-tallygate-signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(r.body).digest('hex')}`);
      expect(r.headers['x-tallygate-delivery']).toBe(deliveryId);
      expect(r.headers['content-type']).toBe('application/json');
    }
    const body = JSON.parse(attempts[0].body) as { event: string; alert: { title: string } };
    expect(body.event).toBe('test');
    expect(body.alert.title).toMatch(/Test notification/);
    // A body changed in transit no longer matches its signature.
    expect(`sha256=${createHmac('sha256', SECRET).update(attempts[0].body + ' ').digest('hex')}`).not.toBe(attempts[0].headers['x-tallygate-signature']);

    // Sealed at rest: neither the secret nor the URL's token is in the database in clear.
    const { rows } = await stack.db.query(`SELECT target, sealed, masked FROM alert_channels WHERE id = $1`, [channel.id]);
    expect(JSON.stringify(rows)).not.toContain(SECRET);
    expect(JSON.stringify(rows)).not.toContain('abc123');
  });

  it('a permanent refusal (404) is not retried; it is logged as failed with its code', async () => {
    const channel = await api<{ id: string }>('/api/alerts/channels', { method: 'POST', body: { kind: 'webhook', name: 'gone hook', url: `${hook.url}/gone`, secret: SECRET } });
    hook.failWith.push(404);
    const { deliveryId } = await api<{ deliveryId: string }>(`/api/alerts/channels/${channel.id}/test`, { method: 'POST' });
    await drain();
    expect(await delivery(deliveryId)).toMatchObject({ status: 'failed', attempts: 1, responseCode: 404 });
    await api(`/api/alerts/channels/${channel.id}`, { method: 'PATCH', body: { enabled: false } });
  });
});

describe('webhook destinations', () => {
  it('never calls a link-local address such as the cloud metadata endpoint: failed at once, not retried', async () => {
    const channel = await api<{ id: string }>('/api/alerts/channels', { method: 'POST', body: { kind: 'webhook', name: 'metadata', url: 'http://169.254.169.254/latest/meta-data/', secret: SECRET } });
    const { deliveryId } = await api<{ deliveryId: string }>(`/api/alerts/channels/${channel.id}/test`, { method: 'POST' });
    await drain();
    expect(await delivery(deliveryId)).toMatchObject({ status: 'failed', attempts: 1, responseCode: null, error: expect.stringMatching(/^refused: 169\.254\.169\.254 is a link-local/) });
    await api(`/api/alerts/channels/${channel.id}`, { method: 'PATCH', body: { enabled: false } });
  });
});

describe('slack channel', () => {
  it('posts a readable text and blocks to the incoming webhook', async () => {
    const channel = await api<{ id: string; target: string }>('/api/alerts/channels', { method: 'POST', body: { kind: 'slack', name: '#ops', url: `${hook.url}/services/T000/B000/XXXXSECRET` } });
    expect(channel.target).toBe(hook.url);
    const { deliveryId } = await api<{ deliveryId: string }>(`/api/alerts/channels/${channel.id}/test`, { method: 'POST' });
    await drain();
    expect(await delivery(deliveryId)).toMatchObject({ status: 'delivered', responseCode: 200 });
    const posted = hook.received.find((r) => r.path === '/services/T000/B000/XXXXSECRET')!;
    const payload = JSON.parse(posted.body) as { text: string; blocks: Array<{ type: string; text?: { type: string; text: string }; elements?: unknown[] }> };
    expect(payload.text).toMatch(/^:wave: Test: Test notification from Tallygate: This channel works/);
    expect(payload.blocks[0]).toMatchObject({ type: 'section', text: { type: 'mrkdwn' } });
    expect(payload.blocks[0].text!.text).toContain('*:wave: Test: Test notification from Tallygate*');
    expect(payload.blocks[1].type).toBe('context');
    expect(posted.headers['x-tallygate-signature']).toBeUndefined();
    await api(`/api/alerts/channels/${channel.id}`, { method: 'PATCH', body: { enabled: false } });
  });
});

describe('email channel', () => {
  it('is received by the SMTP server with a subject naming the alert', async () => {
    const channel = await api<{ id: string; target: string }>('/api/alerts/channels', { method: 'POST', body: { kind: 'email', name: 'finance list', to: ['finance@example.test', 'ops@example.test'] } });
    expect(channel.target).toBe('finance@example.test, ops@example.test');
    const { deliveryId } = await api<{ deliveryId: string }>(`/api/alerts/channels/${channel.id}/test`, { method: 'POST' });
    await drain();
    const d = await eventually(async () => {
      const found = await delivery(deliveryId);
      return found.status !== 'pending' && found;
    });
    expect(d).toMatchObject({ status: 'delivered', responseCode: 250 });
    expect(mails).toHaveLength(1);
    expect(mails[0].from).toBe('alerts@tallygate.test');
    expect(mails[0].to.sort()).toEqual(['finance@example.test', 'ops@example.test']);
    expect(mails[0].raw).toMatch(/^Subject: \[Tallygate TEST\] Test notification from Tallygate/m);
    expect(mails[0].raw).toContain('This channel works');
  });
});
