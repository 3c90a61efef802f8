// The Assistants API (beta): assistants, threads, messages, runs (queued → in_progress → completed on the job
// clock, with usage once completed) and run steps; and stored chat completions (`store: true`).
import type { FastifyInstance } from 'fastify';
import type { SimulatorRuntime } from './runtime.js';
import { admit, sendError, sendJson, sendStream, type Exchange } from './exchange.js';
import { invalidRequest, MID_STREAM_ERROR, noSuchObject } from './errors.js';
import { snapshotOf } from './models.js';
import { asObject, contentText, type JsonObject } from './payload.js';
import { applyFields, collectionFor, metadataOf, open, registerCrud } from './crud.js';
import { listPage, newObjectId, nowSeconds, type ListQuery, type StoredObject } from './store.js';
import { countTextTokens, deliveredUsage, planCompletion } from './tokens.js';

type Routes = { Params: Record<string, string>; Querystring: ListQuery & Record<string, string | undefined> };

const ASSISTANTS = '/v1/assistants';
const THREADS = '/v1/threads';
const MESSAGES = '/v1/threads/:parent/messages';
const RUNS = '/v1/threads/:parent/runs';
const STEPS = '/v1/threads/:parent/runs/:run/steps';
const CHAT = '/v1/chat/completions';
const THREAD = { kind: THREADS, label: 'thread' };

function threadMessage(threadId: string, role: string, text: string, extra: JsonObject = {}): StoredObject {
  const created = nowSeconds();
  return {
    id: newObjectId('msg_'),
    object: 'thread.message',
    created_at: created,
    thread_id: threadId,
    role,
    content: [{ type: 'text', text: { value: text, annotations: [] } }],
    assistant_id: null,
    run_id: null,
    attachments: [],
    metadata: {},
    status: 'completed',
    completed_at: created,
    incomplete_at: null,
    incomplete_details: null,
    ...extra,
  };
}

function messageFromBody(threadId: string, body: JsonObject): StoredObject {
  const role = body.role === 'assistant' ? 'assistant' : 'user';
  return threadMessage(threadId, role, contentText(body.content), { metadata: metadataOf(body) ?? {}, attachments: Array.isArray(body.attachments) ? body.attachments : [] });
}

function newThread(runtime: SimulatorRuntime, orgId: string, body: JsonObject): StoredObject {
  const thread: StoredObject = { id: newObjectId('thread_'), object: 'thread', created_at: nowSeconds(), metadata: metadataOf(body) ?? {}, tool_resources: asObject(body.tool_resources) ?? {} };
  collectionFor(runtime, orgId, THREADS).add(thread);
  const messages = collectionFor(runtime, orgId, MESSAGES, thread.id);
  for (const message of Array.isArray(body.messages) ? body.messages : []) messages.add(messageFromBody(thread.id, asObject(message) ?? {}));
  return thread;
}

function isFinal(status: unknown): boolean {
  return status === 'completed' || status === 'cancelled' || status === 'failed' || status === 'expired' || status === 'incomplete';
}

/** Starts a run: admitted against the model's limits, answered queued, completed two phases later. */
function startRun(runtime: SimulatorRuntime, exchange: Exchange, thread: StoredObject, body: JsonObject): StoredObject | undefined {
  const assistantId = typeof body.assistant_id === 'string' ? body.assistant_id : '';
  const assistant = collectionFor(runtime, exchange.org.id, ASSISTANTS).get(assistantId);
  if (!assistant) {
    sendError(exchange, noSuchObject('assistant', assistantId, 'assistant_id'));
    return undefined;
  }
  const model = typeof body.model === 'string' ? body.model : String(assistant.model);
  const instructions = typeof body.instructions === 'string' ? body.instructions : String(assistant.instructions ?? '');
  const messages = collectionFor(runtime, exchange.org.id, MESSAGES, thread.id);
  for (const message of Array.isArray(body.additional_messages) ? body.additional_messages : []) messages.add(messageFromBody(thread.id, asObject(message) ?? {}));
  let prompt = instructions;
  for (const message of messages.values()) prompt += `\n${String(message.role)}:${JSON.stringify(message.content)}`;
  const promptTokens = countTextTokens(prompt) + 4 * messages.size;
  if (!admit(exchange, model, promptTokens, prompt)) return undefined;
  const plan = planCompletion(model, prompt, promptTokens, undefined);
  const created = nowSeconds();
  const run: StoredObject = {
    id: newObjectId('run_'),
    object: 'thread.run',
    created_at: created,
    assistant_id: assistant.id,
    thread_id: thread.id,
    status: 'queued',
    started_at: null,
    expires_at: created + 600,
    cancelled_at: null,
    failed_at: null,
    completed_at: null,
    required_action: null,
    last_error: null,
    model: snapshotOf(model),
    instructions,
    tools: assistant.tools ?? [],
    metadata: metadataOf(body) ?? {},
    usage: null,
    incomplete_details: null,
    max_completion_tokens: null,
    max_prompt_tokens: null,
    parallel_tool_calls: true,
    response_format: 'auto',
    temperature: 1,
    tool_choice: 'auto',
    top_p: 1,
    truncation_strategy: { type: 'auto', last_messages: null },
  };
  collectionFor(runtime, exchange.org.id, RUNS, thread.id).add(run);
  const complete = (): Completion | undefined => {
    if (isFinal(run.status)) return undefined;
    const usage = { prompt_tokens: plan.promptTokens, completion_tokens: plan.completionTokens, total_tokens: plan.promptTokens + plan.completionTokens };
    const reply = messages.add(threadMessage(thread.id, 'assistant', plan.text, { assistant_id: assistant.id, run_id: run.id }));
    const step = collectionFor(runtime, exchange.org.id, STEPS, run.id).add({
      id: newObjectId('step_'),
      object: 'thread.run.step',
      created_at: nowSeconds(),
      assistant_id: assistant.id,
      thread_id: thread.id,
      run_id: run.id,
      type: 'message_creation',
      status: 'completed',
      step_details: { type: 'message_creation', message_creation: { message_id: reply.id } },
      usage,
      completed_at: nowSeconds(),
      cancelled_at: null,
      expired_at: null,
      failed_at: null,
      last_error: null,
      metadata: null,
    });
    Object.assign(run, { status: 'completed', completed_at: nowSeconds(), usage });
    runtime.stats.delivered(exchange.org.id, model, deliveredUsage(plan));
    return { run, message: reply, step, pieces: plan.pieces };
  };
  runCompleters.set(run, complete);
  // A streamed run is watched as it happens: it runs to completion now and the events tell the story.
  if (body.stream === true) return run;
  runtime.store.later(runtime.jobPhaseMs, () => {
    if (run.status !== 'queued') return;
    Object.assign(run, { status: 'in_progress', started_at: nowSeconds() });
    runtime.store.later(runtime.jobPhaseMs, () => void complete());
  });
  return run;
}

interface Completion {
  run: StoredObject;
  message: StoredObject;
  step: StoredObject;
  pieces: string[];
}

/** How a run finishes at once (a stream, or submit_tool_outputs). */
const runCompleters = new WeakMap<StoredObject, () => Completion | undefined>();

/** The Assistants stream of a run from `from` on: run, step and message events, deltas, then `done`. */
function runEvents(queued: JsonObject, done: Completion, from: 'created' | 'in_progress'): string[] {
  const frames: string[] = [];
  const event = (name: string, data: unknown): void => {
    frames.push(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  if (from === 'created') {
    event('thread.run.created', queued);
    event('thread.run.queued', queued);
  }
  event('thread.run.in_progress', { ...done.run, status: 'in_progress', completed_at: null, usage: null });
  event('thread.run.step.created', { ...done.step, status: 'in_progress', completed_at: null, usage: null });
  event('thread.message.created', { ...done.message, status: 'in_progress', content: [], completed_at: null });
  event('thread.message.in_progress', { ...done.message, status: 'in_progress', content: [], completed_at: null });
  for (const piece of done.pieces) {
    event('thread.message.delta', { id: done.message.id, object: 'thread.message.delta', delta: { content: [{ index: 0, type: 'text', text: { value: piece, annotations: [] } }] } });
  }
  event('thread.message.completed', done.message);
  event('thread.run.step.completed', done.step);
  event('thread.run.completed', done.run);
  frames.push('event: done\ndata: [DONE]\n\n');
  return frames;
}

/** Answers a run: as JSON, or (stream: true) by finishing it now and streaming its events. */
async function answerRun(exchange: Exchange, run: StoredObject, streamed: boolean, from: 'created' | 'in_progress' = 'created'): Promise<void> {
  if (!streamed) {
    await sendJson(exchange, run);
    return;
  }
  const queued = { ...run };
  const done = runCompleters.get(run)?.();
  if (!done) {
    await sendJson(exchange, run);
    return;
  }
  const frames = runEvents(queued, done, from);
  await sendStream(exchange, { frames, contentFrames: frames.length - 4, errorFrame: `event: error\ndata: ${JSON.stringify(MID_STREAM_ERROR)}\n\n` });
}

export function registerAssistantRoutes(app: FastifyInstance, runtime: SimulatorRuntime): void {
  registerCrud(app, runtime, {
    path: ASSISTANTS,
    label: 'assistant',
    create: ({ body }) => {
      if (typeof body.model !== 'string' || body.model === '') return invalidRequest('you must provide a model parameter', 'model');
      return {
        id: newObjectId('asst_'),
        object: 'assistant',
        created_at: nowSeconds(),
        name: body.name ?? null,
        description: body.description ?? null,
        model: body.model,
        instructions: body.instructions ?? null,
        tools: Array.isArray(body.tools) ? body.tools : [],
        tool_resources: asObject(body.tool_resources) ?? {},
        metadata: metadataOf(body) ?? {},
        response_format: body.response_format ?? 'auto',
        temperature: typeof body.temperature === 'number' ? body.temperature : 1,
        top_p: typeof body.top_p === 'number' ? body.top_p : 1,
      };
    },
    update: (assistant, body) => applyFields(assistant, body, ['name', 'description', 'model', 'instructions', 'tools', 'tool_resources', 'metadata', 'temperature', 'top_p', 'response_format']),
    deleted: 'assistant.deleted',
  });

  app.post<Routes>(THREADS, async (request) => {
    const call = open(request);
    if (call) await sendJson(call.exchange, newThread(runtime, call.exchange.org.id, asObject(request.body) ?? {}));
  });
  registerCrud(app, runtime, {
    path: THREADS,
    label: 'thread',
    list: false,
    update: (thread, body) => applyFields(thread, body, ['metadata', 'tool_resources']),
    deleted: 'thread.deleted',
  });
  registerCrud(app, runtime, {
    path: MESSAGES,
    label: 'message',
    parent: THREAD,
    create: ({ params, body }) => messageFromBody(params.parent ?? '', body),
    update: (message, body) => applyFields(message, body, ['metadata']),
    deleted: 'thread.message.deleted',
    filter: (message, query) => !query.run_id || message.run_id === query.run_id,
  });

  app.post<Routes>(`${THREADS}/runs`, async (request) => {
    const call = open(request);
    if (!call) return;
    const body = asObject(request.body) ?? {};
    const thread = newThread(runtime, call.exchange.org.id, asObject(body.thread) ?? {});
    const run = startRun(runtime, call.exchange, thread, body);
    if (run) await answerRun(call.exchange, run, body.stream === true);
  });
  app.post<Routes>(RUNS, async (request) => {
    const call = open(request, THREAD);
    if (!call) return;
    const thread = collectionFor(runtime, call.exchange.org.id, THREADS).get(call.params.parent ?? '');
    const body = asObject(request.body) ?? {};
    const run = thread ? startRun(runtime, call.exchange, thread, body) : undefined;
    if (run) await answerRun(call.exchange, run, body.stream === true);
  });
  registerCrud(app, runtime, { path: RUNS, label: 'run', parent: THREAD, update: (run, body) => applyFields(run, body, ['metadata']) });
  const runAction = (action: string, act: (run: StoredObject, exchange: Exchange, body: JsonObject) => Promise<void>): void => {
    app.post<Routes>(`${RUNS}/:id/${action}`, async (request) => {
      const call = open(request, THREAD);
      if (!call) return;
      const run = collectionFor(runtime, call.exchange.org.id, RUNS, call.params.parent).get(call.params.id ?? '');
      if (!run) return sendError(call.exchange, noSuchObject('run', call.params.id ?? ''));
      if (isFinal(run.status)) return sendError(call.exchange, invalidRequest(`Cannot ${action.replaceAll('_', ' ')} a run with status ${String(run.status)}.`, 'run_id'));
      await act(run, call.exchange, asObject(request.body) ?? {});
    });
  };
  runAction('cancel', async (run, exchange) => {
    Object.assign(run, { status: 'cancelled', cancelled_at: nowSeconds() });
    await sendJson(exchange, run);
  });
  // The outputs let the run finish at once.
  runAction('submit_tool_outputs', async (run, exchange, body) => {
    if (body.stream === true) return answerRun(exchange, run, true, 'in_progress');
    runCompleters.get(run)?.();
    await sendJson(exchange, run);
  });
  app.get<Routes>(STEPS, async (request) => {
    const call = open(request, THREAD);
    if (call) await sendJson(call.exchange, listPage(collectionFor(runtime, call.exchange.org.id, STEPS, call.params.run).values(), request.query));
  });
  app.get<Routes>(`${STEPS}/:id`, async (request) => {
    const call = open(request, THREAD);
    if (!call) return;
    const step = collectionFor(runtime, call.exchange.org.id, STEPS, call.params.run).get(call.params.id ?? '');
    if (!step) return sendError(call.exchange, noSuchObject('run step', call.params.id ?? ''));
    await sendJson(call.exchange, step);
  });

  // Stored chat completions: kept by POST /v1/chat/completions when the request says store: true.
  registerCrud(app, runtime, {
    path: CHAT,
    label: 'chat completion',
    view: ({ request_messages: _messages, ...completion }) => completion,
    update: (completion, body) => applyFields(completion, body, ['metadata']),
    deleted: 'chat.completion.deleted',
    filter: (completion, query) => !query.model || completion.model === query.model || String(completion.model).startsWith(`${query.model}-`),
    list: { order: 'asc' },
  });
  app.get<Routes>(`${CHAT}/:id/messages`, async (request) => {
    const call = open(request);
    if (!call) return;
    const completion = collectionFor(runtime, call.exchange.org.id, CHAT).get(call.params.id ?? '');
    if (!completion) return sendError(call.exchange, noSuchObject('chat completion', call.params.id ?? ''));
    const messages = (Array.isArray(completion.request_messages) ? completion.request_messages : []).map((message, index) => {
      const object = asObject(message) ?? {};
      return { id: `${completion.id}-${index}`, role: object.role, content: contentText(object.content), name: object.name ?? null, content_parts: null };
    });
    await sendJson(call.exchange, listPage(messages, request.query, { order: 'asc' }));
  });
}

/** Keeps a chat completion the request asked to store, so it can be listed, retrieved and deleted later. */
export function keepChatCompletion(exchange: Exchange, completion: JsonObject, body: JsonObject): void {
  collectionFor(exchange.runtime, exchange.org.id, CHAT).add({
    ...completion,
    id: String(completion.id),
    metadata: metadataOf(body) ?? {},
    request_messages: body.messages,
  });
}
