// /v1/batches: a batch reads its uploaded JSONL input, moves validating → in_progress → finalizing → completed on
// the simulator's job clock, and writes an output file (one realistic response body with usage per good line)
// and an error file (one entry per bad line), both downloadable through /v1/files/{id}/content.
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { FastifyInstance } from 'fastify';
import type { SimulatorRuntime } from './runtime.js';
import { admitPlain, exchangeOf, newRequestId, sendError, sendJson, type Exchange } from './exchange.js';
import { errorBody, invalidRequest, noSuchObject, type OpenAIErrorBody } from './errors.js';
import { snapshotOf } from './models.js';
import { asObject, notAnObject, optionalCount, requireModel, type JsonObject } from './payload.js';
import { chatCompletionObject, chatPrompt, LEGACY_DEFAULT_MAX_TOKENS, legacyPrompt, textCompletionObject } from './chat.js';
import { responseObject, responsesPrompt } from './responses.js';
import { embeddingInput, embeddingList, moderationInputs, moderationResult, nativeDimensions } from './embeddings.js';
import { deliveredUsage, planCompletion } from './tokens.js';
import { fileCollection, keepFile } from './files.js';
import type { DeliveredUsage } from './stats.js';
import { listPage, newObjectId, nowSeconds, type ListQuery } from './store.js';

const ENDPOINTS = ['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/responses', '/v1/moderations'];
const BATCH_TTL_SECONDS = 86_400;

interface StoredBatch {
  id: string;
  object: JsonObject;
  cancelled: boolean;
}

function batches(runtime: SimulatorRuntime, orgId: string) {
  return runtime.store.collection<StoredBatch>(orgId, 'batches');
}

interface LineAnswer {
  status: number;
  body: JsonObject | OpenAIErrorBody;
  model?: string;
  usage?: DeliveredUsage;
}

function badRequest(message: string, param: string | null = null): LineAnswer {
  return { status: 400, body: errorBody(message, 'invalid_request_error', param, null) };
}

/** What the endpoint would have answered for this body: the same builders the live routes use. */
function answerLine(endpoint: string, body: JsonObject): LineAnswer {
  if (endpoint === '/v1/moderations') {
    const model = typeof body.model === 'string' && body.model !== '' ? body.model : 'omni-moderation-latest';
    const inputs = moderationInputs(body.input);
    if (!inputs) return badRequest("'input' must be a string, an array of strings or an array of parts.", 'input');
    return { status: 200, model, body: { id: `modr-${randomUUID().replaceAll('-', '')}`, model: snapshotOf(model), results: inputs.map(moderationResult) } };
  }
  const model = requireModel(body);
  if (typeof model !== 'string') return { status: model.status, body: model.body };
  if (endpoint === '/v1/embeddings') {
    const input = embeddingInput(body.input);
    if (!input) return badRequest("'input' must be a string, an array of strings or an array of token arrays.", 'input');
    const format = body.encoding_format === 'base64' ? 'base64' : 'float';
    const dimensions = optionalCount(body, 'dimensions') ?? nativeDimensions(model);
    return { status: 200, model, body: embeddingList(model, input, dimensions, format), usage: { promptTokens: input.tokens } };
  }
  if (endpoint === '/v1/responses') {
    const prompt = responsesPrompt(body);
    if (!prompt) return badRequest("Missing required parameter: 'input'.", 'input');
    const plan = planCompletion(model, prompt.text, prompt.tokens, optionalCount(body, 'max_output_tokens'));
    const ids = { response: newObjectId('resp_'), message: newObjectId('msg_'), reasoning: newObjectId('rs_') };
    return { status: 200, model, body: responseObject(body, ids, snapshotOf(model), nowSeconds(), plan, true), usage: deliveredUsage(plan) };
  }
  if (endpoint === '/v1/completions') {
    const prompt = legacyPrompt(body.prompt ?? '<|endoftext|>');
    if (!prompt) return badRequest("[] is too short - 'prompt'", 'prompt');
    const plan = planCompletion(model, prompt.text, prompt.tokens, optionalCount(body, 'max_tokens') ?? LEGACY_DEFAULT_MAX_TOKENS, false);
    return { status: 200, model, body: textCompletionObject(`cmpl-${randomUUID().replaceAll('-', '').slice(0, 29)}`, nowSeconds(), model, plan), usage: deliveredUsage(plan) };
  }
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) return badRequest("[] is too short - 'messages'", 'messages');
  const prompt = chatPrompt(messages, body);
  const plan = planCompletion(model, prompt.text, prompt.tokens, optionalCount(body, 'max_completion_tokens', 'max_tokens'));
  return { status: 200, model, body: chatCompletionObject(plan, snapshotOf(model), 'default'), usage: deliveredUsage(plan) };
}

function write(out: WriteStream, line: string): Promise<void> {
  return out.write(`${line}\n`) ? Promise.resolve() : new Promise((resolve) => out.once('drain', () => resolve()));
}

function close(out: WriteStream): Promise<void> {
  return new Promise((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
}

interface Totals {
  total: number;
  completed: number;
  failed: number;
  usage: { input: number; cached: number; output: number; reasoning: number };
  models: Map<string, DeliveredUsage[]>;
}

/** Runs every line of the input file, streaming the output and error files to disk. */
async function runBatch(runtime: SimulatorRuntime, orgId: string, batch: StoredBatch, inputPath: string, endpoint: string) {
  const outputPath = runtime.store.pathFor(newObjectId('file-'));
  const errorPath = runtime.store.pathFor(newObjectId('file-'));
  const output = createWriteStream(outputPath);
  const errors = createWriteStream(errorPath);
  const totals: Totals = { total: 0, completed: 0, failed: 0, usage: { input: 0, cached: 0, output: 0, reasoning: 0 }, models: new Map() };
  const lines = createInterface({ input: createReadStream(inputPath), crlfDelay: Infinity });
  for await (const text of lines) {
    if (text.trim() === '') continue;
    totals.total++;
    const id = `batch_req_${randomUUID().replaceAll('-', '')}`;
    let line: JsonObject | undefined;
    try {
      line = asObject(JSON.parse(text));
    } catch {
      line = undefined;
    }
    const customId = typeof line?.custom_id === 'string' ? line.custom_id : null;
    const lineError = (code: string, message: string): string =>
      JSON.stringify({ id, custom_id: customId, response: null, error: { code, message } });
    if (!line) {
      totals.failed++;
      await write(errors, lineError('invalid_json_line', `Line ${totals.total} is not a JSON object.`));
      continue;
    }
    if (customId === null) {
      totals.failed++;
      await write(errors, lineError('missing_required_parameter', `Line ${totals.total} has no custom_id.`));
      continue;
    }
    if (line.method !== 'POST' || line.url !== endpoint) {
      totals.failed++;
      await write(errors, lineError('invalid_url', `Line ${totals.total} must be a POST to ${endpoint}, the batch's endpoint.`));
      continue;
    }
    const body = asObject(line.body);
    const answer = body ? answerLine(endpoint, body) : badRequest('The request body must be a JSON object.');
    const entry = JSON.stringify({ id, custom_id: customId, response: { status_code: answer.status, request_id: newRequestId(), body: answer.body }, error: null });
    if (answer.status !== 200) {
      totals.failed++;
      await write(errors, entry);
      continue;
    }
    totals.completed++;
    await write(output, entry);
    if (answer.model && answer.usage) {
      const usage = answer.usage;
      totals.usage.input += usage.promptTokens ?? 0;
      totals.usage.cached += usage.cachedTokens ?? 0;
      totals.usage.output += usage.completionTokens ?? 0;
      totals.usage.reasoning += usage.reasoningTokens ?? 0;
      runtime.stats.delivered(orgId, answer.model, usage);
    }
    if (answer.model && batch.object.model === undefined) batch.object.model = answer.model;
  }
  await Promise.all([close(output), close(errors)]);
  const keep = async (path: string, suffix: string): Promise<string> =>
    keepFile(runtime, orgId, {
      id: newObjectId('file-'),
      path,
      bytes: (await stat(path)).size,
      contentType: 'application/jsonl',
      filename: `${batch.id}_${suffix}.jsonl`,
      purpose: 'batch_output',
    }).id;
  return {
    totals,
    outputFileId: totals.completed > 0 ? await keep(outputPath, 'output') : undefined,
    errorFileId: totals.failed > 0 ? await keep(errorPath, 'error') : undefined,
  };
}

/** Schedules the batch's phases; each step looks at `cancelled` so a cancel stops the clock. */
function schedule(runtime: SimulatorRuntime, orgId: string, batch: StoredBatch, inputPath: string, endpoint: string): void {
  const phase = runtime.jobPhaseMs;
  runtime.store.later(phase, () => {
    if (batch.cancelled) return;
    Object.assign(batch.object, { status: 'in_progress', in_progress_at: nowSeconds() });
    runtime.store.later(phase, async () => {
      if (batch.cancelled) return;
      Object.assign(batch.object, { status: 'finalizing', finalizing_at: nowSeconds() });
      let result: Awaited<ReturnType<typeof runBatch>>;
      try {
        result = await runBatch(runtime, orgId, batch, inputPath, endpoint);
      } catch (error) {
        // An input file deleted mid-run, a full disk: the batch fails as OpenAI's do, with the reason.
        Object.assign(batch.object, {
          status: 'failed',
          failed_at: nowSeconds(),
          errors: { object: 'list', data: [{ code: 'processing_error', message: `The batch could not be processed: ${(error as Error).message}`, param: null, line: null }] },
        });
        return;
      }
      const { totals } = result;
      if (totals.total === 0) {
        Object.assign(batch.object, {
          status: 'failed',
          failed_at: nowSeconds(),
          errors: { object: 'list', data: [{ code: 'empty_file', message: 'The batch input file is empty.', param: null, line: null }] },
        });
        return;
      }
      runtime.store.later(phase, () => {
        if (batch.cancelled) return;
        Object.assign(batch.object, {
          status: 'completed',
          completed_at: nowSeconds(),
          output_file_id: result.outputFileId ?? null,
          error_file_id: result.errorFileId ?? null,
          request_counts: { total: totals.total, completed: totals.completed, failed: totals.failed },
          usage: {
            input_tokens: totals.usage.input,
            input_tokens_details: { cached_tokens: totals.usage.cached },
            output_tokens: totals.usage.output,
            output_tokens_details: { reasoning_tokens: totals.usage.reasoning },
            total_tokens: totals.usage.input + totals.usage.output,
          },
        });
      });
    });
  });
}

async function createBatch(exchange: Exchange): Promise<void> {
  const body = asObject(exchange.request.body);
  if (!body) return sendError(exchange, notAnObject());
  const { input_file_id: inputFileId, endpoint, completion_window: window } = body;
  if (typeof endpoint !== 'string' || !ENDPOINTS.includes(endpoint)) {
    return sendError(exchange, invalidRequest(`'${String(endpoint)}' is not one of ${ENDPOINTS.join(', ')} - 'endpoint'`, 'endpoint'));
  }
  if (window !== '24h') return sendError(exchange, invalidRequest("'completion_window' must be '24h'.", 'completion_window'));
  if (typeof inputFileId !== 'string') return sendError(exchange, invalidRequest("Missing required parameter: 'input_file_id'.", 'input_file_id'));
  const input = fileCollection(exchange.runtime, exchange.org.id).get(inputFileId);
  if (!input) return sendError(exchange, noSuchObject('File', inputFileId, 'input_file_id'));
  if (input.object.purpose !== 'batch') {
    return sendError(exchange, invalidRequest(`File ${inputFileId} has purpose '${String(input.object.purpose)}'; a batch needs purpose 'batch'.`, 'input_file_id'));
  }
  const created = nowSeconds();
  const batch: StoredBatch = { id: newObjectId('batch_'), object: {}, cancelled: false };
  batch.object = {
    id: batch.id,
    object: 'batch',
    endpoint,
    errors: null,
    input_file_id: inputFileId,
    completion_window: '24h',
    status: 'validating',
    output_file_id: null,
    error_file_id: null,
    created_at: created,
    in_progress_at: null,
    expires_at: created + BATCH_TTL_SECONDS,
    finalizing_at: null,
    completed_at: null,
    failed_at: null,
    expired_at: null,
    cancelling_at: null,
    cancelled_at: null,
    request_counts: { total: 0, completed: 0, failed: 0 },
    metadata: asObject(body.metadata) ?? null,
  };
  batches(exchange.runtime, exchange.org.id).add(batch);
  schedule(exchange.runtime, exchange.org.id, batch, input.path, endpoint);
  await sendJson(exchange, batch.object);
}

function requireBatch(exchange: Exchange, id: string): StoredBatch | undefined {
  const batch = batches(exchange.runtime, exchange.org.id).get(id);
  if (!batch) sendError(exchange, noSuchObject('batch', id, 'batch_id'));
  return batch;
}

async function cancelBatch(exchange: Exchange, id: string): Promise<void> {
  const batch = requireBatch(exchange, id);
  if (!batch) return;
  const status = batch.object.status;
  if (status !== 'validating' && status !== 'in_progress' && status !== 'finalizing') {
    return sendError(exchange, { status: 409, body: errorBody(`Cannot cancel a batch with status '${String(status)}'.`, 'invalid_request_error', null, null) });
  }
  batch.cancelled = true;
  Object.assign(batch.object, { status: 'cancelling', cancelling_at: nowSeconds() });
  exchange.runtime.store.later(exchange.runtime.jobPhaseMs, () => {
    Object.assign(batch.object, { status: 'cancelled', cancelled_at: nowSeconds() });
  });
  await sendJson(exchange, batch.object);
}

type IdParams = { Params: { id: string } };

export function registerBatchRoutes(app: FastifyInstance, runtime: SimulatorRuntime): void {
  app.post('/v1/batches', async (request) => {
    const exchange = exchangeOf(request);
    if (admitPlain(exchange)) await createBatch(exchange);
  });
  app.get<{ Querystring: ListQuery }>('/v1/batches', async (request) => {
    const exchange = exchangeOf(request);
    if (!admitPlain(exchange)) return;
    const page = listPage(batches(runtime, exchange.org.id).values(), request.query);
    await sendJson(exchange, { ...page, data: page.data.map((batch) => batch.object) });
  });
  app.get<IdParams>('/v1/batches/:id', async (request) => {
    const exchange = exchangeOf(request);
    if (!admitPlain(exchange)) return;
    const batch = requireBatch(exchange, request.params.id);
    if (batch) await sendJson(exchange, batch.object);
  });
  app.post<IdParams>('/v1/batches/:id/cancel', async (request) => {
    const exchange = exchangeOf(request);
    if (admitPlain(exchange)) await cancelBatch(exchange, request.params.id);
  });
}
