// The one typed configuration object, parsed from the environment once at boot.
import { z } from 'zod';

const bytes = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const ms = (fallback: number) => z.coerce.number().int().nonnegative().default(fallback);

export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().default('0.0.0.0'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Postgres server; when unset an embedded Postgres is started under DATA_DIR/pg. */
  DATABASE_URL: z.string().url().optional(),
  DATA_DIR: z.string().default('./data'),
  /** Port of the embedded Postgres (only used without DATABASE_URL). */
  EMBEDDED_PG_PORT: z.coerce.number().int().min(1).max(65535).default(54329),
  /** 32 random bytes, base64: seals upstream keys at rest (AES-256-GCM). */
  MASTER_KEY: z
    .string()
    .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be 32 bytes, base64-encoded (openssl rand -base64 32)'),
  /** The previous master key during a rotation (see docs/operations.md). */
  MASTER_KEY_PREVIOUS: z
    .string()
    .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be 32 bytes, base64-encoded')
    .optional(),
  /** Bearer token for /api/admin until dashboard sign-in exists; admin API is off when unset. */
  ADMIN_TOKEN: z.string().min(24, 'must be at least 24 characters').optional(),
  /** Largest JSON request body accepted on /v1 (OpenAI accepts images inline, so this is generous). */
  BODY_LIMIT_BYTES: bytes(32 * 1024 * 1024),
  /** Largest multipart (audio) upload: OpenAI's 25 MB file limit plus form overhead. */
  AUDIO_LIMIT_BYTES: bytes(26 * 1024 * 1024),
  UPSTREAM_CONNECT_TIMEOUT_MS: ms(10_000),
  /** Time to the upstream's response headers (a long reasoning call may take minutes). */
  UPSTREAM_HEADERS_TIMEOUT_MS: ms(600_000),
  /** Longest silence between two body chunks before the upstream is declared stalled. */
  UPSTREAM_IDLE_TIMEOUT_MS: ms(120_000),
  UPSTREAM_CONNECTIONS_PER_ORIGIN: z.coerce.number().int().positive().default(256),
  /** How long a gateway-key lookup is cached; revocation takes effect within this. */
  KEY_CACHE_TTL_MS: ms(5_000),
  LEDGER_BATCH_SIZE: z.coerce.number().int().positive().default(1000),
  LEDGER_FLUSH_INTERVAL_MS: ms(250),
  /** Events held in memory while Postgres is slow or down; past this they spill to DATA_DIR/spill. */
  LEDGER_MAX_QUEUE: z.coerce.number().int().positive().default(100_000),
  SHUTDOWN_GRACE_MS: ms(30_000),
});

export type AppConfig = Readonly<z.infer<typeof configSchema>>;
export const APP_CONFIG = Symbol('APP_CONFIG');

export class ConfigError extends Error {}

/** Parses and validates; throws ConfigError with one line per bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  const result = configSchema.safeParse(cleaned);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration: ${lines.join('; ')}`);
  }
  return Object.freeze(result.data);
}
