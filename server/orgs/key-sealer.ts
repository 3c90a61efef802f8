// Seals upstream keys with AES-256-GCM under the master key. Format: v1.<iv>.<tag>.<ciphertext>
// (base64url). The previous master key is accepted for opening during a rotation.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

export class KeySealer {
  private readonly keys: Buffer[];

  constructor(current: string, previous?: string) {
    this.keys = [current, previous].filter((k): k is string => !!k).map((k) => Buffer.from(k, 'base64'));
  }

  seal(secret: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys[0], iv);
    const data = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return ['v1', iv, cipher.getAuthTag(), data].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
  }

  open(sealed: string): string {
    for (const key of this.keys) {
      const secret = openWith(key, sealed);
      if (secret !== undefined) return secret;
    }
    throw new Error('sealed key cannot be opened with the configured master key(s)');
  }

  /** True when the value is sealed under the current master key (its rotation is done). */
  isCurrent(sealed: string): boolean {
    return openWith(this.keys[0], sealed) !== undefined;
  }
}

function openWith(key: Buffer, sealed: string): string | undefined {
  const [version, iv, tag, data] = sealed.split('.');
  if (version !== 'v1' || !iv || !tag || data === undefined) throw new Error('sealed key has an unknown format');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    return undefined; // authentication failed: not this key
  }
}

/** `sk-…abcd`: enough to recognise a key, never enough to use it. */
export function maskSecret(secret: string): string {
  const prefix = secret.startsWith('sk-') ? 'sk-' : secret.startsWith('tg-') ? 'tg-' : '';
  return `${prefix}…${secret.slice(-4)}`;
}

export function hashGatewayKey(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

/** 256 random bits, prefixed so leaked keys are recognisable by secret scanners. */
export function newGatewayKey(): string {
  return `tg-${randomBytes(32).toString('base64url')}`;
}
