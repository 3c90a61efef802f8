// Where alert webhooks may go. An admin (or whoever holds an admin session) chooses the URL, and the
// gateway runs inside the company's network: a webhook must not become a way to reach what only
// the gateway can (a cloud metadata endpoint, the database's host, an internal admin API). So the
// address a URL resolves to is checked at connect time (not only when the channel is saved: DNS can
// change, "rebinding"): link-local and unspecified addresses are always refused, loopback and
// private ranges unless ALERTS_ALLOW_PRIVATE_URLS=true (an internal receiver, or tests).
import { lookup } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { Agent } from 'undici';

const NEVER = new BlockList();
NEVER.addSubnet('0.0.0.0', 8);
NEVER.addSubnet('169.254.0.0', 16); // link-local, cloud metadata (169.254.169.254)
NEVER.addSubnet('224.0.0.0', 3); // multicast and reserved
NEVER.addAddress('::', 'ipv6');
NEVER.addSubnet('fe80::', 10, 'ipv6');
NEVER.addSubnet('ff00::', 8, 'ipv6');
NEVER.addAddress('fd00:ec2::254', 'ipv6'); // AWS metadata over IPv6

const PRIVATE = new BlockList();
PRIVATE.addSubnet('127.0.0.0', 8);
PRIVATE.addSubnet('10.0.0.0', 8);
PRIVATE.addSubnet('172.16.0.0', 12);
PRIVATE.addSubnet('192.168.0.0', 16);
PRIVATE.addSubnet('100.64.0.0', 10); // carrier-grade NAT, often internal
PRIVATE.addAddress('::1', 'ipv6');
PRIVATE.addSubnet('fc00::', 7, 'ipv6');

/** Why an address may not be called (undefined: it may). */
export function refusal(address: string, allowPrivate: boolean): string | undefined {
  // IPv4 inside IPv6 (::ffff:10.0.0.1) is checked as the IPv4 address it is.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  const ip = mapped ?? address;
  const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
  if (NEVER.check(ip, family)) return `${address} is a link-local, multicast or unspecified address`;
  if (!allowPrivate && PRIVATE.check(ip, family)) return `${address} is a loopback or private address (set ALERTS_ALLOW_PRIVATE_URLS=true to allow internal receivers)`;
  return undefined;
}

export class OutboundRefused extends Error {}

/** Throws OutboundRefused when the URL's host is an address that may not be called. */
export function checkLiteralHost(url: string, allowPrivate: boolean): void {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  if (!isIP(host)) return;
  const why = refusal(host, allowPrivate);
  if (why) throw new OutboundRefused(`refused: ${why}`);
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | Array<{ address: string; family: number }>, family?: number) => void;

/** An HTTP agent whose every connection goes only to addresses `refusal` allows. */
export function guardedAgent(allowPrivate: boolean): Agent {
  return new Agent({
    connect: {
      lookup(hostname: string, options: object, callback: LookupCallback) {
        lookup(hostname, { ...options, all: true }, (error, addresses) => {
          if (error) return callback(error, []);
          const refused = addresses.map((a) => refusal(a.address, allowPrivate)).find(Boolean);
          if (refused) return callback(Object.assign(new OutboundRefused(`refused: ${hostname} resolves to ${refused}`), { code: 'EREFUSED_ADDRESS' }), []);
          if ((options as { all?: boolean }).all) return callback(null, addresses);
          callback(null, addresses[0].address, addresses[0].family);
        });
      },
    },
  } as ConstructorParameters<typeof Agent>[0]);
}
