// `npm run demo` signs in as each role: one user per role with a fresh password each run.
import { randomBytes } from 'node:crypto';
import { ROLES, type Role } from '../auth/roles.decorator.js';
import type { UsersService } from '../auth/users.service.js';

export interface DemoCredentials {
  role: Role;
  email: string;
  password: string;
}

export async function seedDemoUsers(users: UsersService): Promise<DemoCredentials[]> {
  const credentials: DemoCredentials[] = [];
  for (const role of ROLES) {
    const email = `${role}@demo.tallygate.local`;
    const password = randomBytes(12).toString('base64url');
    await users.upsertForDemo({ email, password, role, name: `Demo ${role}` });
    credentials.push({ role, email, password });
  }
  return credentials;
}
