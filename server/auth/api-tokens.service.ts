// Scoped API tokens for automation (a spreadsheet pulling statements): a role and an expiry,
// stored as a SHA-256 hash, shown once.
import { Injectable } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { notFound } from '../http/openai-error.js';
import type { Principal } from './principal.js';
import type { CreateApiToken } from './auth.dto.js';
import type { Role } from './roles.decorator.js';

export const API_TOKEN_PREFIX = 'tga-';

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
export interface IssuedApiToken {
  /** Shown once; only its hash is stored. */
  token: string;
  record: ApiToken;
}

const COLUMNS = `id, name, role, masked, created_by AS "createdBy", created_at AS "createdAt", expires_at AS "expiresAt",
  last_used_at AS "lastUsedAt", revoked_at AS "revokedAt"`;
const tokenHash = (token: string) => createHash('sha256').update(token).digest();

@Injectable()
export class ApiTokensService {
  constructor(private readonly dataSource: DataSource) {}

  async create(input: CreateApiToken, creator: Principal): Promise<IssuedApiToken> {
    const token = `${API_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    const [record] = (await this.dataSource.query(
      `INSERT INTO api_tokens (token_hash, masked, name, role, created_by, expires_at)
       VALUES ($1, $2, $3, $4, $5, now() + make_interval(days => $6)) RETURNING ${COLUMNS}`,
      [tokenHash(token), `${API_TOKEN_PREFIX}…${token.slice(-4)}`, input.name, input.role, creator.email ?? creator.name ?? creator.id, input.expiresInDays],
    )) as ApiToken[];
    return { token, record };
  }

  list(): Promise<ApiToken[]> {
    return this.dataSource.query(`SELECT ${COLUMNS} FROM api_tokens ORDER BY created_at DESC`) as Promise<ApiToken[]>;
  }

  async revoke(id: string): Promise<ApiToken> {
    // TypeORM answers UPDATE … RETURNING with [rows, affected].
    const [rows] = (await this.dataSource.query(
      `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING ${COLUMNS}`,
      [id],
    )) as [ApiToken[], number];
    const row = rows[0];
    if (!row) throw notFound(`No API token with id ${id}.`);
    return row;
  }

  /** The token's principal when it is live (hash lookup: nothing to time). */
  async authenticate(token: string): Promise<Principal | null> {
    const rows = (await this.dataSource.query(
      `UPDATE api_tokens SET last_used_at = now() WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()
       RETURNING id, name, role`,
      [tokenHash(token)],
    )) as [Array<{ id: string; name: string; role: Role }>, number];
    const row = rows[0]?.[0];
    return row ? { kind: 'api_token', id: row.id, name: `api token ${row.name}`, role: row.role } : null;
  }
}
