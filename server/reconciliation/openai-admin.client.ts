// Reads pages of OpenAI's admin Usage and Costs API with an org's admin key. Waits out 429s for as long as
// retry-after says (OpenAI rate-limits these endpoints), retries 5xx and network failures with backoff, and
// keeps every amount.value exactly as OpenAI wrote the decimal (JSON.parse would round it to a double).
import { request } from 'undici';
import { adminPageSchema, type AdminPage } from './reconciliation.dto.js';

export class AdminApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export interface AdminClientOptions {
  /** Attempts per page before the sync records an error and stops (the next run resumes at the watermark). */
  maxAttempts?: number;
  /** Ceiling on one wait, whatever retry-after says. */
  maxWaitMs?: number;
}

// `"value": 0.000123` → `"value": "0.000123"`: only the amount's value is a decimal in these answers.
const AMOUNT_VALUE = /("value"\s*:\s*)(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason as Error);
      },
      { once: true },
    );
  });

export class OpenAIAdminClient {
  private readonly maxAttempts: number;
  private readonly maxWaitMs: number;
  /** Times this client waited on a 429, for the sync status and tests. */
  rateLimitedWaits = 0;

  constructor(options: AdminClientOptions = {}) {
    this.maxAttempts = options.maxAttempts ?? 8;
    this.maxWaitMs = options.maxWaitMs ?? 60_000;
  }

  /** One page: `path` is `organization/usage/completions` or `organization/costs`; baseUrl includes /v1. */
  async page(baseUrl: string, adminKey: string, path: string, query: URLSearchParams, signal?: AbortSignal): Promise<AdminPage> {
    const url = `${baseUrl}/${path}?${query.toString()}`;
    for (let attempt = 1; ; attempt++) {
      let status: number;
      let text: string;
      let retryAfterMs: number | undefined;
      try {
        const response = await request(url, {
          method: 'GET',
          headers: { authorization: `Bearer ${adminKey}`, accept: 'application/json' },
          signal,
          headersTimeout: 30_000,
          bodyTimeout: 60_000,
        });
        status = response.statusCode;
        text = await response.body.text();
        retryAfterMs = retryAfter(response.headers['retry-after-ms'], response.headers['retry-after']);
      } catch (error) {
        if (signal?.aborted) throw error;
        if (attempt >= this.maxAttempts) throw new AdminApiError(`OpenAI's admin API at ${baseUrl} could not be reached: ${(error as Error).message}`, 0);
        await sleep(Math.min(this.maxWaitMs, 250 * 2 ** attempt), signal);
        continue;
      }
      if (status === 200) {
        const parsed = adminPageSchema.safeParse(JSON.parse(text.replace(AMOUNT_VALUE, '$1"$2"')));
        if (!parsed.success) throw new AdminApiError(`OpenAI's admin API answered ${path} in an unexpected shape: ${parsed.error.issues[0]?.message}`, status);
        return parsed.data;
      }
      const retryable = status === 429 || status >= 500;
      if (!retryable || attempt >= this.maxAttempts) throw new AdminApiError(describe(status, text, path), status);
      if (status === 429) this.rateLimitedWaits++;
      await sleep(Math.min(this.maxWaitMs, retryAfterMs ?? 500 * 2 ** attempt), signal);
    }
  }
}

function retryAfter(ms: string | string[] | undefined, seconds: string | string[] | undefined): number | undefined {
  const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  const msValue = Number(first(ms));
  if (first(ms) !== undefined && Number.isFinite(msValue) && msValue >= 0) return msValue;
  const s = Number(first(seconds));
  return first(seconds) !== undefined && Number.isFinite(s) && s >= 0 ? s * 1000 : undefined;
}

/** OpenAI's own message (never the key), with what to do about the usual ones. */
function describe(status: number, text: string, path: string): string {
  let message = text.slice(0, 300);
  try {
    const body = JSON.parse(text) as { error?: { message?: string } };
    if (body.error?.message) message = body.error.message;
  } catch {
    // not JSON: keep the text
  }
  const hint =
    status === 401 || status === 403
      ? ' Check the org\'s admin key (an admin key from platform.openai.com/settings/organization/admin-keys, not a project key) and set it again.'
      : '';
  return `OpenAI's admin API refused ${path} (${status}): ${message}${hint}`;
}
