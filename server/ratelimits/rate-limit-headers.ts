// Parsing of OpenAI's x-ratelimit-* headers and classification of 429s. Real responses may omit
// any header, so every value is optional and a malformed one is dropped rather than guessed. One too
// large for its ledger column (`x-ratelimit-limit-requests: 99999999999`, `reset: 999999999h`) is
// saturated at the column's maximum, which the ledger flags as clamped, rather than refused with the row.
import { COUNT_MAX, INT4_MAX, saturate } from '../ledger/bounds.js';
import type { ErrorKind } from '../ledger/error-kind.js';
import type { RateLimitSnapshot } from '../ledger/rate-limit-snapshot.js';

// Where these types used to live; the ledger owns them now (the usage event carries both).
export type { ErrorKind } from '../ledger/error-kind.js';
export type { RateLimitSnapshot } from '../ledger/rate-limit-snapshot.js';


const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 };

/** Go-style durations (`1s`, `6m0s`, `17ms`, `1h2m3.5s`, `0.5s`) → whole milliseconds, rounded up, at most INT4_MAX. */
export function parseDurationMs(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  const part = /(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/y;
  let total = 0;
  let at = 0;
  while (at < text.length) {
    part.lastIndex = at;
    const match = part.exec(text);
    if (!match) return undefined;
    total += Number(match[1]) * UNIT_MS[match[2]];
    at = part.lastIndex;
  }
  return at === 0 ? undefined : Math.ceil(saturate(total - 1e-9, INT4_MAX));
}

function parseCount(value: string | undefined, max: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  const n = Number(text);
  // Number('') is 0: an empty header is no value, not a limit of zero.
  return text !== '' && !Number.isNaN(n) && n >= 0 ? Math.floor(saturate(n, max)) : undefined;
}

type HeaderBag = Record<string, string | string[] | undefined>;
const header = (headers: HeaderBag, name: string) => {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
};

export function parseRateLimitHeaders(headers: HeaderBag): RateLimitSnapshot {
  const h = (name: string) => header(headers, `x-ratelimit-${name}`);
  return {
    limitRequests: parseCount(h('limit-requests'), INT4_MAX),
    remainingRequests: parseCount(h('remaining-requests'), INT4_MAX),
    resetRequestsMs: parseDurationMs(h('reset-requests')),
    limitTokens: parseCount(h('limit-tokens'), COUNT_MAX),
    remainingTokens: parseCount(h('remaining-tokens'), COUNT_MAX),
    resetTokensMs: parseDurationMs(h('reset-tokens')),
    limitProjectTokens: parseCount(h('limit-project-tokens'), COUNT_MAX),
    remainingProjectTokens: parseCount(h('remaining-project-tokens'), COUNT_MAX),
    resetProjectTokensMs: parseDurationMs(h('reset-project-tokens')),
  };
}


const QUOTA_CODES = new Set([
  'insufficient_quota',
  'credit_balance_exhausted',
  'organization_spend_limit_exceeded',
  'project_spend_limit_exceeded',
  'organization_usage_limit_exceeded',
  'billing_hard_limit_reached',
]);

export function classifyError(status: number, type?: string | null, code?: string | null, message?: string | null): ErrorKind {
  if (type === 'insufficient_quota' || (code && QUOTA_CODES.has(code))) return 'quota';
  if (status === 429 || code === 'rate_limit_exceeded') {
    if (message && /^Request too large/i.test(message)) return 'request_too_large';
    if (type === 'tokens' || (message && /\(TPM\)|tokens per min/i.test(message))) return 'rate_limit_tokens';
    return 'rate_limit_requests';
  }
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not_found';
  if (status >= 500) return 'upstream_server_error';
  return 'invalid_request';
}

/** Kinds that count as throttling on the dashboard (quota is billing, not throttling). */
export const THROTTLE_KINDS: ReadonlySet<ErrorKind> = new Set(['rate_limit_requests', 'rate_limit_tokens', 'request_too_large']);
