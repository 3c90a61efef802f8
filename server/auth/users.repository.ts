// Every SQL statement on dashboard users.
import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
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

/** A user as sign-in needs it. */
export interface UserCredentials {
  id: string;
  email: string;
  role: Role;
  password_hash: string;
  disabled_at: Date | null;
}

export interface UserRow {
  email: string;
  name: string;
  passwordHash: string;
  role: Role;
}

export interface UserPatch {
  role: Role | null;
  name: string | null;
  passwordHash: string | null;
  disabled: boolean | null;
}

const COLUMNS = `id, email, name, role, created_at AS "createdAt", updated_at AS "updatedAt", disabled_at AS "disabledAt"`;

@Injectable()
export class UsersRepository {
  constructor(private readonly dataSource: DataSource) {}

  transaction<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(work);
  }

  /** Inserts an admin only while no user exists at all. */
  async insertFirstAdmin(email: string, passwordHash: string): Promise<User | null> {
    const rows = (await this.dataSource.query(
      `INSERT INTO users (email, name, password_hash, role)
       SELECT $1, 'Admin', $2, 'admin' WHERE NOT EXISTS (SELECT 1 FROM users)
       ON CONFLICT DO NOTHING RETURNING ${COLUMNS}`,
      [email, passwordHash],
    )) as User[];
    return rows[0] ?? null;
  }

  async byEmail(email: string): Promise<User | undefined> {
    const [user] = (await this.dataSource.query(`SELECT ${COLUMNS} FROM users WHERE email = $1`, [email])) as User[];
    return user;
  }

  async credentials(email: string): Promise<UserCredentials | undefined> {
    const [user] = (await this.dataSource.query(`SELECT id, email, role, password_hash, disabled_at FROM users WHERE email = $1`, [email])) as UserCredentials[];
    return user;
  }

  async byId(id: string): Promise<User | undefined> {
    const [user] = (await this.dataSource.query(`SELECT ${COLUMNS} FROM users WHERE id = $1`, [id])) as User[];
    return user;
  }

  list(): Promise<User[]> {
    return this.dataSource.query(`SELECT ${COLUMNS} FROM users ORDER BY email`) as Promise<User[]>;
  }

  async insert(user: UserRow): Promise<User> {
    const [row] = (await this.dataSource.query(`INSERT INTO users (email, name, password_hash, role) VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`, [
      user.email,
      user.name,
      user.passwordHash,
      user.role,
    ])) as User[];
    return row;
  }

  /** Creates the user, or resets its role and password and re-enables it. */
  async upsert(user: UserRow): Promise<User> {
    const [row] = (await this.dataSource.query(
      `INSERT INTO users (email, name, password_hash, role) VALUES ($1, $2, $3, $4)
       ON CONFLICT (email) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role, disabled_at = NULL, updated_at = now()
       RETURNING ${COLUMNS}`,
      [user.email, user.name, user.passwordHash, user.role],
    )) as User[];
    return row;
  }

  async lockById(tx: EntityManager, id: string): Promise<User | undefined> {
    const [user] = (await tx.query(`SELECT ${COLUMNS} FROM users WHERE id = $1 FOR UPDATE`, [id])) as User[];
    return user;
  }

  /** Applies the non-null parts of the patch. */
  async update(tx: EntityManager, id: string, patch: UserPatch): Promise<void> {
    await tx.query(
      `UPDATE users SET role = COALESCE($2, role), name = COALESCE($3, name), password_hash = COALESCE($4, password_hash),
         disabled_at = CASE WHEN $5::boolean IS NULL THEN disabled_at WHEN $5 THEN COALESCE(disabled_at, now()) ELSE NULL END,
         updated_at = now()
       WHERE id = $1`,
      [id, patch.role, patch.name, patch.passwordHash, patch.disabled],
    );
  }

  /** Active admins, their rows locked: two admins demoting each other cannot both succeed. */
  async lockActiveAdmins(tx: EntityManager): Promise<number> {
    const [{ admins }] = (await tx.query(
      `SELECT count(*)::int AS admins FROM (SELECT 1 FROM users WHERE role = 'admin' AND disabled_at IS NULL FOR UPDATE) a`,
    )) as Array<{ admins: number }>;
    return admins;
  }

  async endSessions(tx: EntityManager, userId: string): Promise<void> {
    await tx.query(`UPDATE sessions SET ended_at = now() WHERE user_id = $1 AND ended_at IS NULL`, [userId]);
  }
}
