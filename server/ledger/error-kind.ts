// The kinds of failure a usage event records (usage_events.error_kind): classified by
// ratelimits/rate-limit-headers.ts from OpenAI's answer, or set by the gateway for its own refusals.
/**
 * What kind of failure a response was, by its error code and type rather than by status alone:
 * a billing 429 is not throttling, and "Request too large" can never succeed on retry.
 */
export type ErrorKind =
  | 'rate_limit_requests'
  | 'rate_limit_tokens'
  | 'request_too_large'
  | 'quota'
  | 'auth'
  | 'invalid_request'
  | 'not_found'
  | 'upstream_server_error'
  | 'upstream_unreachable'
  | 'upstream_timeout'
  | 'stream_error'
  | 'client_aborted'
  | 'upstream_aborted'
  /** Held by the gateway's own pacing past its bound and answered 429 without calling OpenAI. */
  | 'paced'
  | 'budget'
  /** The client left before the call was sent upstream: nothing reached OpenAI. */
  | 'not_sent'
  /** Cut by the gateway's shutdown at the end of its grace period. */
  | 'shutdown'
  /** The gateway's own store (Postgres) could not be reached to authorize the call: not OpenAI's fault. */
  | 'store_unavailable'
  | 'gateway';
