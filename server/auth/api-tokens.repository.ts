// Every SQL statement on API tokens (stored as SHA-256 hashes).
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Role } from './roles.decorator.js';

export interface ApiToken {
  id: string;
  name: string;
  role: Role;
  masked: string;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export interface NewApiToken {
  hash: Buffer;
  masked: string;
  name: string;
  role: Role;
  createdBy: string;
  expiresInDays: number;
}

const COLUMNS = `id, name, role, masked, created_by AS "createdBy", created_at AS "createdAt", expires_at AS "expiresAt",
  last_used_at AS "lastUsedAt", revoked_at AS "revokedAt"`;

@Injectable()
export class ApiTokensRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insert(token: NewApiToken): Promise<ApiToken> {
    const [record] = (await this.dataSource.query(
      `INSERT INTO api_tokens (token_hash, masked, name, role, created_by, expires_at)
       VALUES ($1, $2, $3, $4, $5, now() + make_interval(days => $6)) RETURNING ${COLUMNS}`,
      [token.hash, token.masked, token.name, token.role, token.createdBy, token.expiresInDays],
    )) as ApiToken[];
    return record;
  }

  list(): Promise<ApiToken[]> {
    return this.dataSource.query(`SELECT ${COLUMNS} FROM api_tokens ORDER BY created_at DESC`) as Promise<ApiToken[]>;
  }

  async revoke(id: string): Promise<ApiToken | undefined> {
    // TypeORM answers UPDATE … RETURNING with [rows, affected].
    const [rows] = (await this.dataSource.query(`UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING ${COLUMNS}`, [id])) as [
      ApiToken[],
      number,
    ];
    return rows[0];
  }

  /** The live token with this hash, its last use set to now. */
  async use(hash: Buffer): Promise<{ id: string; name: string; role: Role } | undefined> {
    const rows = (await this.dataSource.query(
      `UPDATE api_tokens SET last_used_at = now() WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()
       RETURNING id, name, role`,
      [hash],
    )) as [Array<{ id: string; name: string; role: Role }>, number];
    return rows[0]?.[0];
  }
}
