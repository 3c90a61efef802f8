// The certificate and key the gateway serves HTTPS with (TLS_CERT_FILE, TLS_KEY_FILE), read once at boot.
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/config.js';

export function readTlsFiles(certFile: string, keyFile: string): { cert: Buffer; key: Buffer } {
  const read = (file: string, name: string) => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new ConfigError(`${name}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}). Point it at a PEM file the gateway can read.`);
    }
  };
  return { cert: read(certFile, 'TLS_CERT_FILE'), key: read(keyFile, 'TLS_KEY_FILE') };
}
