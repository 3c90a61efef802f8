// The one way the dashboard talks to the gateway: JSON in and out, OpenAI-shaped errors turned
// into ApiError with the server's own message, credentials added by the auth module.
import type { OpenAIErrorBody } from '../../server/contract/index.js';
import { authHeaders, onUnauthenticated } from './auth.js';

// OpenAI's error shape, as the API contract names it.
export type { OpenAIErrorBody };

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string | null = null,
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {
    super(message);
  }
  /** The endpoint is not there (yet): pages show "not available" rather than an alarm. */
  get missing(): boolean {
    return this.status === 404 && (this.code === null || this.code === 'not_found') && /cannot|route/i.test(this.message);
  }
}

export type Query = Record<string, string | number | boolean | null | undefined | string[]>;

export function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === null || value === undefined || value === '') continue;
    if (Array.isArray(value)) value.forEach((v) => params.append(key, v));
    else params.set(key, String(value));
  }
  const qs = params.toString();
  return qs ? `${path}${path.includes('?') ? '&' : '?'}${qs}` : path;
}

async function toError(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as Partial<OpenAIErrorBody> & { message?: string };
    if (body.error?.message) return new ApiError(res.status, body.error.message, body.error.type, body.error.code, body.error.param);
    if (body.message) return new ApiError(res.status, String(body.message));
  } catch {
    // not JSON: fall through to a generic message
  }
  return new ApiError(res.status, `${res.status} ${res.statusText || 'error'}${text && text.length < 200 ? `: ${text}` : ''}`);
}

export async function request<T>(method: string, path: string, options: { query?: Query; body?: unknown; signal?: AbortSignal } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...authHeaders(method) };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(withQuery(path, options.query), {
      method,
      headers,
      credentials: 'same-origin',
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    });
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    throw new ApiError(0, 'Cannot reach the gateway. Check that it is running, then retry.');
  }
  if (!res.ok) {
    const error = await toError(res);
    if (res.status === 401) onUnauthenticated(error.message);
    throw error;
  }
  if (res.status === 204) return undefined as T;
  const type = res.headers.get('content-type') ?? '';
  return (type.includes('json') ? await res.json() : await res.text()) as T;
}

export const api = {
  get: <T>(path: string, query?: Query, signal?: AbortSignal) => request<T>('GET', path, { query, signal }),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, { body: body ?? {} }),
  patch: <T>(path: string, body: unknown) => request<T>('PATCH', path, { body }),
  put: <T>(path: string, body: unknown) => request<T>('PUT', path, { body }),
  delete: <T>(path: string) => request<T>('DELETE', path),
};

/** Downloads a CSV the API produces, with credentials (a plain link could not send the bearer token). */
export async function downloadCsv(path: string, query: Query, filename: string): Promise<void> {
  const res = await fetch(withQuery(path, query), { headers: { accept: 'text/csv', ...authHeaders('GET') }, credentials: 'same-origin' });
  if (!res.ok) throw await toError(res);
  const url = URL.createObjectURL(await res.blob());
  const link = document.createElement('a');
  link.href = url;
  // The server's name (org, period, zone) wins over the fallback the caller gave.
  link.download = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
