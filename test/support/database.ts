import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { ensureDatabase } from '../../server/database/embedded-postgres.js';

/** A fresh, migrated database of this test file's own, cloned from the run's template. */
export async function createTestDatabase(): Promise<string> {
  const name = `tallygate_test_${randomBytes(6).toString('hex')}`;
  return ensureDatabase(inject('pgServerUrl'), name, 'tallygate_test_template');
}
