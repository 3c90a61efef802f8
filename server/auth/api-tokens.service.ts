// Scoped API tokens for automation (a spreadsheet pulling statements): a role and an expiry,
// stored as a SHA-256 hash, shown once.
import { Injectable } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { notFound } from '../http/openai-error.js';
import type { Principal } from './principal.js';
import type { CreateApiToken } from './auth.dto.js';
import { ApiTokensRepository, type ApiToken } from './api-tokens.repository.js';

export const API_TOKEN_PREFIX = 'tga-';

export type { ApiToken } from './api-tokens.repository.js';
export interface IssuedApiToken {
  /** Shown once; only its hash is stored. */
  token: string;
  record: ApiToken;
}

const tokenHash = (token: string) => createHash('sha256').update(token).digest();

@Injectable()
export class ApiTokensService {
  constructor(private readonly tokens: ApiTokensRepository) {}

  async create(input: CreateApiToken, creator: Principal): Promise<IssuedApiToken> {
    const token = `${API_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    const record = await this.tokens.insert({
      hash: tokenHash(token),
      masked: `${API_TOKEN_PREFIX}…${token.slice(-4)}`,
      name: input.name,
      role: input.role,
      createdBy: creator.email ?? creator.name ?? creator.id,
      expiresInDays: input.expiresInDays,
    });
    return { token, record };
  }

  list(): Promise<ApiToken[]> {
    return this.tokens.list();
  }

  async revoke(id: string): Promise<ApiToken> {
    const row = await this.tokens.revoke(id);
    if (!row) throw notFound(`No API token with id ${id}.`);
    return row;
  }

  /** The token's principal when it is live (hash lookup: nothing to time). */
  async authenticate(token: string): Promise<Principal | null> {
    const row = await this.tokens.use(tokenHash(token));
    return row ? { kind: 'api_token', id: row.id, name: `api token ${row.name}`, role: row.role } : null;
  }
}
