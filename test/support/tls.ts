// A self-signed certificate for 127.0.0.1 and localhost, written where TLS_CERT_FILE / TLS_KEY_FILE can point.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';

export interface TestCertificate {
  certFile: string;
  keyFile: string;
  /** The certificate itself: clients trust it as their CA. */
  ca: string;
  env: { TLS_CERT_FILE: string; TLS_KEY_FILE: string };
}

export async function selfSignedCertificate(): Promise<TestCertificate> {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] }],
  });
  const dir = await mkdtemp(join(tmpdir(), 'tallygate-tls-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  await writeFile(certFile, pems.cert);
  await writeFile(keyFile, pems.private, { mode: 0o600 });
  return { certFile, keyFile, ca: pems.cert, env: { TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile } };
}
