// The plumbing the simulator's stored resources share: create/retrieve/update/list/delete routes over a
// per-org collection, nested under a parent where the path says so (`/v1/vector_stores/:parent/files`).
import { rm } from 'node:fs/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { SimulatorRuntime } from './runtime.js';
import { admitPlain, exchangeOf, sendError, sendJson, type Exchange } from './exchange.js';
import { noSuchObject, type SimulatedError } from './errors.js';
import { asObject, type JsonObject } from './payload.js';
import { isSimulatedError, receiveMultipart, type ReceivedForm } from './files.js';
import { listPage, type ListQuery, type StoredObject } from './store.js';

export type Params = Record<string, string>;

export interface CrudContext {
  exchange: Exchange;
  runtime: SimulatorRuntime;
  params: Params;
  body: JsonObject;
  query: Record<string, string | undefined>;
}

export interface CrudSpec {
  /** Collection path, e.g. `/v1/vector_stores` or `/v1/vector_stores/:parent/files`. */
  path: string;
  /** Error wording: "No such vector store: '…'". */
  label: string;
  /** The parent collection whose `:parent` must exist (checked before anything else). */
  parent?: { kind: string; label: string };
  create?: (context: CrudContext) => StoredObject | SimulatedError | Promise<StoredObject | SimulatedError>;
  /** Applies an update body to the object (POST …/:id). */
  update?: (object: StoredObject, body: JsonObject) => void;
  /** The `object` of the delete answer; omitted = no delete route. */
  deleted?: string | ((object: StoredObject, exchange: Exchange) => JsonObject);
  /** Keeps only the objects a list query asks for. */
  filter?: (object: StoredObject, query: Record<string, string | undefined>) => boolean;
  /** Refreshes a stored object before it is shown (job clocks advance here). */
  view?: (object: StoredObject) => JsonObject;
  list?: boolean | { order?: 'asc' | 'desc' };
}

/** The collection key for `spec.path` under its parent id. */
export function kindOf(path: string, parentId?: string): string {
  return parentId === undefined ? path : `${path}@${parentId}`;
}

export function collectionFor(runtime: SimulatorRuntime, orgId: string, path: string, parentId?: string) {
  return runtime.store.collection<StoredObject>(orgId, kindOf(path, parentId));
}

function paramsOf(request: FastifyRequest): Params {
  return (request.params ?? {}) as Params;
}

function queryOf(request: FastifyRequest): Record<string, string | undefined> {
  return (request.query ?? {}) as Record<string, string | undefined>;
}

/**
 * Opens a resource call: admits it, checks the parent exists. Answers the error itself and returns undefined
 * when the call cannot go on.
 */
export function open(request: FastifyRequest, parent?: { kind: string; label: string }): { exchange: Exchange; params: Params } | undefined {
  const exchange = exchangeOf(request);
  if (!admitPlain(exchange)) return undefined;
  const params = paramsOf(request);
  if (parent && params.parent !== undefined && !collectionFor(exchange.runtime, exchange.org.id, parent.kind).get(params.parent)) {
    sendError(exchange, noSuchObject(parent.label, params.parent));
    return undefined;
  }
  return { exchange, params };
}

/** A JSON body, or a multipart one read to disk (file parts) and memory (fields); files are the caller's. */
export async function bodyOrForm(exchange: Exchange, limitBytes: number): Promise<ReceivedForm | undefined> {
  const json = asObject(exchange.request.body);
  if (json || !String(exchange.request.headers['content-type'] ?? '').startsWith('multipart/')) {
    const fields: Record<string, string> = {};
    for (const [name, value] of Object.entries(json ?? {})) fields[name] = typeof value === 'string' ? value : JSON.stringify(value);
    return { fields, files: [] };
  }
  try {
    return await receiveMultipart(exchange.runtime, exchange.request, limitBytes);
  } catch (error) {
    sendError(exchange, isSimulatedError(error) ? error : noSuchObject('form', ''));
    return undefined;
  }
}

export function discardFiles(form: ReceivedForm): void {
  for (const file of form.files) void rm(file.path, { force: true });
}

export function registerCrud(app: FastifyInstance, runtime: SimulatorRuntime, spec: CrudSpec): void {
  const collection = (exchange: Exchange, params: Params) => collectionFor(runtime, exchange.org.id, spec.path, params.parent);
  const view = (object: StoredObject): JsonObject => (spec.view ? spec.view(object) : object);
  const find = (exchange: Exchange, params: Params): StoredObject | undefined => {
    const object = params.id === undefined ? undefined : collection(exchange, params).get(params.id);
    if (!object) sendError(exchange, noSuchObject(spec.label, params.id ?? ''));
    return object;
  };

  if (spec.create) {
    const create = spec.create;
    app.post(spec.path, async (request) => {
      const call = open(request, spec.parent);
      if (!call) return;
      const body = asObject(request.body) ?? {};
      const made = await create({ exchange: call.exchange, runtime, params: call.params, body, query: queryOf(request) });
      if (call.exchange.reply.sent || call.exchange.reply.raw.headersSent) return;
      if (isSimulatedError(made)) return sendError(call.exchange, made);
      collection(call.exchange, call.params).add(made);
      await sendJson(call.exchange, view(made));
    });
  }
  if (spec.list !== false) {
    const order = typeof spec.list === 'object' ? spec.list.order : undefined;
    app.get(spec.path, async (request) => {
      const call = open(request, spec.parent);
      if (!call) return;
      const query = queryOf(request);
      const items = [...collection(call.exchange, call.params).values()].filter((object) => !spec.filter || spec.filter(object, query));
      const page = listPage(items, query as ListQuery, { order });
      await sendJson(call.exchange, { ...page, data: page.data.map(view) });
    });
  }
  app.get(`${spec.path}/:id`, async (request) => {
    const call = open(request, spec.parent);
    if (!call) return;
    const object = find(call.exchange, call.params);
    if (object) await sendJson(call.exchange, view(object));
  });
  if (spec.update) {
    const update = spec.update;
    app.post(`${spec.path}/:id`, async (request) => {
      const call = open(request, spec.parent);
      if (!call) return;
      const object = find(call.exchange, call.params);
      if (!object) return;
      update(object, asObject(request.body) ?? {});
      await sendJson(call.exchange, view(object));
    });
  }
  if (spec.deleted) {
    const deleted = spec.deleted;
    app.delete(`${spec.path}/:id`, async (request) => {
      const call = open(request, spec.parent);
      if (!call) return;
      const object = find(call.exchange, call.params);
      if (!object) return;
      collection(call.exchange, call.params).delete(object.id);
      await sendJson(call.exchange, typeof deleted === 'string' ? { id: object.id, object: deleted, deleted: true } : deleted(object, call.exchange));
    });
  }
}

/** Copies the updatable fields an update body carries. */
export function applyFields(object: StoredObject, body: JsonObject, fields: string[]): void {
  for (const field of fields) if (field in body) object[field] = body[field];
}

/** `metadata` as OpenAI stores it: an object of strings, or null. */
export function metadataOf(body: JsonObject): JsonObject | null {
  return asObject(body.metadata) ?? null;
}
