// Dashboard users: created, changed and disabled by admins; the first admin from a one-time bootstrap.
import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { conflict, notFound } from '../http/openai-error.js';
import type { CreateUser, UpdateUser } from './auth.dto.js';
import { hashPassword } from './passwords.js';
import type { Role } from './roles.decorator.js';

export interface User {
  id: string;
  email: string;
  name: string;
  role: Role;
  createdAt: Date;
  updatedAt: Date;
  disabledAt: Date | null;
}

const COLUMNS = `id, email, name, role, created_at AS "createdAt", updated_at AS "updatedAt", disabled_at AS "disabledAt"`;
const UNIQUE_VIOLATION = '23505';
const UNDEFINED_TABLE = '42P01';

@Injectable()
export class UsersService implements OnApplicationBootstrap {
  private readonly logger = new Logger('Users');

  constructor(
    private readonly dataSource: DataSource,
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
    const rows = (await this.dataSource.query(
      `INSERT INTO users (email, name, password_hash, role)
       SELECT $1, 'Admin', $2, 'admin' WHERE NOT EXISTS (SELECT 1 FROM users)
       ON CONFLICT DO NOTHING RETURNING ${COLUMNS}`,
      [email.trim().toLowerCase(), passwordHash],
    )) as User[];
    return rows[0] ?? null;
  }

  async findByEmail(email: string): Promise<User> {
    const [user] = (await this.dataSource.query(`SELECT ${COLUMNS} FROM users WHERE email = $1`, [email.trim().toLowerCase()])) as User[];
    if (!user) throw notFound(`No user with email ${email}.`);
    return user;
  }

  /** For the demo only: creates the user, or resets its role and password and re-enables it. */
  async upsertForDemo(input: CreateUser): Promise<User> {
    const passwordHash = await hashPassword(input.password);
    const [user] = (await this.dataSource.query(
      `INSERT INTO users (email, name, password_hash, role) VALUES ($1, $2, $3, $4)
       ON CONFLICT (email) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role, disabled_at = NULL, updated_at = now()
       RETURNING ${COLUMNS}`,
      [input.email, input.name ?? '', passwordHash, input.role],
    )) as User[];
    return user;
  }

  list(): Promise<User[]> {
    return this.dataSource.query(`SELECT ${COLUMNS} FROM users ORDER BY email`) as Promise<User[]>;
  }

  async get(id: string): Promise<User> {
    const [user] = (await this.dataSource.query(`SELECT ${COLUMNS} FROM users WHERE id = $1`, [id])) as User[];
    if (!user) throw notFound(`No user with id ${id}.`);
    return user;
  }

  async create(input: CreateUser): Promise<User> {
    const passwordHash = await hashPassword(input.password);
    try {
      const [user] = (await this.dataSource.query(
        `INSERT INTO users (email, name, password_hash, role) VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`,
        [input.email, input.name ?? '', passwordHash, input.role],
      )) as User[];
      return user;
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
    await this.dataSource.transaction(async (tx) => {
      const [current] = (await tx.query(`SELECT ${COLUMNS} FROM users WHERE id = $1 FOR UPDATE`, [id])) as User[];
      if (!current) throw notFound(`No user with id ${id}.`);
      await tx.query(
        `UPDATE users SET role = COALESCE($2, role), name = COALESCE($3, name), password_hash = COALESCE($4, password_hash),
           disabled_at = CASE WHEN $5::boolean IS NULL THEN disabled_at WHEN $5 THEN COALESCE(disabled_at, now()) ELSE NULL END,
           updated_at = now()
         WHERE id = $1`,
        [id, patch.role ?? null, patch.name ?? null, passwordHash, patch.disabled ?? null],
      );
      // Lock the admins' rows so two admins demoting each other cannot both succeed.
      const [{ admins }] = (await tx.query(
        `SELECT count(*)::int AS admins FROM (SELECT 1 FROM users WHERE role = 'admin' AND disabled_at IS NULL FOR UPDATE) a`,
      )) as Array<{ admins: number }>;
      if (admins === 0) throw conflict('This would leave no active admin. Make another user an admin first.');
      if (patch.disabled || passwordHash) {
        await tx.query(`UPDATE sessions SET ended_at = now() WHERE user_id = $1 AND ended_at IS NULL`, [id]);
      }
    });
    return this.get(id);
  }
}
