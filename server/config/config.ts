// The one typed configuration object, parsed from the environment once at boot.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
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
    .string({ error: (issue) => (issue.input === undefined ? 'is required: 32 random bytes, base64-encoded (openssl rand -base64 32)' : undefined) })
    .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be 32 bytes, base64-encoded (openssl rand -base64 32)'),
  /** The previous master key during a rotation (see docs/operations.md). */
  MASTER_KEY_PREVIOUS: z
    .string()
    .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be 32 bytes, base64-encoded')
    .optional(),
  /** Break-glass bearer token that acts as an admin on /api (bootstrap, automation of last resort); off when unset. */
  ADMIN_TOKEN: z.string().min(24, 'must be at least 24 characters').optional(),
  /** Largest JSON request body accepted on /v1 (OpenAI accepts images inline, so this is generous). */
  BODY_LIMIT_BYTES: bytes(32 * 1024 * 1024),
  /** Largest multipart (audio) upload: OpenAI's 25 MB file limit plus form overhead. */
  AUDIO_LIMIT_BYTES: bytes(26 * 1024 * 1024),
  /** Largest upload on the other /v1 routes (files, uploads parts): OpenAI's 512 MB file limit plus form overhead. */
  FILE_LIMIT_BYTES: bytes(513 * 1024 * 1024),
  UPSTREAM_CONNECT_TIMEOUT_MS: ms(10_000),
  /** Time to the upstream's response headers (a long reasoning call may take minutes). */
  UPSTREAM_HEADERS_TIMEOUT_MS: ms(600_000),
  /** Longest silence between two body chunks before the upstream is declared stalled. */
  UPSTREAM_IDLE_TIMEOUT_MS: ms(120_000),
  /** Sockets to one upstream origin (every org shares api.openai.com); a long stream holds one for its whole length. */
  UPSTREAM_CONNECTIONS_PER_ORIGIN: z.coerce.number().int().positive().default(1024),
  /**
   * Calls one org may have in flight upstream at once (per replica); past it, 429
   * gateway_concurrency_limit at once. Below the pool size, so one org (all share api.openai.com)
   * cannot hold every connection. 0 turns it off. High enough for a busy chatbot's concurrent
   * streams (bench:faults runs 200 at once against one org): a fairness bound, not a throttle.
   */
  UPSTREAM_MAX_CONCURRENT_PER_ORG: z.coerce.number().int().nonnegative().default(512),
  /** The same per feature (one feature must not starve the others of its org); 0 (the default) turns it off. */
  UPSTREAM_MAX_CONCURRENT_PER_FEATURE: z.coerce.number().int().nonnegative().default(0),
  /** Longest silence while an upload streams in before it is answered 408 (a stalled upload holds an upstream connection). */
  REQUEST_BODY_IDLE_TIMEOUT_MS: ms(30_000),
  /** Longest an upload may take in all (25 MB at ~1 Mbit/s is ~200 s); also bounds any request body at the socket. */
  REQUEST_BODY_TIMEOUT_MS: ms(300_000),
  /** How long a gateway-key lookup is cached; revocation takes effect within this. */
  KEY_CACHE_TTL_MS: ms(5_000),
  /**
   * With Postgres down, a key seen before keeps working this long past its cache expiry (a key
   * revoked meanwhile on another replica works as long; unknown keys get 503 at once).
   */
  KEY_CACHE_OUTAGE_MS: ms(300_000),
  /** Redis shared by the replicas of one deployment (change notices, headroom); unset: one process's own state. */
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional(),
  /** Prefix of every Redis key and channel, so deployments can share one Redis. */
  REDIS_PREFIX: z.string().min(1).max(64).default('tallygate:'),
  LEDGER_BATCH_SIZE: z.coerce.number().int().positive().default(1000),
  LEDGER_FLUSH_INTERVAL_MS: ms(250),
  /** Events held in memory while Postgres is slow or down; past this they spill to DATA_DIR/spill. */
  /** Raw usage events are kept this many whole months back (0: forever); rollups are always kept. */
  LEDGER_RETENTION_MONTHS: z.coerce.number().int().min(0).max(1200).default(0),
  /** How often a replica checks for partitions past the horizon (0: only `ledger:retention` from the CLI). */
  LEDGER_RETENTION_INTERVAL_MS: ms(6 * 3_600_000),
  /** Export each partition to <dir>/<partition>.csv.gz before dropping it (unset: drop without export). */
  LEDGER_RETENTION_EXPORT_DIR: z.string().min(1).optional(),
  LEDGER_MAX_QUEUE: z.coerce.number().int().positive().default(100_000),
  SHUTDOWN_GRACE_MS: ms(30_000),
  /** Distinct values a tag keeps per UTC month unless its declaration says otherwise; later ones are "other" (docs/attribution.md). */
  ATTRIBUTION_MAX_VALUES: z.coerce.number().int().min(1).max(100_000).default(1_000),
  /** Distinct end users (request `user` / `safety_identifier`) kept per UTC month; later ones are "other". */
  ATTRIBUTION_MAX_END_USERS: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
  /** Distinct tag names accepted (declared or not); a call's tags past it are dropped. */
  ATTRIBUTION_MAX_TAG_NAMES: z.coerce.number().int().min(1).max(1_000).default(50),
  /** How often each replica rereads tag declarations, feature tag settings and the values admitted this month. */
  ATTRIBUTION_REFRESH_MS: ms(30_000),
  /** Hold requests an org has no rate-limit room for until its window resets, for every org (docs/operations.md, "Pacing"). */
  PACING_ENABLED: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
  /** Pace only these orgs (comma-separated OpenAI org ids, `org-…`), even when PACING_ENABLED is false. */
  PACING_ORGS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean)),
  /** Longest a paced request waits for room; past it the gateway answers 429 with retry-after. */
  PACING_MAX_WAIT_MS: ms(10_000),
  /** Requests held per org and model at most; more are answered 429 at once. */
  PACING_MAX_QUEUE: z.coerce.number().int().positive().default(1_000),
  /** When set, GET /metrics requires `Authorization: Bearer <METRICS_TOKEN>`; otherwise firewall it. */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Days of per-minute headroom and throttling history kept (older minutes are deleted hourly). */
  RATELIMIT_HISTORY_DAYS: z.coerce.number().int().positive().default(90),
  /** First admin, created on start only while there are no users at all (one-time bootstrap). */
  ADMIN_EMAIL: z.string().email().optional(),
  ADMIN_PASSWORD: z.string().min(12, 'must be at least 12 characters').optional(),
  /** A session ends after this long without a request. */
  SESSION_IDLE_MINUTES: z.coerce.number().int().positive().default(30),
  /** A session ends this long after sign-in, however active. */
  SESSION_MAX_HOURS: z.coerce.number().int().positive().default(12),
  /** Failed sign-ins for one email within SIGN_IN_WINDOW_MINUTES before it is locked for that window. */
  SIGN_IN_MAX_FAILURES_PER_ACCOUNT: z.coerce.number().int().positive().default(5),
  /** Failed sign-ins from one address within the window before that address is refused. */
  SIGN_IN_MAX_FAILURES_PER_IP: z.coerce.number().int().positive().default(20),
  SIGN_IN_WINDOW_MINUTES: z.coerce.number().int().positive().default(15),
  /**
   * Behind a reverse proxy: true (trust any), or comma-separated proxy addresses/CIDRs (e.g.
   * loopback,10.0.0.0/8). Makes the client address (sign-in limits, audit) and https (Secure
   * cookies) come from X-Forwarded-For/-Proto. Leave false when clients connect directly.
   */
  TRUST_PROXY: z
    .string()
    .default('false')
    .transform((v): boolean | string[] => (v === 'true' ? true : v === 'false' ? false : v.split(',').map((a) => a.trim()))),
  /** Origins allowed to call /api from a browser (comma-separated); CORS is off when unset. */
  CORS_ORIGINS: z.string().optional(),
  /** Largest JSON body accepted on /api (the admin and analytics APIs take small forms). */
  API_BODY_LIMIT_BYTES: bytes(64 * 1024),
  /** PEM certificate (chain) file: with TLS_KEY_FILE, the gateway serves HTTPS and wss: itself (the SDK's realtime client always connects with wss:). */
  TLS_CERT_FILE: z.string().optional(),
  /** PEM private key file of TLS_CERT_FILE. */
  TLS_KEY_FILE: z.string().optional(),
  /** Realtime WebSocket sessions one feature may hold open at once (per replica); past it the upgrade is answered 429. 0 turns it off. */
  REALTIME_MAX_SESSIONS_PER_FEATURE: z.coerce.number().int().nonnegative().default(100),
  /** A realtime session with no frame either way for this long is closed (1001); 0 turns it off. */
  REALTIME_IDLE_TIMEOUT_MS: ms(300_000),
  /** Largest WebSocket message accepted from either side (a base64 audio chunk of a few seconds is well under 1 MB). */
  REALTIME_MAX_FRAME_BYTES: bytes(16 * 1024 * 1024),
  /** Longest a realtime session may last (OpenAI ends its own at 60 minutes); 0 turns it off. */
  REALTIME_MAX_SESSION_MS: ms(3_600_000),
  /** How often each org's usage and costs are synced from OpenAI's admin API (docs/reconciliation.md); 0 = only on demand. */
  RECON_SYNC_INTERVAL_MS: ms(3_600_000),
  /** How far back a sync reaches when an org's admin key is new (OpenAI keeps usage for longer; this bounds the first sync). */
  RECON_BACKFILL_DAYS: z.coerce.number().int().positive().max(365).default(90),
  /** Buckets asked for per page (OpenAI allows up to 168 hourly, 180 daily): fewer pages, fewer rate-limited calls. */
  RECON_PAGE_BUCKETS: z.coerce.number().int().min(1).max(168).default(168),
  /** How often each replica looks for batches due a poll (docs/batch.md); 0 = no watcher (metering only on demand). */
  BATCH_WATCH_INTERVAL_MS: ms(5_000),
  /** Batches one replica polls or meters per tick, at most. */
  BATCH_WATCH_MAX_PER_TICK: z.coerce.number().int().positive().max(1_000).default(10),
  /** First wait between polls of an unfinished batch; doubles per poll up to BATCH_POLL_MAX_MS. */
  BATCH_POLL_MIN_MS: ms(30_000),
  BATCH_POLL_MAX_MS: ms(600_000),
  /** How long a replica holds a batch it polls or meters; renewed at every chunk metered, so another takes over after a crash. */
  BATCH_LEASE_MS: z.coerce.number().int().min(1_000).default(120_000),
  /** Output lines written to the ledger between two saves of a batch's progress (what a restart meters again at most). */
  BATCH_METER_CHUNK_LINES: z.coerce.number().int().min(1).max(100_000).default(1_000),
  /** A batch output line longer than this is recorded failed unread (OpenAI's lines are far smaller). */
  BATCH_MAX_LINE_BYTES: bytes(16 * 1024 * 1024),
  /** How often each replica evaluates the alert rules (docs/alerting.md); 0 turns evaluation off on this replica. */
  ALERTS_EVAL_INTERVAL_MS: ms(30_000),
  /** First retry of a failed alert delivery after this; each next one waits twice as long (capped at 10 minutes). */
  ALERTS_RETRY_BASE_MS: ms(5_000),
  /** Attempts per delivery before it is marked failed. */
  ALERTS_DELIVERY_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(6),
  /** Longest one webhook or Slack call may take. */
  ALERTS_HTTP_TIMEOUT_MS: ms(10_000),
  /** Let webhooks reach loopback and private addresses (an internal receiver). Link-local/metadata addresses are always refused (server/alerts/outbound.ts). */
  ALERTS_ALLOW_PRIVATE_URLS: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
  /** SMTP server for email channels, e.g. smtp://user:pass@mail.example.com:587 (smtps:// for TLS); email channels fail without it. */
  SMTP_URL: z.string().regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL').optional(),
  /** The From: of alert emails. */
  ALERTS_EMAIL_FROM: z.string().default('Tallygate <tallygate@localhost>'),
  /** The dashboard's public URL, linked from notifications (e.g. https://tallygate.example.com). */
  ALERTS_DASHBOARD_URL: z.string().url().optional(),
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
  if (Boolean(result.data.TLS_CERT_FILE) !== Boolean(result.data.TLS_KEY_FILE)) {
    throw new ConfigError('Invalid configuration: TLS_CERT_FILE and TLS_KEY_FILE go together: set both (HTTPS) or neither (plain HTTP)');
  }
  return Object.freeze(result.data);
}

/**
 * Reads `.env` in the working directory into process.env when there is one (`npm start`, the demo
 * and the CLI call this first; tests pass their own env). Variables already in the environment win
 * over the file, as with Docker's or systemd's env files. Node's own parser (>= 20.12).
 */
export function loadEnvFile(path = resolve('.env')): void {
  if (!existsSync(path)) return;
  try {
    process.loadEnvFile(path);
  } catch (error) {
    throw new ConfigError(`Could not read ${path}: ${(error as Error).message}`);
  }
}
