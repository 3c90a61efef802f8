// The request side of a call: its body read and made ready for the upstream. JSON is validated and
// (for a stream) asked for exact usage; a multipart upload is piped through a meter (audio) or a
// byte cap (files), with timeouts; the rest goes as it came.
import type { Transform } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import type { AppConfig } from '../config/config.js';
import { OpenAIError } from '../http/openai-error.js';
import type { Call, Outgoing } from './call.js';
import type { Endpoint } from './endpoints.js';
import { AudioUploadMeter } from './meters/upload.js';
import { cappedBody, modelOf } from './wire.js';

type JsonBody = Record<string, unknown>;

/** What goes upstream for this call; sets what the body tells of it (model, stream, the upload meter). */
export function prepareBody(endpoint: Endpoint, req: FastifyRequest, call: Call, config: AppConfig): Outgoing {
  if (endpoint.body === 'none') return { bytes: undefined, hideUsageChunk: false, contentType: undefined };
  if (endpoint.body === 'any') return prepareAny(req, call, config);
  if (endpoint.body === 'multipart') {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > config.AUDIO_LIMIT_BYTES) {
      throw new OpenAIError(413, `The upload is ${declared} bytes; this gateway accepts up to ${config.AUDIO_LIMIT_BYTES} (AUDIO_LIMIT_BYTES).`, 'invalid_request_error', 'request_too_large');
    }
    call.audio = new AudioUploadMeter(req.headers, config.AUDIO_LIMIT_BYTES, endpoint.meter?.formFields);
    req.raw.pipe(call.audio.body);
    req.raw.once('error', (error) => call.audio?.body.destroy(error));
    limitUpload(req, call.audio.body, config);
    return { bytes: call.audio.body, hideUsageChunk: false, contentType: req.headers['content-type'] };
  }
  const json = req.body as JsonBody | undefined;
  if (!json || typeof json !== 'object' || Array.isArray(json)) {
    throw new OpenAIError(400, 'The request body must be a JSON object.', 'invalid_request_error', 'invalid_json');
  }
  call.model = modelOf(json.model);
  call.streamed = json.stream === true;
  let bytes = (req as FastifyRequest & { rawBody?: Buffer }).rawBody ?? Buffer.from(JSON.stringify(json));
  let hideUsageChunk = false;
  // Ask for exact usage on streams; the client only sees the usage chunk if it asked itself.
  if (call.streamed && endpoint.usageOption) {
    const options = json.stream_options;
    const asked = typeof options === 'object' && options !== null && (options as JsonBody).include_usage === true;
    if (!asked) {
      hideUsageChunk = true;
      bytes = Buffer.from(JSON.stringify({ ...json, stream_options: { ...(options as object), include_usage: true } }));
    }
  }
  return { bytes, hideUsageChunk, contentType: 'application/json', json };
}

/**
 * The rest of the surface: the body goes on as it came. A multipart upload (a file up to 512 MB)
 * is piped through unparsed, counted against FILE_LIMIT_BYTES; JSON goes as its raw bytes.
 */
function prepareAny(req: FastifyRequest, call: Call, config: AppConfig): Outgoing {
  const contentType = req.headers['content-type'];
  if ((req.query as Record<string, unknown> | undefined)?.stream === 'true') call.streamed = true;
  if (contentType?.startsWith('multipart/')) {
    const limit = config.FILE_LIMIT_BYTES;
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      throw new OpenAIError(413, `The upload is ${declared} bytes; this gateway accepts up to ${limit} (FILE_LIMIT_BYTES).`, 'invalid_request_error', 'request_too_large');
    }
    const upload = (call.upload = cappedBody(limit));
    req.raw.pipe(upload);
    req.raw.once('error', (error) => upload.destroy(error));
    limitUpload(req, upload, config);
    return { bytes: upload, hideUsageChunk: false, contentType };
  }
  const bytes = (req as FastifyRequest & { rawBody?: Buffer }).rawBody;
  if (!bytes) return { bytes: undefined, hideUsageChunk: false, contentType: undefined };
  const json = req.body as JsonBody | undefined;
  if (json && typeof json === 'object' && !Array.isArray(json)) {
    call.model = modelOf(json.model);
    call.streamed ||= json.stream === true;
  }
  // No `json`: a resource call cut short has no tokens to estimate.
  return { bytes, hideUsageChunk: false, contentType: 'application/json', json: undefined };
}

/**
 * A multipart upload streams through to the upstream as it arrives, holding an upstream
 * connection: one that stalls (REQUEST_BODY_IDLE_TIMEOUT_MS) or drags on
 * (REQUEST_BODY_TIMEOUT_MS) is failed, which cancels the upstream request and answers 408.
 */
function limitUpload(req: FastifyRequest, body: Transform, config: AppConfig): void {
  const { REQUEST_BODY_IDLE_TIMEOUT_MS: idleMs, REQUEST_BODY_TIMEOUT_MS: totalMs } = config;
  const fail = (message: string) => body.destroy(Object.assign(new Error(message), { code: 'TALLYGATE_BODY_TIMEOUT' }));
  const idle = idleMs > 0 ? setTimeout(() => fail(`no bytes of the upload for ${idleMs} ms`), idleMs) : undefined;
  const total = totalMs > 0 ? setTimeout(() => fail(`upload not complete after ${totalMs} ms`), totalMs) : undefined;
  const onData = () => idle?.refresh();
  if (idle) req.raw.on('data', onData);
  const done = () => {
    clearTimeout(idle);
    clearTimeout(total);
    req.raw.removeListener('data', onData);
  };
  req.raw.once('end', done);
  req.raw.once('close', done);
  body.once('close', done);
  // Reported through the upstream request (fail() answers 408); a call refused before it was
  // sent (a cap, a budget) has no one else listening, and must not crash the process.
  body.on('error', () => undefined);
}
