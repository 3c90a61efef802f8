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

interface StoredBatch {
  id: string;
  object: JsonObject;
  cancelled: boolean;
  expired?: boolean;
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
}

/** Who a batch's lines are billed to: the key and project that created it. */
interface Payer {
  apiKeyId: string;
  projectId: string | null;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/** The files and counts a batch had written when it stopped: all its lines, or those before a cancel or expiry. */
interface RunResult {
  totals: Totals;
  outputFileId?: string;
  errorFileId?: string;
}

/**
 * Runs the lines of the input file one by one while the batch is in_progress, streaming the output and
 * error files to disk and keeping request_counts current; stops early (keeping what completed) when the
 * batch is cancelled or expires. Each completed line is billed at the batch price, as OpenAI bills it.
 */
async function runBatch(runtime: SimulatorRuntime, orgId: string, batch: StoredBatch, inputPath: string, endpoint: string, payer: Payer): Promise<RunResult> {
  const outputPath = runtime.store.pathFor(newObjectId('file-'));
  const errorPath = runtime.store.pathFor(newObjectId('file-'));
  const output = createWriteStream(outputPath);
  const errors = createWriteStream(errorPath);
  const totals: Totals = { total: 0, completed: 0, failed: 0, usage: { input: 0, cached: 0, output: 0, reasoning: 0 } };
  const counts = (): void => void (batch.object.request_counts = { total: totals.total, completed: totals.completed, failed: totals.failed });
  const lines = createInterface({ input: createReadStream(inputPath), crlfDelay: Infinity });
  let owed = 0;
  try {
    for await (const text of lines) {
      if (batch.cancelled || batch.expired) break;
      if (text.trim() === '') continue;
      if (runtime.batchLineMs > 0) {
        // Sleeping per line would cost a timer each; whole milliseconds of work are slept at once.
        owed += runtime.batchLineMs;
        if (owed >= 5) {
          await sleep(owed);
          owed = 0;
          if (batch.cancelled || batch.expired) break;
        }
      }
      totals.total++;
      const failed = await runLine(runtime, orgId, batch, text, totals.total, endpoint, payer, output, errors, totals);
      if (failed) totals.failed++;
      else totals.completed++;
      counts();
    }
  } finally {
    lines.close();
    await Promise.all([close(output), close(errors)]);
  }
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

/** One input line: its answer written to the output file (true: completed) or the error file (false). */
async function runLine(
  runtime: SimulatorRuntime,
  orgId: string,
  batch: StoredBatch,
  text: string,
  number: number,
  endpoint: string,
  payer: Payer,
  output: WriteStream,
  errors: WriteStream,
  totals: Totals,
): Promise<boolean> {
  const id = `batch_req_${randomUUID().replaceAll('-', '')}`;
  let line: JsonObject | undefined;
  try {
    line = asObject(JSON.parse(text));
  } catch {
    line = undefined;
  }
  const customId = typeof line?.custom_id === 'string' ? line.custom_id : null;
  const lineError = (code: string, message: string): string => JSON.stringify({ id, custom_id: customId, response: null, error: { code, message } });
  if (!line) {
    await write(errors, lineError('invalid_json_line', `Line ${number} is not a JSON object.`));
    return true;
  }
  if (customId === null) {
    await write(errors, lineError('missing_required_parameter', `Line ${number} has no custom_id.`));
    return true;
  }
  if (line.method !== 'POST' || line.url !== endpoint) {
    await write(errors, lineError('invalid_url', `Line ${number} must be a POST to ${endpoint}, the batch's endpoint.`));
    return true;
  }
  const body = asObject(line.body);
  const answer = body ? answerLine(endpoint, body) : badRequest('The request body must be a JSON object.');
  const entry = JSON.stringify({ id, custom_id: customId, response: { status_code: answer.status, request_id: newRequestId(), body: answer.body }, error: null });
  if (answer.status !== 200) {
    await write(errors, entry);
    return true;
  }
  await write(output, entry);
  if (answer.model && answer.usage) {
    const usage = answer.usage;
    totals.usage.input += usage.promptTokens ?? 0;
    totals.usage.cached += usage.cachedTokens ?? 0;
    totals.usage.output += usage.completionTokens ?? 0;
    totals.usage.reasoning += usage.reasoningTokens ?? 0;
    runtime.stats.delivered(orgId, answer.model, usage);
    runtime.billing.record({
      at: Date.now(),
      orgId,
      apiKeyId: payer.apiKeyId,
      projectId: payer.projectId,
      endpoint: endpoint === '/v1/embeddings' ? 'embeddings' : endpoint === '/v1/moderations' ? 'moderations' : 'completions',
      model: snapshotOf(answer.model),
      batch: true,
      requests: 1,
      inputTokens: usage.promptTokens ?? 0,
      cachedTokens: usage.cachedTokens ?? 0,
      outputTokens: usage.completionTokens ?? 0,
      audioInputTokens: 0,
      seconds: 0,
    });
  }
  if (answer.model && batch.object.model === undefined) batch.object.model = answer.model;
  return false;
}

/** The batch's final object fields: its files, counts and summed usage. */
function resultFields(result: RunResult): JsonObject {
  const { totals } = result;
  return {
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
  };
}

/**
 * Schedules the batch's phases: validating, then in_progress while its lines run (a cancel or the expiry
 * stops them and keeps what completed), finalizing, completed. A cancel ends in cancelled, an expiry in
 * expired, both with the files of the lines done so far.
 */
function schedule(runtime: SimulatorRuntime, orgId: string, batch: StoredBatch, inputPath: string, endpoint: string, payer: Payer): void {
  const phase = runtime.jobPhaseMs;
  runtime.store.later(runtime.batchExpiryMs, () => {
    const status = String(batch.object.status);
    if (status !== 'validating' && status !== 'in_progress') return;
    batch.expired = true;
    // Not started yet: nothing ran, it expires now. Running: the line loop stops and expires it.
    if (status === 'validating') Object.assign(batch.object, { status: 'expired', expired_at: nowSeconds() });
  });
  runtime.store.later(phase, async () => {
    if (batch.cancelled || batch.expired) return;
    Object.assign(batch.object, { status: 'in_progress', in_progress_at: nowSeconds() });
    let result: RunResult;
    try {
      result = await runBatch(runtime, orgId, batch, inputPath, endpoint, payer);
    } catch (error) {
      // An input file deleted mid-run, a full disk: the batch fails as OpenAI's do, with the reason.
      Object.assign(batch.object, {
        status: 'failed',
        failed_at: nowSeconds(),
        errors: { object: 'list', data: [{ code: 'processing_error', message: `The batch could not be processed: ${(error as Error).message}`, param: null, line: null }] },
      });
      return;
    }
    if (batch.expired) {
      Object.assign(batch.object, { status: 'expired', expired_at: nowSeconds(), ...resultFields(result) });
      return;
    }
    if (batch.cancelled) {
      runtime.store.later(phase, () => void Object.assign(batch.object, { status: 'cancelled', cancelled_at: nowSeconds(), ...resultFields(result) }));
      return;
    }
    if (result.totals.total === 0) {
      Object.assign(batch.object, {
        status: 'failed',
        failed_at: nowSeconds(),
        errors: { object: 'list', data: [{ code: 'empty_file', message: 'The batch input file is empty.', param: null, line: null }] },
      });
      return;
    }
    Object.assign(batch.object, { status: 'finalizing', finalizing_at: nowSeconds() });
    runtime.store.later(phase, () => {
      // Cancelled while finalizing: every line had run, so it is cancelled with all of them.
      if (batch.cancelled) Object.assign(batch.object, { status: 'cancelled', cancelled_at: nowSeconds(), ...resultFields(result) });
      else Object.assign(batch.object, { status: 'completed', completed_at: nowSeconds(), ...resultFields(result) });
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
    expires_at: created + Math.ceil(exchange.runtime.batchExpiryMs / 1000),
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
  const secret = (exchange.request.headers.authorization ?? '').slice(7).trim();
  schedule(exchange.runtime, exchange.org.id, batch, input.path, endpoint, { apiKeyId: exchange.runtime.billing.keyIdOf(secret), projectId: exchange.project ?? null });
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
  const wasValidating = status === 'validating';
  batch.cancelled = true;
  Object.assign(batch.object, { status: 'cancelling', cancelling_at: nowSeconds() });
  // Not started: nothing ran. Running or finalizing: the run stops and ends it cancelled with what completed.
  if (wasValidating) {
    exchange.runtime.store.later(exchange.runtime.jobPhaseMs, () => void Object.assign(batch.object, { status: 'cancelled', cancelled_at: nowSeconds() }));
  }
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
