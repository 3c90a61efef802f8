// POST /v1/chat/completions and the legacy POST /v1/completions, plain and streamed.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SimulatorRuntime } from './runtime.js';
import { delivered } from './billing.js';
import { admit, exchangeOf, sendBody, sendError, sendStream, type Exchange } from './exchange.js';
import { invalidRequest, MID_STREAM_ERROR } from './errors.js';
import { faultyUsage, HUGE_EVENT_BYTES, type FaultName } from './faults.js';
import { snapshotOf } from './models.js';
import { keepChatCompletion } from './assistants.js';
import {
  asObject,
  contentText,
  imagePartCount,
  includeUsage,
  notAnObject,
  optionalCount,
  requireModel,
  serviceTier,
  wantsStream,
  type JsonObject,
} from './payload.js';
import {
  countTextTokens,
  DEFAULT_RESERVED_COMPLETION_TOKENS,
  deliveredUsage,
  hash32,
  planCompletion,
  type CompletionPlan,
} from './tokens.js';

const IMAGE_TOKENS = 85;
/** Legacy completions stop at 16 tokens unless max_tokens says otherwise. */
export const LEGACY_DEFAULT_MAX_TOKENS = 16;

interface Prompt {
  /** Everything the model reads, for the deterministic answer. */
  text: string;
  tokens: number;
  /** Where fault markers are looked for: the last message, or the prompt. */
  markerText: string;
}

export function chatPrompt(messages: unknown[], body: JsonObject): Prompt {
  // OpenAI's accounting: 3 tokens of framing per message, 1 more for a name, 3 to prime the reply.
  let tokens = 3;
  let text = '';
  let markerText = '';
  for (const message of messages) {
    const object = asObject(message);
    if (!object) continue;
    const content = contentText(object.content);
    tokens += 3 + countTextTokens(content) + imagePartCount(object.content) * IMAGE_TOKENS;
    if (typeof object.role === 'string') tokens += countTextTokens(object.role);
    if (typeof object.name === 'string') tokens += 1 + countTextTokens(object.name);
    text += `${String(object.role)}:${content}\n`;
    markerText = content;
  }
  if (Array.isArray(body.tools) && body.tools.length > 0) {
    const tools = JSON.stringify(body.tools);
    tokens += countTextTokens(tools);
    text += tools;
  }
  return { text, tokens, markerText };
}

export function legacyPrompt(prompt: unknown): Prompt | undefined {
  if (typeof prompt === 'string') return { text: prompt, tokens: countTextTokens(prompt), markerText: prompt };
  if (!Array.isArray(prompt) || prompt.length === 0) return undefined;
  // string[] | number[] (one tokenized prompt) | number[][]
  if (prompt.every((item) => typeof item === 'number')) {
    return { text: prompt.join(','), tokens: prompt.length, markerText: '' };
  }
  let text = '';
  let tokens = 0;
  for (const item of prompt) {
    if (typeof item === 'string') {
      text += `${item}\n`;
      tokens += countTextTokens(item);
    } else if (Array.isArray(item)) {
      text += `${item.join(',')}\n`;
      tokens += item.length;
    }
  }
  return { text, tokens, markerText: text };
}

function fingerprint(model: string): string {
  return `fp_${hash32(model).toString(16).padStart(8, '0')}${(hash32(`${model}!`) & 0xff).toString(16).padStart(2, '0')}`;
}

function chatUsage(plan: CompletionPlan, fault: FaultName | undefined): JsonObject {
  return faultyUsage(fault, {
    prompt_tokens: plan.promptTokens,
    completion_tokens: plan.completionTokens,
    total_tokens: plan.promptTokens + plan.completionTokens,
    prompt_tokens_details: { cached_tokens: plan.cachedTokens, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: plan.reasoningTokens,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  });
}

function recordDelivery(exchange: Exchange, model: string, plan: CompletionPlan): void {
  delivered(exchange, model, deliveredUsage(plan));
}

/** A stream the client aborted: the prompt and reasoning were processed, and the visible tokens sent so far generated. */
function billAborted(exchange: Exchange, model: string, plan: CompletionPlan, contentFramesSent: number): void {
  const visibleSent = Math.max(0, contentFramesSent - 1); // the first content frame carries only the role
  exchange.runtime.billing.bill(exchange, model, {
    promptTokens: plan.promptTokens,
    cachedTokens: plan.cachedTokens,
    completionTokens: Math.min(plan.completionTokens, plan.reasoningTokens + visibleSent),
  });
}

const ERROR_FRAME = `data: ${JSON.stringify(MID_STREAM_ERROR)}\n\n`;
const DONE_FRAME = 'data: [DONE]\n\n';

function chatStream(plan: CompletionPlan, model: string, tier: string, withUsage: boolean, fault: FaultName | undefined): { frames: string[]; contentFrames: number } {
  const id = `chatcmpl-${randomUUID().replaceAll('-', '').slice(0, 29)}`;
  const created = Math.floor(Date.now() / 1000);
  const head =
    `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},` +
    `"service_tier":"${tier}","system_fingerprint":"${fingerprint(model)}","choices":[{"index":0,"delta":`;
  const tail = withUsage ? ',"usage":null}\n\n' : '}\n\n';
  const frames: string[] = [`${head}{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]${tail}`];
  for (const piece of plan.pieces) {
    frames.push(`${head}{"content":${JSON.stringify(piece)}},"logprobs":null,"finish_reason":null}]${tail}`);
  }
  const contentFrames = frames.length;
  frames.push(`${head}{},"logprobs":null,"finish_reason":"${plan.finishReason}"}]${tail}`);
  if (withUsage) {
    frames.push(
      `data: ${JSON.stringify({
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        service_tier: tier,
        system_fingerprint: fingerprint(model),
        choices: [],
        usage: chatUsage(plan, fault),
      })}\n\n`,
    );
  }
  frames.push(DONE_FRAME);
  return { frames, contentFrames };
}

/** The `chat.completion` body for a plan: what POST /v1/chat/completions and a batch's output line carry. */
export function chatCompletionObject(plan: CompletionPlan, answeredModel: string, tier: string, fault?: FaultName): JsonObject {
  return {
    id: `chatcmpl-${randomUUID().replaceAll('-', '').slice(0, 29)}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: answeredModel,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: plan.text, refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: plan.finishReason,
      },
    ],
    usage: chatUsage(plan, fault),
    service_tier: tier,
    system_fingerprint: fingerprint(answeredModel),
  };
}

async function chatCompletions(runtime: SimulatorRuntime, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const exchange = exchangeOf(request);
  const body = asObject(request.body);
  if (!body) return sendError(exchange, notAnObject());
  const model = requireModel(body);
  if (typeof model !== 'string') return sendError(exchange, model);
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    return sendError(exchange, invalidRequest("[] is too short - 'messages'", 'messages', 'empty_array'));
  }
  const prompt = chatPrompt(messages, body);
  const maxTokens = optionalCount(body, 'max_completion_tokens', 'max_tokens');
  if (!admit(exchange, model, prompt.tokens + (maxTokens ?? DEFAULT_RESERVED_COMPLETION_TOKENS), prompt.markerText)) return;

  const plan = planCompletion(model, prompt.text, prompt.tokens, maxTokens);
  const answeredModel = snapshotOf(model);
  const tier = serviceTier(body);
  if (wantsStream(body)) {
    const stream = chatStream(plan, answeredModel, tier, includeUsage(body), exchange.fault);
    if (exchange.fault === 'huge-event') {
      const huge = { id: 'chatcmpl-huge', object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model: answeredModel, choices: [{ index: 0, delta: { content: 'x'.repeat(HUGE_EVENT_BYTES) }, finish_reason: null }] };
      // Written in 16 KB pieces a millisecond apart, as TLS records from a real upstream arrive.
      const frame = `data: ${JSON.stringify(huge)}\n\n`;
      const pieces = Array.from({ length: Math.ceil(frame.length / 16_384) }, (_, i) => frame.slice(i * 16_384, (i + 1) * 16_384));
      stream.frames.splice(1, 0, ...pieces);
      stream.contentFrames += pieces.length;
      exchange.perTokenMs = Math.max(exchange.perTokenMs, 1);
    }
    const onClientAbort = (sent: number) => billAborted(exchange, model, plan, sent);
    if (await sendStream(exchange, { ...stream, errorFrame: ERROR_FRAME, onClientAbort })) recordDelivery(exchange, model, plan);
    return;
  }
  const completion = chatCompletionObject(plan, answeredModel, tier, exchange.fault);
  if (body.store === true) keepChatCompletion(exchange, completion, body);
  if (await sendBody(exchange, JSON.stringify(completion), 'application/json', plan.completionTokens)) {
    recordDelivery(exchange, model, plan);
  }
}

/** The `text_completion` body: what POST /v1/completions and a batch's output line carry. */
export function textCompletionObject(id: string, created: number, model: string, plan: CompletionPlan): JsonObject {
  return {
    id,
    object: 'text_completion',
    created,
    model,
    choices: [{ text: plan.text, index: 0, logprobs: null, finish_reason: plan.finishReason }],
    usage: legacyUsage(plan),
  };
}

function legacyUsage(plan: CompletionPlan): JsonObject {
  return {
    prompt_tokens: plan.promptTokens,
    completion_tokens: plan.completionTokens,
    total_tokens: plan.promptTokens + plan.completionTokens,
  };
}

async function legacyCompletions(runtime: SimulatorRuntime, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const exchange = exchangeOf(request);
  const body = asObject(request.body);
  if (!body) return sendError(exchange, notAnObject());
  const model = requireModel(body);
  if (typeof model !== 'string') return sendError(exchange, model);
  const prompt = legacyPrompt(body.prompt ?? '<|endoftext|>');
  if (!prompt) return sendError(exchange, invalidRequest("[] is too short - 'prompt'", 'prompt'));
  const maxTokens = optionalCount(body, 'max_tokens') ?? LEGACY_DEFAULT_MAX_TOKENS;
  if (!admit(exchange, model, prompt.tokens + maxTokens, prompt.markerText)) return;

  const plan = planCompletion(model, prompt.text, prompt.tokens, maxTokens, false);
  const id = `cmpl-${randomUUID().replaceAll('-', '').slice(0, 29)}`;
  const created = Math.floor(Date.now() / 1000);
  if (wantsStream(body)) {
    const withUsage = includeUsage(body);
    const head = `data: {"id":"${id}","object":"text_completion","created":${created},"choices":[{"text":`;
    const tail = `],"model":${JSON.stringify(model)},"system_fingerprint":null${withUsage ? ',"usage":null' : ''}}\n\n`;
    const frames = plan.pieces.map((piece) => `${head}${JSON.stringify(piece)},"index":0,"logprobs":null,"finish_reason":null}${tail}`);
    const contentFrames = frames.length;
    frames.push(`${head}"","index":0,"logprobs":null,"finish_reason":"${plan.finishReason}"}${tail}`);
    if (withUsage) {
      frames.push(
        `data: ${JSON.stringify({ id, object: 'text_completion', created, choices: [], model, system_fingerprint: null, usage: legacyUsage(plan) })}\n\n`,
      );
    }
    frames.push(DONE_FRAME);
    if (await sendStream(exchange, { frames, contentFrames, errorFrame: ERROR_FRAME })) recordDelivery(exchange, model, plan);
    return;
  }
  const completion = textCompletionObject(id, created, model, plan);
  if (await sendBody(exchange, JSON.stringify(completion), 'application/json', plan.completionTokens)) {
    recordDelivery(exchange, model, plan);
  }
}

export function registerChatRoutes(app: FastifyInstance, runtime: SimulatorRuntime): void {
  app.post('/v1/chat/completions', (request, reply) => chatCompletions(runtime, request, reply));
  app.post('/v1/completions', (request, reply) => legacyCompletions(runtime, request, reply));
}
