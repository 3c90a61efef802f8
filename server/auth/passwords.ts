// Password hashing: argon2id with the library's OWASP-level defaults (19 MiB, 2 passes).
import { Algorithm, hash, verify } from '@node-rs/argon2';

export const hashPassword = (password: string) => hash(password, { algorithm: Algorithm.Argon2id });

// Verified against when the email is unknown, so a missing account costs the same time as a wrong password.
let dummy: Promise<string> | undefined;

export async function verifyPassword(passwordHash: string | null, password: string): Promise<boolean> {
  if (passwordHash === null) {
    dummy ??= hashPassword('tallygate-timing-equaliser');
    await verify(await dummy, password).catch(() => false);
    return false;
  }
  return verify(passwordHash, password).catch(() => false);
}
