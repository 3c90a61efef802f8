// What the gateway says on the wire around a call, apart from the lifecycle: which request headers
// go upstream and which response headers come back, which paths and path parameters are accepted,
// and how a failure becomes OpenAI's error shape. Pure functions, no state.
import type { IncomingHttpHeaders } from 'node:http';
import { Transform } from 'node:stream';
import { errors as undiciErrors } from 'undici';
import { toOpenAIError } from '../http/error.filter.js';
import { OpenAIError } from '../http/openai-error.js';
import { TEXT_MAX } from '../ledger/bounds.js';
import type { Route } from '../orgs/route-resolver.js';
import { header } from './usage-event.builder.js';

/**
 * Client headers forwarded upstream: only these (and the X-Stainless-* family), the ones the
 * official SDKs send (OPENAI-WIRE.md). Anything else (api-key, cookies, X-Forwarded-*, proxies'
 * and browsers' headers) stays here; authorization, OpenAI-Organization/-Project, content-type and
 * content-length are set by the gateway itself, and accept-encoding is not sent so that metering
 * reads the body uncompressed. One Set lookup per header, as the deny-list it replaces.
 */
const FORWARD_REQUEST = new Set(['accept', 'user-agent', 'openai-beta', 'idempotency-key', 'x-client-request-id']);
/** The SDK's X-Stainless-* (retry count, timeout, platform); x-sim-* drives the project's simulator (OpenAI ignores it). */
const forwardedPrefix = (name: string) => name.charCodeAt(0) === 120 /* x */ && (name.startsWith('x-stainless-') || name.startsWith('x-sim-'));
/** Path parameters (model ids such as `ft:gpt-4o-mini:org:name:abc123`): a conservative charset, no `..`. */
const PATH_PARAM = /^[A-Za-z0-9_.:-]{1,256}$/;
/**
 * The raw path of a call on the rest of the surface: /v1 and segments of the characters OpenAI's
 * paths and ids use. No `%` at all (the SDK never percent-encodes an id; `%2e%2e` or `%2f` would
 * address another path once decoded upstream), no empty segment; `.` and `..` are refused apart.
 */
const RAW_PATH = /^\/v1(?:\/[A-Za-z0-9_.:~-]{1,256})+$/;
const DOT_SEGMENT = /\/\.\.?(?:\/|$)/;
/** The shape of the keys Tallygate issues (`tg-` and 32 random bytes in base64url), to tell a malformed key from an unknown one. */
export const GATEWAY_KEY = /^Bearer\s+tg-[A-Za-z0-9_-]{43}\s*$/i;
/** Response headers never relayed: hop-by-hop, and cookies set for OpenAI's own domain. */
const DROP_RESPONSE = new Set(['connection', 'keep-alive', 'transfer-encoding', 'set-cookie', 'alt-svc']);

/** Why the upstream request was cancelled: the gateway's shutdown reached the end of its grace period. */
export class ShutdownCutError extends Error {
  constructor() {
    super('cut by the gateway shutting down');
  }
}

export { shuttingDown } from '../http/openai-error.js';

/** Why the upstream request was cancelled: the client disconnected first. */
export class ClientGoneError extends Error {
  constructor() {
    super('client disconnected');
  }
}


/**
 * The request's model, cut just past the ledger's text cap: a 30 MB model string must not reach
 * pricing's and pacing's per-model caches whole. One character over the cap is kept so the ledger
 * still truncates it and flags the row as clamped.
 */
export function modelOf(model: unknown): string | null {
  if (typeof model !== 'string') return null;
  return model.length > TEXT_MAX ? model.slice(0, TEXT_MAX + 1) : model;
}

export function retryCount(headers: IncomingHttpHeaders): number {
  const n = Number(header(headers, 'x-stainless-retry-count'));
  return Number.isInteger(n) && n >= 0 && n < 1000 ? n : 0;
}

export function upstreamHeaders(incoming: IncomingHttpHeaders, route: Route, contentType: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || !(FORWARD_REQUEST.has(name) || forwardedPrefix(name))) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  if (contentType) out['content-type'] = contentType;
  const length = header(incoming, 'content-length');
  if (contentType?.startsWith('multipart/') && length) out['content-length'] = length;
  out.authorization = `Bearer ${route.org.upstreamKey}`;
  out['openai-organization'] = route.org.openaiOrgId;
  if (route.org.projectId) out['openai-project'] = route.org.projectId;
  return out;
}

export function responseHeaders(upstream: Record<string, string | string[] | undefined>, bodyChanged: boolean, eventId: string) {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(upstream)) {
    if (value === undefined || DROP_RESPONSE.has(name) || (bodyChanged && name === 'content-length')) continue;
    out[name] = value;
  }
  out['x-tallygate-event-id'] = eventId;
  return out;
}

/** Why Fastify could not read the body, in OpenAI's shape (an empty body said as such). */
export function unreadBody(error: Error & { code?: string }): OpenAIError {
  if (error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
    return new OpenAIError(400, 'The request body is empty. Send a JSON object with Content-Type: application/json.', 'invalid_request_error', 'invalid_json');
  }
  return toOpenAIError(error);
}

/** Refuses a raw path outside /v1's OpenAI shape (encoded or dot-segment traversal), before anything is sent. */
export function checkPath(url: string): void {
  const query = url.indexOf('?');
  const path = query < 0 ? url : url.slice(0, query);
  if (!RAW_PATH.test(path) || DOT_SEGMENT.test(path)) {
    throw new OpenAIError(400, 'Invalid request path: use /v1/ and segments of letters, digits and - _ . : ~ only (no percent-encoding, no "." or ".." segments, no empty segment).', 'invalid_request_error', 'invalid_path');
  }
}

/** Counts an upload's bytes as they pass and fails it past `limit`, never holding more than a chunk. */
export function cappedBody(limit: number): Transform {
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      if (bytes > limit) return done(Object.assign(new Error(`upload exceeds ${limit} bytes`), { code: 'TALLYGATE_BODY_TOO_LARGE', limit: 'FILE_LIMIT_BYTES' }));
      done(null, chunk);
    },
  });
}

/** Refuses a path parameter that could address anything but the one resource (`..`, `/` once decoded). */
export function checkParams(names: readonly string[], params: Record<string, string>): void {
  for (const name of names) {
    const value = params[name] ?? '';
    if (!PATH_PARAM.test(value) || value.includes('..')) {
      throw new OpenAIError(400, `Invalid ${name} in the request path: use 1 to 256 letters, digits and . _ : - (no "..", no "/").`, 'invalid_request_error', 'invalid_path_parameter', name);
    }
  }
}

export function toGatewayError(error: unknown, sent: boolean): OpenAIError {
  if (error instanceof OpenAIError) return error;
  // Failed before anything went upstream: the gateway's own fault, never blamed on OpenAI.
  if (!sent) return new OpenAIError(500, 'The gateway had an internal error before sending your request to OpenAI. Try again; if it persists, tell the Tallygate operators.', 'server_error', 'internal_error', null, true);
  if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError) {
    return new OpenAIError(504, 'The upstream OpenAI API did not answer in time.', 'server_error', 'upstream_timeout', null, true);
  }
  if (error instanceof undiciErrors.ConnectTimeoutError) {
    return new OpenAIError(504, 'Timed out connecting to the upstream OpenAI API.', 'server_error', 'upstream_timeout', null, true);
  }
  if (error instanceof undiciErrors.RequestContentLengthMismatchError) {
    return new OpenAIError(400, 'The request body was shorter or longer than its Content-Length.', 'invalid_request_error', 'invalid_body');
  }
  const code = (error as { code?: string }).code;
  if (code === 'TALLYGATE_BODY_TIMEOUT') {
    return new OpenAIError(408, `The upload stalled: ${(error as Error).message} (REQUEST_BODY_IDLE_TIMEOUT_MS / REQUEST_BODY_TIMEOUT_MS). It was not completed; send it again.`, 'invalid_request_error', 'request_timeout', null, true, { connection: 'close' });
  }
  if (code === 'TALLYGATE_BODY_TOO_LARGE') {
    return new OpenAIError(413, `The upload is larger than this gateway accepts (${(error as { limit?: string }).limit ?? 'AUDIO_LIMIT_BYTES'}).`, 'invalid_request_error', 'request_too_large');
  }
  return new OpenAIError(502, 'Could not reach the upstream OpenAI API. Try again shortly.', 'server_error', 'upstream_unreachable', null, true);
}

