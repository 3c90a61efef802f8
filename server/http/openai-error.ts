// OpenAI's error shape, used for every error Tallygate makes itself (gateway, admin and analytics
// APIs alike), so one client-side handler reads them all.

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export class OpenAIError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
    /** Sent as x-should-retry: false when a retry cannot help (bad key, budget, bad input). */
    readonly retryable = false,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  body(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }

  responseHeaders(): Record<string, string> {
    return { 'content-type': 'application/json; charset=utf-8', 'x-should-retry': String(this.retryable), ...this.headers };
  }
}

export const badRequest = (message: string, param: string | null = null, code: string | null = null) =>
  new OpenAIError(400, message, 'invalid_request_error', code, param);
export const notFound = (message: string) => new OpenAIError(404, message, 'invalid_request_error', 'not_found');
export const conflict = (message: string, param: string | null = null) =>
  new OpenAIError(409, message, 'invalid_request_error', 'conflict', param);

/** The answer to a request that arrives once this replica is stopping (any route, not only /v1). */
export function shuttingDown(): OpenAIError {
  return new OpenAIError(
    503,
    'This Tallygate replica is shutting down and takes no new requests. Retry: another replica (or this one, restarted) will answer.',
    'server_error',
    'gateway_shutting_down',
    null,
    true,
    { 'retry-after': '1', connection: 'close' },
  );
}
