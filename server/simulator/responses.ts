// /v1/responses: the Responses API, plain and streamed as named SSE events; stored responses by id (retrieve,
// replayed as a stream, delete, cancel, input items) and background responses on the simulator's job clock.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SimulatorRuntime } from './runtime.js';
import { admit, admitPlain, exchangeOf, sendBody, sendError, sendJson, sendStream, waitUnlessClosed, type Exchange } from './exchange.js';
import { invalidRequest, MID_STREAM_ERROR, noSuchObject } from './errors.js';
import { listPage, newObjectId, nowSeconds, type ListQuery } from './store.js';
import { kindOf } from './crud.js';
import { CONVERSATION_ITEMS } from './platform.js';
import { delivered } from './billing.js';
import { snapshotOf } from './models.js';
import {
  asObject,
  contentText,
  imagePartCount,
  notAnObject,
  optionalCount,
  requireModel,
  serviceTier,
  wantsStream,
  type JsonObject,
} from './payload.js';
import { countTextTokens, DEFAULT_RESERVED_COMPLETION_TOKENS, deliveredUsage, planCompletion, type CompletionPlan } from './tokens.js';

const IMAGE_TOKENS = 85;

interface ResponsesPrompt {
  text: string;
  tokens: number;
  markerText: string;
}

export function responsesPrompt(body: JsonObject): ResponsesPrompt | undefined {
  const instructions = typeof body.instructions === 'string' ? body.instructions : '';
  let tokens = instructions === '' ? 0 : 4 + countTextTokens(instructions);
  let text = instructions;
  const input = body.input;
  if (typeof input === 'string') {
    return { text: `${text}\n${input}`, tokens: tokens + 4 + countTextTokens(input), markerText: input };
  }
  if (!Array.isArray(input)) return undefined;
  let markerText = '';
  for (const item of input) {
    const object = asObject(item);
    if (!object) continue;
    const content = contentText(object.content ?? object.output);
    tokens += 4 + countTextTokens(content) + imagePartCount(object.content) * IMAGE_TOKENS;
    text += `\n${String(object.role)}:${content}`;
    markerText = content;
  }
  return { text, tokens, markerText };
}

function responseUsage(plan: CompletionPlan): JsonObject {
  return {
    input_tokens: plan.promptTokens,
    input_tokens_details: { cached_tokens: plan.cachedTokens },
    output_tokens: plan.completionTokens,
    output_tokens_details: { reasoning_tokens: plan.reasoningTokens },
    total_tokens: plan.promptTokens + plan.completionTokens,
  };
}

export interface ResponseIds {
  response: string;
  message: string;
  reasoning: string;
}

function outputText(text: string): JsonObject {
  return { type: 'output_text', text, annotations: [], logprobs: [] };
}

function messageItem(ids: ResponseIds, status: 'in_progress' | 'completed', content: JsonObject[]): JsonObject {
  return { id: ids.message, type: 'message', status, role: 'assistant', content };
}

function reasoningItem(ids: ResponseIds): JsonObject {
  return { id: ids.reasoning, type: 'reasoning', summary: [] };
}

/**
 * One call of each built-in tool the request offers (web search, file search), as OpenAI's output
 * items: what the gateway counts for the per-call tool fees.
 */
function builtInToolCalls(body: JsonObject, ids: ResponseIds): JsonObject[] {
  const items: JsonObject[] = [];
  const tools = Array.isArray(body.tools) ? body.tools : [];
  tools.forEach((tool, index) => {
    const type = asObject(tool)?.type;
    if (typeof type !== 'string') return;
    const id = `${ids.message}_tool${index}`;
    if (type.startsWith('web_search')) {
      items.push({ id: id.replace(/^msg_/, 'ws_'), type: 'web_search_call', status: 'completed', action: { type: 'search', query: 'simulated' } });
    } else if (type === 'file_search') {
      items.push({ id: id.replace(/^msg_/, 'fs_'), type: 'file_search_call', status: 'completed', queries: ['simulated'], results: null });
    }
  });
  return items;
}

export function responseObject(
  body: JsonObject,
  ids: ResponseIds,
  model: string,
  createdAt: number,
  plan: CompletionPlan,
  done: boolean,
  background = false,
): JsonObject {
  const output: JsonObject[] = [];
  if (done) {
    if (plan.reasoningTokens > 0) output.push(reasoningItem(ids));
    output.push(...builtInToolCalls(body, ids));
    output.push(messageItem(ids, 'completed', [outputText(plan.text)]));
  }
  const incomplete = done && plan.finishReason === 'length';
  return {
    id: ids.response,
    object: 'response',
    created_at: createdAt,
    status: done ? (incomplete ? 'incomplete' : 'completed') : 'in_progress',
    background,
    error: null,
    incomplete_details: incomplete ? { reason: 'max_output_tokens' } : null,
    instructions: typeof body.instructions === 'string' ? body.instructions : null,
    max_output_tokens: optionalCount(body, 'max_output_tokens') ?? null,
    model,
    output,
    parallel_tool_calls: true,
    previous_response_id: typeof body.previous_response_id === 'string' ? body.previous_response_id : null,
    reasoning: { effort: plan.reasoningTokens > 0 ? 'medium' : null, summary: null },
    service_tier: serviceTier(body),
    store: body.store !== false,
    temperature: typeof body.temperature === 'number' ? body.temperature : 1,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: [],
    top_p: typeof body.top_p === 'number' ? body.top_p : 1,
    truncation: 'disabled',
    usage: done ? responseUsage(plan) : null,
    user: null,
    metadata: asObject(body.metadata) ?? {},
  };
}

function streamFrames(body: JsonObject, ids: ResponseIds, model: string, createdAt: number, plan: CompletionPlan, background = false) {
  const frames: string[] = [];
  let sequence = 0;
  const event = (type: string, payload: JsonObject): void => {
    frames.push(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...payload })}\n\n`);
  };
  const inProgress = responseObject(body, ids, model, createdAt, plan, false, background);
  event('response.created', { response: inProgress });
  event('response.in_progress', { response: inProgress });
  let outputIndex = 0;
  if (plan.reasoningTokens > 0) {
    event('response.output_item.added', { output_index: 0, item: reasoningItem(ids) });
    event('response.output_item.done', { output_index: 0, item: reasoningItem(ids) });
    outputIndex = 1;
  }
  const at = { item_id: ids.message, output_index: outputIndex, content_index: 0 };
  event('response.output_item.added', { output_index: outputIndex, item: messageItem(ids, 'in_progress', []) });
  event('response.content_part.added', { ...at, part: outputText('') });
  for (const piece of plan.pieces) event('response.output_text.delta', { ...at, delta: piece, logprobs: [] });
  const contentFrames = frames.length;
  event('response.output_text.done', { ...at, text: plan.text, logprobs: [] });
  event('response.content_part.done', { ...at, part: outputText(plan.text) });
  event('response.output_item.done', {
    output_index: outputIndex,
    item: messageItem(ids, 'completed', [outputText(plan.text)]),
  });
  const final = responseObject(body, ids, model, createdAt, plan, true, background);
  event(final.status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response: final });
  const errorFrame = `event: error\ndata: ${JSON.stringify({
    type: 'error',
    sequence_number: contentFrames,
    code: MID_STREAM_ERROR.error.code,
    message: MID_STREAM_ERROR.error.message,
    param: null,
  })}\n\n`;
  return { frames, contentFrames, errorFrame };
}


type ResponseStatus = 'queued' | 'in_progress' | 'completed' | 'incomplete' | 'cancelled';

interface StoredResponse {
  id: string;
  body: JsonObject;
  ids: ResponseIds;
  /** The model the client asked for (stats are keyed by it) and the snapshot the response names. */
  model: string;
  answeredModel: string;
  createdAt: number;
  plan: CompletionPlan;
  inputItems: Array<JsonObject & { id: string }>;
  background: boolean;
  status: ResponseStatus;
  /** Usage of a cancelled response: what ran before the cancel. */
  cancelledUsage: JsonObject | null;
  /** Resolves once the status is final. */
  settled: Promise<void>;
  settle: () => void;
}

function responseStore(exchange: Exchange) {
  return exchange.runtime.store.collection<StoredResponse>(exchange.org.id, 'responses');
}

/** The request's input as the stored items input_items lists: every item gets an id and typed content. */
function inputItemsOf(body: JsonObject): Array<JsonObject & { id: string }> {
  const input = body.input;
  const message = (role: string, content: unknown): JsonObject & { id: string } => ({
    id: newObjectId('msg_'),
    type: 'message',
    role,
    status: 'completed',
    content:
      typeof content === 'string'
        ? [{ type: role === 'assistant' ? 'output_text' : 'input_text', text: content }]
        : Array.isArray(content)
          ? content
          : [],
  });
  if (typeof input === 'string') return [message('user', input)];
  if (!Array.isArray(input)) return [];
  return input.map((item) => {
    const object = asObject(item) ?? {};
    if (typeof object.role === 'string' && (object.type === undefined || object.type === 'message')) return message(object.role, object.content);
    return { ...object, id: typeof object.id === 'string' ? object.id : newObjectId('item_') };
  });
}

function settledStatus(plan: CompletionPlan): ResponseStatus {
  return plan.finishReason === 'length' ? 'incomplete' : 'completed';
}

function isFinal(status: ResponseStatus): boolean {
  return status === 'completed' || status === 'incomplete' || status === 'cancelled';
}

/** The response as a retrieve shows it now. */
function currentObject(stored: StoredResponse): JsonObject {
  const { body, ids, answeredModel, createdAt, plan, background, status } = stored;
  if (status === 'completed' || status === 'incomplete') return responseObject(body, ids, answeredModel, createdAt, plan, true, background);
  const object = responseObject(body, ids, answeredModel, createdAt, plan, false, background);
  object.status = status;
  if (status === 'cancelled') object.usage = stored.cancelledUsage;
  return object;
}

function recordUsage(exchange: Exchange, model: string, plan: CompletionPlan): void {
  delivered(exchange, model, deliveredUsage(plan));
}

/** queued for one phase, in_progress for the next, then completed; billed (stats) when it completes. */
function runInBackground(exchange: Exchange, stored: StoredResponse): void {
  const { runtime } = exchange;
  runtime.store.later(runtime.jobPhaseMs, () => {
    if (stored.status !== 'queued') return;
    stored.status = 'in_progress';
    runtime.store.later(runtime.jobPhaseMs, () => {
      if (stored.status !== 'in_progress') return;
      stored.status = settledStatus(stored.plan);
      recordUsage(exchange, stored.model, stored.plan);
      stored.settle();
    });
  });
}

async function createResponse(runtime: SimulatorRuntime, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const exchange = exchangeOf(request);
  const body = asObject(request.body);
  if (!body) return sendError(exchange, notAnObject());
  const model = requireModel(body);
  if (typeof model !== 'string') return sendError(exchange, model);
  const prompt = responsesPrompt(body);
  if (!prompt) return sendError(exchange, invalidRequest("Missing required parameter: 'input'.", 'input', 'missing_required_parameter'));
  const background = body.background === true;
  if (background && body.store === false) {
    return sendError(exchange, invalidRequest('Background responses must be stored: remove store=false or background=true.', 'store'));
  }
  const maxTokens = optionalCount(body, 'max_output_tokens');
  if (!admit(exchange, model, prompt.tokens + (maxTokens ?? DEFAULT_RESERVED_COMPLETION_TOKENS), prompt.markerText)) return;

  const plan = planCompletion(model, prompt.text, prompt.tokens, maxTokens);
  const ids: ResponseIds = {
    response: `resp_${randomUUID().replaceAll('-', '')}`,
    message: `msg_${randomUUID().replaceAll('-', '')}`,
    reasoning: `rs_${randomUUID().replaceAll('-', '')}`,
  };
  const createdAt = Math.floor(Date.now() / 1000);
  const answeredModel = snapshotOf(model);
  const stream = wantsStream(body);
  let stored: StoredResponse | undefined;
  if (body.store !== false) {
    let settle = (): void => undefined;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    stored = {
      id: ids.response,
      body,
      ids,
      model,
      answeredModel,
      createdAt,
      plan,
      inputItems: inputItemsOf(body),
      background,
      // A streamed background response runs while the client watches; the stream is its clock.
      status: background && !stream ? 'queued' : settledStatus(plan),
      cancelledUsage: null,
      settled,
      settle,
    };
    if (isFinal(stored.status)) settle();
    responseStore(exchange).add(stored);
  }
  const conversationId = typeof body.conversation === 'string' ? body.conversation : asObject(body.conversation)?.id;
  if (typeof conversationId === 'string') {
    const items = exchange.runtime.store.collection<JsonObject & { id: string }>(exchange.org.id, kindOf(CONVERSATION_ITEMS, conversationId));
    // The conversation gains the input and the answer, as OpenAI appends them.
    for (const item of inputItemsOf(body)) items.add(item);
    items.add({ ...messageItem(ids, 'completed', [outputText(plan.text)]) , id: ids.message });
  }
  if (stored && background && !stream) {
    runInBackground(exchange, stored);
    await sendJson(exchange, currentObject(stored));
    return;
  }
  const sentWhole = stream
    ? await sendStream(exchange, streamFrames(body, ids, answeredModel, createdAt, plan, background))
    : await sendBody(
        exchange,
        JSON.stringify(responseObject(body, ids, answeredModel, createdAt, plan, true)),
        'application/json',
        plan.completionTokens,
      );
  if (sentWhole) recordUsage(exchange, model, plan);
}

function requireResponse(exchange: Exchange, id: string): StoredResponse | undefined {
  const stored = responseStore(exchange).get(id);
  if (!stored) sendError(exchange, noSuchObject('response', id, 'response_id'));
  return stored;
}

/** GET /v1/responses/{id}?stream=true: waits for a background response to finish, then replays its events. */
async function replayStream(exchange: Exchange, stored: StoredResponse, startingAfter: number): Promise<void> {
  const raw = exchange.reply.raw;
  const closed = new Promise<void>((resolve) => raw.once('close', () => resolve()));
  await Promise.race([stored.settled, closed]);
  if (raw.destroyed || !(await waitUnlessClosed(raw, 0))) return;
  const { body, ids, answeredModel, createdAt, plan, background } = stored;
  const all = streamFrames(body, ids, answeredModel, createdAt, plan, background);
  const frames =
    stored.status === 'cancelled'
      ? [`event: response.cancelled\ndata: ${JSON.stringify({ type: 'response.cancelled', sequence_number: 0, response: currentObject(stored) })}\n\n`]
      : all.frames;
  const skip = Math.max(0, Math.min(frames.length, startingAfter + 1));
  await sendStream(exchange, {
    frames: frames.slice(skip),
    contentFrames: Math.max(0, all.contentFrames - skip),
    errorFrame: all.errorFrame,
  });
}

async function cancelResponse(exchange: Exchange, stored: StoredResponse): Promise<void> {
  if (!stored.background) {
    return sendError(exchange, invalidRequest('Only responses created with background=true can be cancelled.', 'response_id'));
  }
  if (stored.status === 'queued' || stored.status === 'in_progress') {
    const { plan } = stored;
    // What ran before the cancel: the prompt once it was picked up, and half the answer.
    const output = stored.status === 'in_progress' ? Math.floor(plan.completionTokens / 2) : 0;
    const reasoning = Math.min(plan.reasoningTokens, output);
    const input = stored.status === 'in_progress' ? plan.promptTokens : 0;
    // A response cancelled before it was picked up ran nothing: no usage, as OpenAI reports it.
    stored.cancelledUsage = stored.status === 'queued' ? null : {
      input_tokens: input,
      input_tokens_details: { cached_tokens: stored.status === 'in_progress' ? plan.cachedTokens : 0 },
      output_tokens: output,
      output_tokens_details: { reasoning_tokens: reasoning },
      total_tokens: input + output,
    };
    if (stored.cancelledUsage) {
      delivered(exchange, stored.model, {
        promptTokens: input,
        cachedTokens: stored.status === 'in_progress' ? plan.cachedTokens : 0,
        completionTokens: output,
        reasoningTokens: reasoning,
      });
    }
    stored.status = 'cancelled';
    stored.settle();
  }
  await sendJson(exchange, currentObject(stored));
}

type IdParams = { Params: { id: string } };

export function registerResponsesRoutes(app: FastifyInstance, runtime: SimulatorRuntime): void {
  app.post('/v1/responses', (request, reply) => createResponse(runtime, request, reply));
  app.get<IdParams & { Querystring: { stream?: string; starting_after?: string } }>('/v1/responses/:id', async (request) => {
    const exchange = exchangeOf(request);
    if (!admitPlain(exchange)) return;
    const stored = requireResponse(exchange, request.params.id);
    if (!stored) return;
    if (request.query.stream === 'true') {
      const after = Number(request.query.starting_after ?? -1);
      await replayStream(exchange, stored, Number.isInteger(after) ? after : -1);
      return;
    }
    await sendJson(exchange, currentObject(stored));
  });
  app.delete<IdParams>('/v1/responses/:id', async (request) => {
    const exchange = exchangeOf(request);
    if (!admitPlain(exchange)) return;
    const stored = requireResponse(exchange, request.params.id);
    if (!stored) return;
    responseStore(exchange).delete(stored.id);
    await sendJson(exchange, { id: stored.id, object: 'response', deleted: true });
  });
  app.post<IdParams>('/v1/responses/:id/cancel', async (request) => {
    const exchange = exchangeOf(request);
    if (!admitPlain(exchange)) return;
    const stored = requireResponse(exchange, request.params.id);
    if (stored) await cancelResponse(exchange, stored);
  });
  app.get<IdParams & { Querystring: ListQuery }>('/v1/responses/:id/input_items', async (request) => {
    const exchange = exchangeOf(request);
    if (!admitPlain(exchange)) return;
    const stored = requireResponse(exchange, request.params.id);
    if (stored) await sendJson(exchange, listPage(stored.inputItems, request.query));
  });
  app.post('/v1/responses/input_tokens', async (request) => {
    const exchange = exchangeOf(request);
    if (!admitPlain(exchange)) return;
    const body = asObject(request.body) ?? {};
    const prompt = responsesPrompt({ ...body, input: body.input ?? '' });
    await sendJson(exchange, { object: 'response.input_tokens', input_tokens: prompt?.tokens ?? 0 });
  });
  app.post('/v1/responses/compact', async (request) => {
    const exchange = exchangeOf(request);
    const body = asObject(request.body);
    if (!body) return sendError(exchange, notAnObject());
    const model = requireModel(body);
    if (typeof model !== 'string') return sendError(exchange, model);
    const prompt = responsesPrompt({ ...body, input: body.input ?? '' });
    if (!prompt || !admit(exchange, model, prompt.tokens, prompt.markerText)) {
      if (!prompt) sendError(exchange, invalidRequest("Missing required parameter: 'input'.", 'input'));
      return;
    }
    // A compaction answers with one encrypted summary item, much shorter than the input it replaces.
    const plan = planCompletion(model, prompt.text, prompt.tokens, Math.max(1, Math.ceil(prompt.tokens / 4)));
    const compacted = {
      id: newObjectId('resp_'),
      object: 'response.compaction',
      created_at: nowSeconds(),
      output: [{ id: newObjectId('cmp_'), type: 'compaction', encrypted_content: Buffer.from(plan.text).toString('base64') }],
      usage: {
        input_tokens: plan.promptTokens,
        input_tokens_details: { cached_tokens: plan.cachedTokens },
        output_tokens: plan.completionTokens,
        output_tokens_details: { reasoning_tokens: plan.reasoningTokens },
        total_tokens: plan.promptTokens + plan.completionTokens,
      },
    };
    if (await sendJson(exchange, compacted)) recordUsage(exchange, model, plan);
  });
}
