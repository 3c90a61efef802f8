// /v1/files and /v1/uploads: multipart uploads streamed to disk as they arrive (a 512 MB file is never held in
// memory), cursor-paged listings, and downloads streamed back from disk.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Busboy } from '@fastify/busboy';
import type { SimulatorRuntime } from './runtime.js';
import { admitPlain, exchangeOf, sendError, sendJson, sendReadable, type Exchange } from './exchange.js';
import { errorBody, invalidRequest, noSuchObject, type SimulatedError } from './errors.js';
import { asObject, notAnObject, type JsonObject } from './payload.js';
import { listPage, newObjectId, nowSeconds, type ListQuery } from './store.js';

/** OpenAI's own cap on one file. */
export const MAX_FILE_BYTES = 512 * 1024 * 1024;
/** One upload part is at most 64 MB; an upload at most 8 GB. */
const MAX_PART_BYTES = 64 * 1024 * 1024;
const MAX_UPLOAD_BYTES = 8 * 1024 * 1024 * 1024;
const UPLOAD_TTL_SECONDS = 3_600;

const PURPOSES = ['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals'];

export interface StoredFile {
  id: string;
  /** The File object as the API returns it. */
  object: JsonObject;
  path: string;
  bytes: number;
  contentType: string;
}

export function fileCollection(runtime: SimulatorRuntime, orgId: string) {
  return runtime.store.collection<StoredFile>(orgId, 'files');
}

export function fileObject(id: string, filename: string, purpose: string, bytes: number, expiresAfterSeconds?: number): JsonObject {
  const created = nowSeconds();
  return {
    id,
    object: 'file',
    bytes,
    created_at: created,
    filename,
    purpose,
    status: 'processed',
    expires_at: expiresAfterSeconds === undefined ? null : created + expiresAfterSeconds,
    status_details: null,
  };
}

/** Keeps a file the simulator wrote itself (batch output, fine-tuning results) so files.content serves it. */
export function keepFile(runtime: SimulatorRuntime, orgId: string, stored: Omit<StoredFile, 'object'> & { filename: string; purpose: string }): StoredFile {
  const file: StoredFile = {
    id: stored.id,
    object: fileObject(stored.id, stored.filename, stored.purpose, stored.bytes),
    path: stored.path,
    bytes: stored.bytes,
    contentType: stored.contentType,
  };
  return fileCollection(runtime, orgId).add(file);
}

export interface ReceivedFile {
  field: string;
  filename: string;
  mimeType: string;
  path: string;
  bytes: number;
  sha256: string;
}

export interface ReceivedForm {
  fields: Record<string, string>;
  files: ReceivedFile[];
}

class TooLarge extends Error {}

/** Counts and hashes the bytes as they pass to disk, and stops the upload once it exceeds `limit`. */
function meter(limit: number, onDone: (bytes: number, sha256: string) => void): Transform {
  const hash = createHash('sha256');
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
      bytes += chunk.length;
      if (bytes > limit) return done(new TooLarge());
      hash.update(chunk);
      done(null, chunk);
    },
    flush(done: TransformCallback) {
      onDone(bytes, hash.digest('hex'));
      done();
    },
  });
}

/**
 * Reads a multipart body from the raw request: text fields into memory (small), each file part streamed to
 * its own path under the store. Rejects with a SimulatedError when the form is not readable or too large.
 */
export function receiveMultipart(runtime: SimulatorRuntime, request: FastifyRequest, limitBytes: number): Promise<ReceivedForm> {
  return new Promise((resolve, reject) => {
    const fields: Record<string, string> = {};
    const files: ReceivedFile[] = [];
    const writes: Promise<void>[] = [];
    let failed = false;
    const fail = (error: SimulatedError): void => {
      if (failed) return;
      failed = true;
      request.raw.unpipe();
      request.raw.resume();
      for (const file of files) void rm(file.path, { force: true });
      reject(error);
    };
    let parser: ReturnType<typeof Busboy>;
    try {
      parser = Busboy({
        headers: request.headers as IncomingHttpHeaders & { 'content-type': string },
        limits: { fieldSize: 1024 * 1024, fields: 64, files: 16 },
      });
    } catch {
      reject(invalidRequest('Expected a multipart/form-data body.'));
      return;
    }
    parser.on('field', (name: string, value: string) => {
      fields[name] = value;
    });
    parser.on('file', (field: string, stream: NodeJS.ReadableStream, filename: string, _encoding: string, mimeType: string) => {
      const received: ReceivedFile = { field, filename: filename || field, mimeType, path: runtime.store.pathFor(newObjectId('upload-')), bytes: 0, sha256: '' };
      files.push(received);
      writes.push(
        pipeline(
          stream,
          meter(limitBytes, (bytes, sha256) => {
            received.bytes = bytes;
            received.sha256 = sha256;
          }),
          createWriteStream(received.path),
        ).catch((error: unknown) => {
          fail(
            error instanceof TooLarge
              ? { status: 413, body: errorBody(`File exceeds the maximum size of ${limitBytes} bytes.`, 'invalid_request_error', 'file', 'file_too_large') }
              : invalidRequest('The uploaded file could not be read.', 'file'),
          );
        }),
      );
    });
    parser.on('error', () => fail(invalidRequest('Expected a well-formed multipart/form-data body.')));
    parser.on('finish', () => {
      void Promise.all(writes).then(() => {
        if (!failed) resolve({ fields, files });
      });
    });
    request.raw.pipe(parser);
  });
}

async function withForm(exchange: Exchange, limitBytes: number): Promise<ReceivedForm | undefined> {
  try {
    return await receiveMultipart(exchange.runtime, exchange.request, limitBytes);
  } catch (error) {
    sendError(exchange, isSimulatedError(error) ? error : invalidRequest('Expected a multipart/form-data body.'));
    return undefined;
  }
}

export function isSimulatedError(value: unknown): value is SimulatedError {
  return typeof value === 'object' && value !== null && 'status' in value && 'body' in value;
}

/** The org's file, or the 404 OpenAI answers (also sent). */
export function requireFile(exchange: Exchange, id: string): StoredFile | undefined {
  const file = fileCollection(exchange.runtime, exchange.org.id).get(id);
  if (!file) sendError(exchange, noSuchObject('File', id, 'file_id'));
  return file;
}

function expiresAfter(fields: Record<string, string>): number | undefined {
  const seconds = Number(fields['expires_after[seconds]']);
  return Number.isInteger(seconds) && seconds > 0 ? seconds : undefined;
}

async function createFile(exchange: Exchange): Promise<void> {
  const form = await withForm(exchange, MAX_FILE_BYTES);
  if (!form) return;
  const upload = form.files.find((file) => file.field === 'file');
  const discard = (): void => {
    for (const file of form.files) if (file !== upload) void rm(file.path, { force: true });
  };
  discard();
  if (!upload) return sendError(exchange, invalidRequest("Missing required parameter: 'file'.", 'file', 'missing_required_parameter'));
  const purpose = form.fields.purpose;
  if (!purpose || !PURPOSES.includes(purpose)) {
    void rm(upload.path, { force: true });
    return sendError(exchange, invalidRequest(`'${purpose ?? ''}' is not one of ${PURPOSES.join(', ')} - 'purpose'`, 'purpose'));
  }
  const id = newObjectId('file-');
  const file: StoredFile = {
    id,
    object: fileObject(id, upload.filename, purpose, upload.bytes, expiresAfter(form.fields)),
    path: upload.path,
    bytes: upload.bytes,
    contentType: upload.mimeType || 'application/octet-stream',
  };
  fileCollection(exchange.runtime, exchange.org.id).add(file);
  await sendJson(exchange, file.object);
}

async function deleteFile(exchange: Exchange, id: string): Promise<void> {
  const file = requireFile(exchange, id);
  if (!file) return;
  fileCollection(exchange.runtime, exchange.org.id).delete(id);
  await rm(file.path, { force: true });
  await sendJson(exchange, { id, object: 'file', deleted: true });
}

export async function sendStoredFile(exchange: Exchange, file: StoredFile): Promise<void> {
  await sendReadable(exchange, createReadStream(file.path), file.contentType, file.bytes);
}

// --- Uploads: an upload collects parts, then becomes one file. -------------------------------------------

interface UploadPart {
  id: string;
  object: JsonObject;
  path: string;
  bytes: number;
}

interface StoredUpload {
  id: string;
  object: JsonObject;
  mimeType: string;
  parts: Map<string, UploadPart>;
}

function uploadCollection(runtime: SimulatorRuntime, orgId: string) {
  return runtime.store.collection<StoredUpload>(orgId, 'uploads');
}

function requireUpload(exchange: Exchange, id: string, pending: boolean): StoredUpload | undefined {
  const upload = uploadCollection(exchange.runtime, exchange.org.id).get(id);
  if (!upload) {
    sendError(exchange, noSuchObject('Upload', id, 'upload_id'));
    return undefined;
  }
  if (pending && upload.object.status !== 'pending') {
    sendError(exchange, invalidRequest(`Upload ${id} is already ${String(upload.object.status)}.`, 'upload_id'));
    return undefined;
  }
  return upload;
}

async function createUpload(exchange: Exchange): Promise<void> {
  const body = asObject(exchange.request.body);
  if (!body) return sendError(exchange, notAnObject());
  const { bytes, filename, mime_type: mimeType, purpose } = body;
  if (typeof bytes !== 'number' || !Number.isInteger(bytes) || bytes < 0 || bytes > MAX_UPLOAD_BYTES) {
    return sendError(exchange, invalidRequest(`'bytes' must be an integer between 0 and ${MAX_UPLOAD_BYTES}.`, 'bytes'));
  }
  if (typeof filename !== 'string' || filename === '') return sendError(exchange, invalidRequest("Missing required parameter: 'filename'.", 'filename'));
  if (typeof mimeType !== 'string') return sendError(exchange, invalidRequest("Missing required parameter: 'mime_type'.", 'mime_type'));
  if (typeof purpose !== 'string' || !PURPOSES.includes(purpose)) {
    return sendError(exchange, invalidRequest(`'${String(purpose)}' is not one of ${PURPOSES.join(', ')} - 'purpose'`, 'purpose'));
  }
  const created = nowSeconds();
  const upload: StoredUpload = {
    id: newObjectId('upload_'),
    object: {},
    mimeType,
    parts: new Map(),
  };
  upload.object = { id: upload.id, object: 'upload', bytes, created_at: created, expires_at: created + UPLOAD_TTL_SECONDS, filename, purpose, status: 'pending', file: null };
  uploadCollection(exchange.runtime, exchange.org.id).add(upload);
  await sendJson(exchange, upload.object);
}

async function addUploadPart(exchange: Exchange, uploadId: string): Promise<void> {
  const upload = requireUpload(exchange, uploadId, true);
  if (!upload) {
    exchange.request.raw.resume();
    return;
  }
  const form = await withForm(exchange, MAX_PART_BYTES);
  if (!form) return;
  const data = form.files.find((file) => file.field === 'data');
  for (const file of form.files) if (file !== data) void rm(file.path, { force: true });
  if (!data) return sendError(exchange, invalidRequest("Missing required parameter: 'data'.", 'data', 'missing_required_parameter'));
  const id = newObjectId('part_');
  const object = { id, object: 'upload.part', created_at: nowSeconds(), upload_id: upload.id };
  upload.parts.set(id, { id, object, path: data.path, bytes: data.bytes });
  await sendJson(exchange, object);
}

async function completeUpload(exchange: Exchange, uploadId: string): Promise<void> {
  const upload = requireUpload(exchange, uploadId, true);
  if (!upload) return;
  const body = asObject(exchange.request.body);
  const partIds = body?.part_ids;
  if (!Array.isArray(partIds) || !partIds.every((id): id is string => typeof id === 'string')) {
    return sendError(exchange, invalidRequest("Missing required parameter: 'part_ids'.", 'part_ids', 'missing_required_parameter'));
  }
  const parts: UploadPart[] = [];
  for (const id of partIds) {
    const part = upload.parts.get(id);
    if (!part) return sendError(exchange, invalidRequest(`Part ${id} does not belong to upload ${upload.id}.`, 'part_ids'));
    parts.push(part);
  }
  const total = parts.reduce((sum, part) => sum + part.bytes, 0);
  if (total !== upload.object.bytes) {
    return sendError(exchange, invalidRequest(`The parts add up to ${total} bytes, but the upload was created for ${String(upload.object.bytes)} bytes.`, 'part_ids'));
  }
  const path = exchange.runtime.store.pathFor(newObjectId('file-'));
  const out = createWriteStream(path);
  for (const part of parts) await pipeline(createReadStream(part.path), out, { end: false });
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  for (const part of upload.parts.values()) void rm(part.path, { force: true });
  upload.parts.clear();
  const file = keepFile(exchange.runtime, exchange.org.id, {
    id: newObjectId('file-'),
    path,
    bytes: total,
    contentType: upload.mimeType,
    filename: String(upload.object.filename),
    purpose: String(upload.object.purpose),
  });
  upload.object = { ...upload.object, status: 'completed', file: file.object };
  await sendJson(exchange, upload.object);
}

async function cancelUpload(exchange: Exchange, uploadId: string): Promise<void> {
  const upload = requireUpload(exchange, uploadId, true);
  if (!upload) return;
  for (const part of upload.parts.values()) void rm(part.path, { force: true });
  upload.parts.clear();
  upload.object = { ...upload.object, status: 'cancelled' };
  await sendJson(exchange, upload.object);
}

type IdParams = { Params: { id: string } };

/** Routes whose multipart bodies are streamed: registered in a child scope whose parser leaves the body unread. */
export function registerStreamedUploadRoutes(child: FastifyInstance, runtime: SimulatorRuntime): void {
  child.post('/v1/files', async (request) => {
    const exchange = exchangeOf(request);
    if (admitPlain(exchange)) await createFile(exchange);
    else request.raw.resume();
  });
  child.post<IdParams>('/v1/uploads/:id/parts', async (request) => {
    const exchange = exchangeOf(request);
    if (admitPlain(exchange)) await addUploadPart(exchange, request.params.id);
    else request.raw.resume();
  });
  void runtime;
}

export function registerFileRoutes(app: FastifyInstance, runtime: SimulatorRuntime): void {
  app.get<{ Querystring: ListQuery & { purpose?: string } }>('/v1/files', async (request) => {
    const exchange = exchangeOf(request);
    if (!admitPlain(exchange)) return;
    const purpose = request.query.purpose;
    const files = [...fileCollection(runtime, exchange.org.id).values()].filter((file) => !purpose || file.object.purpose === purpose);
    const page = listPage(files, request.query, { limit: 10_000, maxLimit: 10_000 });
    await sendJson(exchange, { ...page, data: page.data.map((file) => file.object) });
  });
  app.get<IdParams>('/v1/files/:id', async (request) => {
    const exchange = exchangeOf(request);
    if (!admitPlain(exchange)) return;
    const file = requireFile(exchange, request.params.id);
    if (file) await sendJson(exchange, file.object);
  });
  app.delete<IdParams>('/v1/files/:id', async (request) => {
    const exchange = exchangeOf(request);
    if (admitPlain(exchange)) await deleteFile(exchange, request.params.id);
  });
  app.get<IdParams>('/v1/files/:id/content', async (request) => {
    const exchange = exchangeOf(request);
    if (!admitPlain(exchange)) return;
    const file = requireFile(exchange, request.params.id);
    if (file) await sendStoredFile(exchange, file);
  });
  app.post('/v1/uploads', async (request) => {
    const exchange = exchangeOf(request);
    if (admitPlain(exchange)) await createUpload(exchange);
  });
  app.post<IdParams>('/v1/uploads/:id/complete', async (request) => {
    const exchange = exchangeOf(request);
    if (admitPlain(exchange)) await completeUpload(exchange, request.params.id);
  });
  app.post<IdParams>('/v1/uploads/:id/cancel', async (request) => {
    const exchange = exchangeOf(request);
    if (admitPlain(exchange)) await cancelUpload(exchange, request.params.id);
  });
}
