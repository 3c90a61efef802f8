// Where alert webhooks may connect: the address checks, and a real connection through the guarded agent.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fetch } from 'undici';
import { describe, expect, it } from 'vitest';
import { checkLiteralHost, guardedAgent, OutboundRefused, refusal } from '../../server/alerts/outbound.js';

describe('alert webhook destinations', () => {
  it('refuses link-local (metadata) always, loopback and private ranges unless allowed', () => {
    for (const address of ['169.254.169.254', 'fe80::1', '0.0.0.0', '::', 'fd00:ec2::254', '::ffff:169.254.169.254']) {
      expect(refusal(address, true)).toBeDefined();
      expect(refusal(address, false)).toBeDefined();
    }
    for (const address of ['127.0.0.1', '10.1.2.3', '172.20.0.5', '192.168.1.1', '100.64.0.1', '::1', 'fd12:3456::1', '::ffff:10.0.0.1']) {
      expect(refusal(address, false)).toMatch(/ALERTS_ALLOW_PRIVATE_URLS/);
      expect(refusal(address, true)).toBeUndefined();
    }
    for (const address of ['93.184.216.34', '2606:4700::1111', '172.32.0.1']) expect(refusal(address, false)).toBeUndefined();
  });

  it('checks an address written in the URL, which DNS never sees', () => {
    expect(() => checkLiteralHost('http://169.254.169.254/latest/meta-data/', true)).toThrow(OutboundRefused);
    expect(() => checkLiteralHost('http://[::1]:8080/hook', false)).toThrow(OutboundRefused);
    expect(() => checkLiteralHost('https://hooks.example.com/x', false)).not.toThrow();
  });

  it('checks what a name resolves to when it connects', async () => {
    const server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const url = `http://localhost:${(server.address() as AddressInfo).port}/hook`;
    try {
      const refused = await fetch(url, { method: 'POST', body: '{}', dispatcher: guardedAgent(false) }).then(
        () => undefined,
        (error: Error & { cause?: Error }) => error.cause ?? error,
      );
      expect(refused).toBeInstanceOf(OutboundRefused);
      expect(refused!.message).toMatch(/localhost resolves to (127\.0\.0\.1|::1) is a loopback/);
      const allowed = await fetch(url.replace('localhost', '127.0.0.1'), { method: 'POST', body: '{}', dispatcher: guardedAgent(true) });
      expect(await allowed.text()).toBe('ok');
    } finally {
      server.close();
    }
  });
});
