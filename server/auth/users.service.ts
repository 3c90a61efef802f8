// Dashboard users: created, changed and disabled by admins; the first admin from a one-time bootstrap.
import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { conflict, notFound } from '../http/openai-error.js';
import type { CreateUser, UpdateUser } from './auth.dto.js';
import { hashPassword } from './passwords.js';
import { UsersRepository, type User } from './users.repository.js';

export type { User } from './users.repository.js';

const UNIQUE_VIOLATION = '23505';
const UNDEFINED_TABLE = '42P01';

@Injectable()
export class UsersService implements OnApplicationBootstrap {
  private readonly logger = new Logger('Users');

  constructor(
    private readonly users: UsersRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Runs after migrations (createApp migrates before init). */
  async onApplicationBootstrap(): Promise<void> {
    const { ADMIN_EMAIL, ADMIN_PASSWORD } = this.config;
    if (!ADMIN_EMAIL || !ADMIN_PASSWORD) return;
    let created: User | null;
    try {
      created = await this.bootstrapAdmin(ADMIN_EMAIL, ADMIN_PASSWORD);
    } catch (error) {
      // The CLI boots Nest before it migrates a brand-new database; the next start bootstraps.
      if ((error as { code?: string }).code === UNDEFINED_TABLE || (error as { driverError?: { code?: string } }).driverError?.code === UNDEFINED_TABLE) return;
      throw error;
    }
    if (created) this.logger.log(`Created the first admin user ${created.email} from ADMIN_EMAIL; you may now unset ADMIN_PASSWORD.`);
  }

  /** Creates an admin only while no user exists at all, so a leftover ADMIN_PASSWORD can never reset anything. */
  async bootstrapAdmin(email: string, password: string): Promise<User | null> {
    const passwordHash = await hashPassword(password);
    return this.users.insertFirstAdmin(email.trim().toLowerCase(), passwordHash);
  }

  async findByEmail(email: string): Promise<User> {
    const user = await this.users.byEmail(email.trim().toLowerCase());
    if (!user) throw notFound(`No user with email ${email}.`);
    return user;
  }

  /** For the demo only: creates the user, or resets its role and password and re-enables it. */
  async upsertForDemo(input: CreateUser): Promise<User> {
    const passwordHash = await hashPassword(input.password);
    return this.users.upsert({ email: input.email, name: input.name ?? '', passwordHash, role: input.role });
  }

  list(): Promise<User[]> {
    return this.users.list();
  }

  async get(id: string): Promise<User> {
    const user = await this.users.byId(id);
    if (!user) throw notFound(`No user with id ${id}.`);
    return user;
  }

  async create(input: CreateUser): Promise<User> {
    const passwordHash = await hashPassword(input.password);
    try {
      return await this.users.insert({ email: input.email, name: input.name ?? '', passwordHash, role: input.role });
    } catch (error) {
      if ((error as { code?: string }).code === UNIQUE_VIOLATION || (error as { driverError?: { code?: string } }).driverError?.code === UNIQUE_VIOLATION) {
        throw conflict('A user with that email already exists.', 'email');
      }
      throw error;
    }
  }

  /** Disabling a user or changing their password ends their sessions; a role change applies on their next request. */
  async update(id: string, patch: UpdateUser): Promise<User> {
    const passwordHash = patch.password ? await hashPassword(patch.password) : null;
    await this.users.transaction(async (tx) => {
      const current = await this.users.lockById(tx, id);
      if (!current) throw notFound(`No user with id ${id}.`);
      await this.users.update(tx, id, { role: patch.role ?? null, name: patch.name ?? null, passwordHash, disabled: patch.disabled ?? null });
      if ((await this.users.lockActiveAdmins(tx)) === 0) throw conflict('This would leave no active admin. Make another user an admin first.');
      if (patch.disabled || passwordHash) await this.users.endSessions(tx, id);
    });
    return this.get(id);
  }
}
