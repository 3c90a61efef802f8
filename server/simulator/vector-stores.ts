// /v1/vector_stores with files, file batches and search: stores of uploaded files whose usage_bytes follow the
// files' sizes (what OpenAI bills storage on), and a search that scores the files' own text against the query.
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import type { SimulatorRuntime } from './runtime.js';
import { sendError, sendJson, type Exchange } from './exchange.js';
import { invalidRequest, noSuchObject } from './errors.js';
import { asObject, type JsonObject } from './payload.js';
import { fileCollection, type StoredFile } from './files.js';
import { applyFields, collectionFor, metadataOf, open, registerCrud } from './crud.js';
import { listPage, newObjectId, nowSeconds, type ListQuery, type StoredObject } from './store.js';

const STORES = '/v1/vector_stores';
const FILES = '/v1/vector_stores/:parent/files';
const BATCHES = '/v1/vector_stores/:parent/file_batches';
const STORE_PARENT = { kind: STORES, label: 'vector store' };
const CHUNKING = { type: 'static', static: { max_chunk_size_tokens: 800, chunk_overlap_tokens: 400 } };
/** How much of a file's text a search result or content page shows. */
const EXCERPT_CHARS = 800;

function storedFileOf(exchange: Exchange, id: string): StoredFile | undefined {
  return fileCollection(exchange.runtime, exchange.org.id).get(id);
}

function vectorStoreFile(exchange: Exchange, storeId: string, file: StoredFile, attributes: unknown): StoredObject {
  return {
    id: file.id,
    object: 'vector_store.file',
    created_at: nowSeconds(),
    usage_bytes: file.bytes,
    vector_store_id: storeId,
    status: 'completed',
    last_error: null,
    chunking_strategy: CHUNKING,
    attributes: asObject(attributes) ?? {},
  };
}

/** Recomputes file_counts and usage_bytes from the store's files. */
function refresh(runtime: SimulatorRuntime, orgId: string, store: StoredObject): StoredObject {
  const files = [...collectionFor(runtime, orgId, FILES, store.id).values()];
  store.usage_bytes = files.reduce((sum, file) => sum + Number(file.usage_bytes ?? 0), 0);
  store.file_counts = { in_progress: 0, completed: files.length, failed: 0, cancelled: 0, total: files.length };
  store.last_active_at = nowSeconds();
  return store;
}

/** Attaches each id that names an org file; answers 404 for the first that does not. */
function attach(exchange: Exchange, storeId: string, fileIds: unknown): StoredObject[] | undefined {
  const ids = Array.isArray(fileIds) ? fileIds.filter((id): id is string => typeof id === 'string') : [];
  const attached: StoredObject[] = [];
  for (const id of ids) {
    const file = storedFileOf(exchange, id);
    if (!file) {
      sendError(exchange, noSuchObject('File', id, 'file_ids'));
      return undefined;
    }
    attached.push(collectionFor(exchange.runtime, exchange.org.id, FILES, storeId).add(vectorStoreFile(exchange, storeId, file, undefined)));
  }
  return attached;
}

async function fileText(file: StoredFile | undefined): Promise<string> {
  if (!file) return '';
  const handle = await readFile(file.path).catch(() => Buffer.alloc(0));
  return handle.subarray(0, EXCERPT_CHARS * 4).toString('utf8').slice(0, EXCERPT_CHARS);
}

function words(text: string): Set<string> {
  return new Set(text.toLowerCase().split(/[^a-z0-9]+/).filter((word) => word.length > 2));
}

async function search(exchange: Exchange, store: StoredObject, body: JsonObject): Promise<void> {
  const query = body.query;
  const queries = typeof query === 'string' ? [query] : Array.isArray(query) ? query.filter((q): q is string => typeof q === 'string') : [];
  if (queries.length === 0) return sendError(exchange, invalidRequest("Missing required parameter: 'query'.", 'query', 'missing_required_parameter'));
  const wanted = words(queries.join(' '));
  const max = Math.max(1, Math.min(50, Number(body.max_num_results ?? 10) || 10));
  const results: JsonObject[] = [];
  for (const entry of collectionFor(exchange.runtime, exchange.org.id, FILES, store.id).values()) {
    const file = storedFileOf(exchange, entry.id);
    const text = await fileText(file);
    const found = words(text);
    let hits = 0;
    for (const word of wanted) if (found.has(word)) hits++;
    results.push({
      file_id: entry.id,
      filename: file?.object.filename ?? entry.id,
      score: wanted.size === 0 ? 0 : Math.round((0.2 + (0.8 * hits) / wanted.size) * 10_000) / 10_000,
      attributes: entry.attributes ?? {},
      content: [{ type: 'text', text }],
    });
  }
  results.sort((a, b) => Number(b.score) - Number(a.score));
  store.last_active_at = nowSeconds();
  await sendJson(exchange, {
    object: 'vector_store.search_results.page',
    search_query: queries,
    data: results.slice(0, max),
    has_more: false,
    next_page: null,
  });
}

type Routes = { Params: Record<string, string>; Querystring: ListQuery & Record<string, string | undefined> };

export function registerVectorStoreRoutes(app: FastifyInstance, runtime: SimulatorRuntime): void {
  registerCrud(app, runtime, {
    path: STORES,
    label: 'vector store',
    create: ({ exchange, body }) => {
      const created = nowSeconds();
      const store: StoredObject = {
        id: newObjectId('vs_'),
        object: 'vector_store',
        created_at: created,
        name: typeof body.name === 'string' ? body.name : '',
        usage_bytes: 0,
        file_counts: {},
        status: 'completed',
        expires_after: asObject(body.expires_after) ?? null,
        expires_at: null,
        last_active_at: created,
        metadata: metadataOf(body),
        description: typeof body.description === 'string' ? body.description : null,
      };
      if (!attach(exchange, store.id, body.file_ids)) return store;
      return refresh(runtime, exchange.org.id, store);
    },
    update: (store, body) => applyFields(store, body, ['name', 'metadata', 'expires_after']),
    deleted: 'vector_store.deleted',
  });

  const storeOf = (exchange: Exchange, id: string | undefined): StoredObject | undefined =>
    id === undefined ? undefined : collectionFor(runtime, exchange.org.id, STORES).get(id);

  registerCrud(app, runtime, {
    path: FILES,
    label: 'vector store file',
    parent: STORE_PARENT,
    create: ({ exchange, params, body }) => {
      const fileId = typeof body.file_id === 'string' ? body.file_id : '';
      const file = storedFileOf(exchange, fileId);
      if (!file) return noSuchObject('File', fileId, 'file_id');
      const entry = vectorStoreFile(exchange, params.parent ?? '', file, body.attributes);
      const store = storeOf(exchange, params.parent);
      // Counted now so the store's usage_bytes includes the file the moment the answer says completed.
      collectionFor(runtime, exchange.org.id, FILES, params.parent).add(entry);
      if (store) refresh(runtime, exchange.org.id, store);
      return entry;
    },
    update: (entry, body) => applyFields(entry, body, ['attributes']),
    deleted: (entry, exchange) => {
      // A removed file no longer counts towards the store's bytes.
      const store = storeOf(exchange, String(entry.vector_store_id));
      if (store) refresh(runtime, exchange.org.id, store);
      return { id: entry.id, object: 'vector_store.file.deleted', deleted: true };
    },
    filter: (entry, query) => !query.filter || query.filter === entry.status,
  });
  app.get<Routes>(`${FILES}/:id/content`, async (request) => {
    const call = open(request, STORE_PARENT);
    if (!call) return;
    const entry = collectionFor(runtime, call.exchange.org.id, FILES, call.params.parent).get(call.params.id ?? '');
    if (!entry) return sendError(call.exchange, noSuchObject('vector store file', call.params.id ?? ''));
    const text = await fileText(storedFileOf(call.exchange, entry.id));
    await sendJson(call.exchange, { object: 'vector_store.file_content.page', data: [{ type: 'text', text }], has_more: false, next_page: null });
  });

  app.post<Routes>(`${STORES}/:parent/search`, async (request) => {
    const call = open(request, STORE_PARENT);
    if (!call) return;
    const store = storeOf(call.exchange, call.params.parent);
    if (store) await search(call.exchange, store, asObject(request.body) ?? {});
  });

  registerCrud(app, runtime, {
    path: BATCHES,
    label: 'vector store file batch',
    parent: STORE_PARENT,
    list: false,
    create: ({ exchange, params, body }) => {
      const listed = Array.isArray(body.files) ? body.files.map((file) => asObject(file)?.file_id) : body.file_ids;
      const attached = attach(exchange, params.parent ?? '', listed);
      const store = storeOf(exchange, params.parent);
      if (store) refresh(runtime, exchange.org.id, store);
      const ids = (attached ?? []).map((entry) => entry.id);
      return {
        id: newObjectId('vsfb_'),
        object: 'vector_store.files_batch',
        created_at: nowSeconds(),
        vector_store_id: params.parent ?? '',
        status: 'completed',
        file_counts: { in_progress: 0, completed: ids.length, failed: 0, cancelled: 0, total: ids.length },
        file_ids: ids,
      };
    },
    view: ({ file_ids: _ids, ...batch }) => batch,
  });
  app.post<Routes>(`${BATCHES}/:id/cancel`, async (request) => {
    const call = open(request, STORE_PARENT);
    if (!call) return;
    const batch = collectionFor(runtime, call.exchange.org.id, BATCHES, call.params.parent).get(call.params.id ?? '');
    if (!batch) return sendError(call.exchange, noSuchObject('vector store file batch', call.params.id ?? ''));
    // Every file of a simulated batch is processed at once, so there is nothing left to cancel.
    const { file_ids: _ids, ...shown } = batch;
    await sendJson(call.exchange, shown);
  });
  app.get<Routes>(`${BATCHES}/:id/files`, async (request) => {
    const call = open(request, STORE_PARENT);
    if (!call) return;
    const batch = collectionFor(runtime, call.exchange.org.id, BATCHES, call.params.parent).get(call.params.id ?? '');
    if (!batch) return sendError(call.exchange, noSuchObject('vector store file batch', call.params.id ?? ''));
    const ids = new Set(Array.isArray(batch.file_ids) ? batch.file_ids : []);
    const entries = [...collectionFor(runtime, call.exchange.org.id, FILES, call.params.parent).values()].filter((entry) => ids.has(entry.id));
    await sendJson(call.exchange, listPage(entries, request.query));
  });
}
