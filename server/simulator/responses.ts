// POST /v1/responses: the Responses API, plain and streamed as named SSE events.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SimulatorRuntime } from './runtime.js';
import { delivered } from './billing.js';
import { admit, exchangeOf, sendBody, sendError, sendStream } from './exchange.js';
import { invalidRequest, MID_STREAM_ERROR } from './errors.js';
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
import { countTextTokens, DEFAULT_RESERVED_COMPLETION_TOKENS, planCompletion, type CompletionPlan } from './tokens.js';

const IMAGE_TOKENS = 85;

interface ResponsesPrompt {
  text: string;
  tokens: number;
  markerText: string;
}

function responsesPrompt(body: JsonObject): ResponsesPrompt | undefined {
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

interface ResponseIds {
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

function responseObject(
  body: JsonObject,
  ids: ResponseIds,
  model: string,
  createdAt: number,
  plan: CompletionPlan,
  done: boolean,
): JsonObject {
  const output: JsonObject[] = [];
  if (done) {
    if (plan.reasoningTokens > 0) output.push(reasoningItem(ids));
    output.push(messageItem(ids, 'completed', [outputText(plan.text)]));
  }
  const incomplete = done && plan.finishReason === 'length';
  return {
    id: ids.response,
    object: 'response',
    created_at: createdAt,
    status: done ? (incomplete ? 'incomplete' : 'completed') : 'in_progress',
    background: false,
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

function streamFrames(body: JsonObject, ids: ResponseIds, model: string, createdAt: number, plan: CompletionPlan) {
  const frames: string[] = [];
  let sequence = 0;
  const event = (type: string, payload: JsonObject): void => {
    frames.push(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...payload })}\n\n`);
  };
  const inProgress = responseObject(body, ids, model, createdAt, plan, false);
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
  const final = responseObject(body, ids, model, createdAt, plan, true);
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

async function createResponse(runtime: SimulatorRuntime, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const exchange = exchangeOf(request);
  const body = asObject(request.body);
  if (!body) return sendError(exchange, notAnObject());
  const model = requireModel(body);
  if (typeof model !== 'string') return sendError(exchange, model);
  const prompt = responsesPrompt(body);
  if (!prompt) return sendError(exchange, invalidRequest("Missing required parameter: 'input'.", 'input', 'missing_required_parameter'));
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
  const sentWhole = wantsStream(body)
    ? await sendStream(exchange, streamFrames(body, ids, answeredModel, createdAt, plan))
    : await sendBody(
        exchange,
        JSON.stringify(responseObject(body, ids, answeredModel, createdAt, plan, true)),
        'application/json',
        plan.completionTokens,
      );
  if (sentWhole) {
    delivered(exchange, model, {
      promptTokens: plan.promptTokens,
      cachedTokens: plan.cachedTokens,
      completionTokens: plan.completionTokens,
      reasoningTokens: plan.reasoningTokens,
    });
  }
}

export function registerResponsesRoutes(app: FastifyInstance, runtime: SimulatorRuntime): void {
  app.post('/v1/responses', (request, reply) => createResponse(runtime, request, reply));
}
