// The rest of the platform surface: conversations and their items, containers and their files, evals and their
// runs, realtime and ChatKit sessions, skills, videos, and deleting fine-tuned models. Valid shapes; usage where
// OpenAI reports it (eval runs per model, videos by seconds), none where it does not apply.
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import type { SimulatorRuntime } from './runtime.js';
import { admit, exchangeOf, sendBody, sendError, sendJson, sendReadable, type Exchange } from './exchange.js';
import { errorBody, invalidRequest, noSuchObject } from './errors.js';
import { asObject, type JsonObject } from './payload.js';
import { fileCollection, MAX_FILE_BYTES, type ReceivedForm } from './files.js';
import { applyFields, bodyOrForm, collectionFor, discardFiles, metadataOf, open, registerCrud } from './crud.js';
import { listPage, newObjectId, nowSeconds, type ListQuery, type StoredObject } from './store.js';
import { countTextTokens, planCompletion } from './tokens.js';

type Routes = { Params: Record<string, string>; Querystring: ListQuery & Record<string, string | undefined> };

const CONVERSATIONS = '/v1/conversations';
export const CONVERSATION_ITEMS = '/v1/conversations/:parent/items';
const CONTAINERS = '/v1/containers';
const CONTAINER_FILES = '/v1/containers/:parent/files';
const EVALS = '/v1/evals';
const EVAL_RUNS = '/v1/evals/:parent/runs';
const SKILLS = '/v1/skills';
const VIDEOS = '/v1/videos';

/** Items as a conversation stores them: each with an id and, for messages, typed content. */
export function conversationItems(items: unknown): StoredObject[] {
  if (!Array.isArray(items)) return [];
  return items.map((item) => {
    const object = asObject(item) ?? {};
    const role = typeof object.role === 'string' ? object.role : undefined;
    const content =
      typeof object.content === 'string'
        ? [{ type: role === 'assistant' ? 'output_text' : 'input_text', text: object.content }]
        : (object.content ?? []);
    return {
      type: 'message',
      status: 'completed',
      ...object,
      ...(role ? { content } : {}),
      id: typeof object.id === 'string' ? object.id : newObjectId(role ? 'msg_' : 'item_'),
    };
  });
}

function registerConversations(app: FastifyInstance, runtime: SimulatorRuntime): void {
  registerCrud(app, runtime, {
    path: CONVERSATIONS,
    label: 'conversation',
    list: false,
    create: ({ exchange, body }) => {
      const conversation: StoredObject = { id: newObjectId('conv_'), object: 'conversation', created_at: nowSeconds(), metadata: metadataOf(body) ?? {} };
      const items = collectionFor(runtime, exchange.org.id, CONVERSATION_ITEMS, conversation.id);
      for (const item of conversationItems(body.items)) items.add(item);
      return conversation;
    },
    update: (conversation, body) => applyFields(conversation, body, ['metadata']),
    deleted: 'conversation.deleted',
  });
  const parent = { kind: CONVERSATIONS, label: 'conversation' };
  app.post<Routes>(CONVERSATION_ITEMS, async (request) => {
    const call = open(request, parent);
    if (!call) return;
    const items = collectionFor(runtime, call.exchange.org.id, CONVERSATION_ITEMS, call.params.parent);
    const added = conversationItems(asObject(request.body)?.items).map((item) => items.add(item));
    await sendJson(call.exchange, { object: 'list', data: added, first_id: added[0]?.id ?? null, last_id: added.at(-1)?.id ?? null, has_more: false });
  });
  registerCrud(app, runtime, {
    path: CONVERSATION_ITEMS,
    label: 'conversation item',
    parent,
    // Deleting an item answers with the conversation it was removed from.
    deleted: (item, exchange) => {
      const params = exchange.request.params as Record<string, string>;
      return collectionFor(runtime, exchange.org.id, CONVERSATIONS).get(params.parent ?? '') ?? { id: params.parent, object: 'conversation' };
    },
  });
}

function registerContainers(app: FastifyInstance, runtime: SimulatorRuntime): void {
  registerCrud(app, runtime, {
    path: CONTAINERS,
    label: 'container',
    create: ({ body }) => {
      if (typeof body.name !== 'string' || body.name === '') return invalidRequest("Missing required parameter: 'name'.", 'name');
      const created = nowSeconds();
      return {
        id: newObjectId('cntr_'),
        object: 'container',
        created_at: created,
        status: 'running',
        expires_after: asObject(body.expires_after) ?? { anchor: 'last_active_at', minutes: 20 },
        last_active_at: created,
        name: body.name,
        memory_limit: typeof body.memory_limit === 'string' ? body.memory_limit : '1g',
      };
    },
    deleted: 'container.deleted',
  });
  registerCrud(app, runtime, { path: CONTAINER_FILES, label: 'container file', parent: { kind: CONTAINERS, label: 'container' }, deleted: 'container.file.deleted' });
  app.get<Routes>(`${CONTAINER_FILES}/:id/content`, async (request) => {
    const call = open(request, { kind: CONTAINERS, label: 'container' });
    if (!call) return;
    const file = collectionFor(runtime, call.exchange.org.id, CONTAINER_FILES, call.params.parent).get(call.params.id ?? '');
    if (!file) return sendError(call.exchange, noSuchObject('container file', call.params.id ?? ''));
    await sendReadable(call.exchange, createReadStream(String(file.disk_path)), 'application/octet-stream', Number(file.bytes));
  });
}

/** Container files: a multipart upload (streamed to disk) or a JSON reference to an uploaded file. */
async function createContainerFile(runtime: SimulatorRuntime, exchange: Exchange, containerId: string, form: ReceivedForm): Promise<void> {
  const upload = form.files.find((file) => file.field === 'file');
  for (const file of form.files) if (file !== upload) discardFiles({ fields: {}, files: [file] });
  let path: string;
  let bytes: number;
  let name: string;
  if (upload) {
    ({ path, bytes } = upload);
    name = upload.filename;
  } else {
    const fileId = form.fields.file_id ?? '';
    const source = fileCollection(runtime, exchange.org.id).get(fileId);
    if (!source) return sendError(exchange, noSuchObject('File', fileId, 'file_id'));
    // The container shares the uploaded file's bytes.
    path = source.path;
    bytes = source.bytes;
    name = String(source.object.filename);
  }
  const file: StoredObject = {
    id: newObjectId('cfile_'),
    object: 'container.file',
    bytes,
    container_id: containerId,
    created_at: nowSeconds(),
    path: `/mnt/data/${name}`,
    source: 'user',
  };
  collectionFor(runtime, exchange.org.id, CONTAINER_FILES, containerId).add({ ...file, disk_path: path });
  await sendJson(exchange, file);
}

function registerEvals(app: FastifyInstance, runtime: SimulatorRuntime): void {
  registerCrud(app, runtime, {
    path: EVALS,
    label: 'eval',
    create: ({ body }) => ({
      id: newObjectId('eval_'),
      object: 'eval',
      created_at: nowSeconds(),
      data_source_config: asObject(body.data_source_config) ?? { type: 'custom', schema: {} },
      metadata: metadataOf(body),
      name: typeof body.name === 'string' ? body.name : 'eval',
      testing_criteria: Array.isArray(body.testing_criteria) ? body.testing_criteria : [],
    }),
    update: (evaluation, body) => applyFields(evaluation, body, ['name', 'metadata']),
    deleted: (evaluation) => ({ deleted: true, eval_id: evaluation.id, object: 'eval.deleted' }),
  });
  const parent = { kind: EVALS, label: 'eval' };
  registerCrud(app, runtime, {
    path: EVAL_RUNS,
    label: 'eval run',
    parent,
    create: ({ exchange, params, body }) => {
      const source = asObject(body.data_source) ?? {};
      const model = typeof asObject(source.sampling_params)?.model === 'string' ? String(asObject(source.sampling_params)?.model) : typeof source.model === 'string' ? source.model : 'gpt-4o-mini';
      const content = asObject(asObject(source.source)?.content);
      const rows = Array.isArray(asObject(source.source)?.content) ? (asObject(source.source)?.content as unknown[]).length : content ? 1 : 2;
      // Each row is sampled once: usage as the sampled model would report it.
      const plan = planCompletion(model, JSON.stringify(source), countTextTokens(JSON.stringify(source)), undefined);
      const runId = newObjectId('evalrun_');
      const passed = Math.ceil(rows / 2);
      const outputs = collectionFor(runtime, exchange.org.id, `${EVAL_RUNS}/:run/output_items`, runId);
      for (let row = 0; row < rows; row++) {
        outputs.add({
          id: newObjectId('outputitem_'),
          object: 'eval.run.output_item',
          created_at: nowSeconds(),
          datasource_item: {},
          datasource_item_id: row,
          eval_id: params.parent ?? '',
          results: [{ name: 'criterion', passed: row < passed, score: row < passed ? 1 : 0, sample: null, type: 'string_check' }],
          run_id: runId,
          sample: {
            error: { code: null, message: null },
            finish_reason: plan.finishReason,
            input: [],
            max_completion_tokens: 0,
            model,
            output: [{ role: 'assistant', content: plan.text }],
            seed: 42,
            temperature: 1,
            top_p: 1,
            usage: { cached_tokens: plan.cachedTokens, completion_tokens: plan.completionTokens, prompt_tokens: plan.promptTokens, total_tokens: plan.promptTokens + plan.completionTokens },
          },
          status: row < passed ? 'pass' : 'fail',
        });
      }
      runtime.stats.delivered(exchange.org.id, model, { promptTokens: plan.promptTokens * rows, completionTokens: plan.completionTokens * rows, cachedTokens: plan.cachedTokens * rows });
      return {
        id: runId,
        object: 'eval.run',
        created_at: nowSeconds(),
        data_source: source,
        error: { code: '', message: '' },
        eval_id: params.parent ?? '',
        metadata: metadataOf(body),
        model,
        name: typeof body.name === 'string' ? body.name : 'run',
        per_model_usage: [
          {
            cached_tokens: plan.cachedTokens * rows,
            completion_tokens: plan.completionTokens * rows,
            invocation_count: rows,
            model_name: model,
            prompt_tokens: plan.promptTokens * rows,
            total_tokens: (plan.promptTokens + plan.completionTokens) * rows,
          },
        ],
        per_testing_criteria_results: [{ failed: rows - passed, passed, testing_criteria: 'criterion' }],
        report_url: `https://platform.openai.com/evaluations/${params.parent ?? ''}?run_id=${runId}`,
        result_counts: { errored: 0, failed: rows - passed, passed, total: rows },
        status: 'completed',
      };
    },
    // POST …/runs/{id} cancels a run; a simulated run is already finished, so it answers as it stands.
    update: () => undefined,
    deleted: (run) => ({ deleted: true, object: 'eval.run.deleted', run_id: run.id }),
  });
  const outputsPath = `${EVAL_RUNS}/:run/output_items`;
  app.get<Routes>('/v1/evals/:parent/runs/:run/output_items', async (request) => {
    const call = open(request, parent);
    if (!call) return;
    const items = [...collectionFor(runtime, call.exchange.org.id, outputsPath, call.params.run).values()];
    const status = request.query.status;
    await sendJson(call.exchange, listPage(items.filter((item) => !status || item.status === status), request.query));
  });
  app.get<Routes>('/v1/evals/:parent/runs/:run/output_items/:id', async (request) => {
    const call = open(request, parent);
    if (!call) return;
    const item = collectionFor(runtime, call.exchange.org.id, outputsPath, call.params.run).get(call.params.id ?? '');
    if (!item) return sendError(call.exchange, noSuchObject('eval run output item', call.params.id ?? ''));
    await sendJson(call.exchange, item);
  });
}

function clientSecret(seconds = 60): JsonObject {
  return { value: `ek_${newObjectId('')}`, expires_at: nowSeconds() + seconds };
}

function registerRealtime(app: FastifyInstance, runtime: SimulatorRuntime): void {
  app.post<Routes>('/v1/realtime/client_secrets', async (request) => {
    const call = open(request);
    if (!call) return;
    const body = asObject(request.body) ?? {};
    const session = asObject(body.session) ?? { type: 'realtime' };
    const secret = clientSecret(Number(asObject(body.expires_after)?.seconds ?? 600));
    const model = typeof session.model === 'string' ? session.model : 'gpt-realtime';
    const shown: JsonObject =
      session.type === 'transcription'
        ? { ...session, id: newObjectId('sess_'), object: 'realtime.transcription_session', expires_at: secret.expires_at }
        : { ...session, type: 'realtime', id: newObjectId('sess_'), object: 'realtime.session', model, expires_at: secret.expires_at, output_modalities: session.output_modalities ?? ['audio'] };
    await sendJson(call.exchange, { ...secret, session: shown });
  });
  app.post<Routes>('/v1/realtime/sessions', async (request) => {
    const call = open(request);
    if (!call) return;
    const body = asObject(request.body) ?? {};
    await sendJson(call.exchange, {
      id: newObjectId('sess_'),
      object: 'realtime.session',
      model: typeof body.model === 'string' ? body.model : 'gpt-4o-realtime-preview',
      modalities: body.modalities ?? ['audio', 'text'],
      instructions: body.instructions ?? '',
      voice: body.voice ?? 'alloy',
      input_audio_format: 'pcm16',
      output_audio_format: 'pcm16',
      input_audio_transcription: null,
      turn_detection: { type: 'server_vad', threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: 200 },
      tools: [],
      tool_choice: 'auto',
      temperature: 0.8,
      max_response_output_tokens: 'inf',
      client_secret: clientSecret(),
    });
  });
  app.post<Routes>('/v1/realtime/transcription_sessions', async (request) => {
    const call = open(request);
    if (!call) return;
    const body = asObject(request.body) ?? {};
    await sendJson(call.exchange, {
      client_secret: clientSecret(),
      input_audio_format: body.input_audio_format ?? 'pcm16',
      input_audio_transcription: body.input_audio_transcription ?? { model: 'gpt-4o-transcribe', language: null, prompt: '' },
      modalities: ['text'],
      turn_detection: { type: 'server_vad', threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: 200 },
    });
  });
  // SIP call control answers 200 with no body, as OpenAI does.
  for (const action of ['accept', 'hangup', 'refer', 'reject']) {
    app.post<Routes>(`/v1/realtime/calls/:id/${action}`, async (request) => {
      const call = open(request);
      if (call) await sendBody(call.exchange, '', 'text/plain', 0);
    });
  }
  void runtime;
}

const CHATKIT_SESSIONS = '/v1/chatkit/sessions';
const CHATKIT_THREADS = '/v1/chatkit/threads';

function registerChatKit(app: FastifyInstance, runtime: SimulatorRuntime): void {
  app.post<Routes>(CHATKIT_SESSIONS, async (request) => {
    const call = open(request);
    if (!call) return;
    const body = asObject(request.body) ?? {};
    const workflow = asObject(body.workflow);
    if (!workflow || typeof workflow.id !== 'string') return sendError(call.exchange, invalidRequest("Missing required parameter: 'workflow.id'.", 'workflow'));
    if (typeof body.user !== 'string') return sendError(call.exchange, invalidRequest("Missing required parameter: 'user'.", 'user'));
    const created = nowSeconds();
    const session: StoredObject = {
      id: newObjectId('cksess_'),
      object: 'chatkit.session',
      chatkit_configuration: { automatic_thread_titling: { enabled: true }, file_upload: { enabled: false, max_file_size: 512, max_files: 10 }, history: { enabled: true, recent_threads: null } },
      client_secret: `ek_${newObjectId('')}`,
      expires_at: created + 600,
      max_requests_per_1_minute: 10,
      rate_limits: { max_requests_per_1_minute: 10 },
      status: 'active',
      user: body.user,
      workflow: { id: workflow.id, state_variables: null, tracing: { enabled: true }, version: workflow.version ?? null },
    };
    collectionFor(runtime, call.exchange.org.id, CHATKIT_SESSIONS).add(session);
    // The ChatKit UI would open a thread with the session; the simulator opens one so threads have something to show.
    const thread: StoredObject = { id: newObjectId('cthr_'), object: 'chatkit.thread', created_at: created, status: { type: 'active' }, title: null, user: body.user };
    collectionFor(runtime, call.exchange.org.id, CHATKIT_THREADS).add(thread);
    collectionFor(runtime, call.exchange.org.id, `${CHATKIT_THREADS}/:parent/items`, thread.id).add({
      id: newObjectId('cthi_'),
      object: 'chatkit.thread_item',
      created_at: created,
      thread_id: thread.id,
      type: 'chatkit.user_message',
      content: [{ type: 'input_text', text: 'Hello' }],
      attachments: [],
      inference_options: null,
    });
    await sendJson(call.exchange, session);
  });
  app.post<Routes>(`${CHATKIT_SESSIONS}/:id/cancel`, async (request) => {
    const call = open(request);
    if (!call) return;
    const session = collectionFor(runtime, call.exchange.org.id, CHATKIT_SESSIONS).get(call.params.id ?? '');
    if (!session) return sendError(call.exchange, noSuchObject('ChatKit session', call.params.id ?? ''));
    session.status = 'cancelled';
    await sendJson(call.exchange, session);
  });
  registerCrud(app, runtime, {
    path: CHATKIT_THREADS,
    label: 'ChatKit thread',
    filter: (thread, query) => !query.user || thread.user === query.user,
    deleted: 'chatkit.thread.deleted',
  });
  app.get<Routes>(`${CHATKIT_THREADS}/:parent/items`, async (request) => {
    const call = open(request, { kind: CHATKIT_THREADS, label: 'ChatKit thread' });
    if (!call) return;
    await sendJson(call.exchange, listPage(collectionFor(runtime, call.exchange.org.id, `${CHATKIT_THREADS}/:parent/items`, call.params.parent).values(), request.query));
  });
}

/** A skill's name and description come from its SKILL.md front matter, as OpenAI reads them. */
async function skillVersion(skillId: string, version: string, form: ReceivedForm): Promise<StoredObject> {
  const upload = form.files[0];
  const head = upload ? (await readFile(upload.path)).subarray(0, 4096).toString('utf8') : '';
  const name = /^name:\s*(.+)$/m.exec(head)?.[1]?.trim() ?? form.fields.name ?? 'skill';
  const description = /^description:\s*(.+)$/m.exec(head)?.[1]?.trim() ?? form.fields.description ?? '';
  return { id: newObjectId('skillver_'), object: 'skill.version', created_at: nowSeconds(), description, name, skill_id: skillId, version, disk_path: upload?.path ?? null, bytes: upload?.bytes ?? 0 };
}

function hideDisk({ disk_path: _path, bytes: _bytes, ...shown }: StoredObject): JsonObject {
  return shown;
}

const VIDEO_BYTES_PER_SECOND = 50_000;

function registerSkillsAndVideos(app: FastifyInstance, runtime: SimulatorRuntime): void {
  registerCrud(app, runtime, {
    path: SKILLS,
    label: 'skill',
    update: (skill, body) => {
      if (typeof body.default_version === 'string') skill.default_version = body.default_version;
    },
    deleted: 'skill.deleted',
    view: hideDisk,
  });
  registerCrud(app, runtime, {
    path: `${SKILLS}/:parent/versions`,
    label: 'skill version',
    parent: { kind: SKILLS, label: 'skill' },
    deleted: (version) => ({ id: version.id, deleted: true, object: 'skill.version.deleted', version: version.version }),
    view: hideDisk,
  });
  const sendZip = async (exchange: Exchange, version: StoredObject | undefined): Promise<void> => {
    if (!version) return sendError(exchange, noSuchObject('skill version', ''));
    if (typeof version.disk_path === 'string') return void (await sendReadable(exchange, createReadStream(version.disk_path), 'application/zip', Number(version.bytes)));
    await sendBody(exchange, Buffer.from('PK\x05\x06' + '\0'.repeat(18), 'latin1'), 'application/zip', 0);
  };
  app.get<Routes>(`${SKILLS}/:parent/content`, async (request) => {
    const call = open(request, { kind: SKILLS, label: 'skill' });
    if (!call) return;
    const skill = collectionFor(runtime, call.exchange.org.id, SKILLS).get(call.params.parent ?? '');
    const versions = collectionFor(runtime, call.exchange.org.id, `${SKILLS}/:parent/versions`, call.params.parent);
    await sendZip(call.exchange, [...versions.values()].find((version) => version.version === skill?.default_version));
  });
  app.get<Routes>(`${SKILLS}/:parent/versions/:id/content`, async (request) => {
    const call = open(request, { kind: SKILLS, label: 'skill' });
    if (!call) return;
    await sendZip(call.exchange, collectionFor(runtime, call.exchange.org.id, `${SKILLS}/:parent/versions`, call.params.parent).get(call.params.id ?? ''));
  });

  registerCrud(app, runtime, { path: VIDEOS, label: 'video', deleted: 'video.deleted', view: hideDisk });
  app.get<Routes>(`${VIDEOS}/:id/content`, async (request) => {
    const call = open(request);
    if (!call) return;
    const video = collectionFor(runtime, call.exchange.org.id, VIDEOS).get(call.params.id ?? '');
    if (!video) return sendError(call.exchange, noSuchObject('video', call.params.id ?? ''));
    if (video.status !== 'completed') {
      return sendError(call.exchange, { status: 404, body: errorBody(`Video ${video.id} is ${String(video.status)}; its content is ready once it completes.`, 'invalid_request_error', null, null) });
    }
    const variant = request.query.variant ?? 'video';
    const bytes = variant === 'video' ? Math.round(Number(video.seconds) * VIDEO_BYTES_PER_SECOND) : 2_048;
    const type = variant === 'video' ? 'video/mp4' : variant === 'thumbnail' ? 'image/webp' : 'application/json';
    const body = Buffer.alloc(bytes);
    body.write('\0\0\0\x18ftypmp42', 0, 'latin1');
    await sendBody(call.exchange, body, type, 0);
  });
  app.get<Routes>(`${VIDEOS}/characters/:id`, async (request) => {
    const call = open(request);
    if (!call) return;
    const character = collectionFor(runtime, call.exchange.org.id, `${VIDEOS}/characters`).get(call.params.id ?? '');
    if (!character) return sendError(call.exchange, noSuchObject('character', call.params.id ?? ''));
    await sendJson(call.exchange, character);
  });
}

/** A video job: admitted against the model's limits, then queued → in_progress → completed on the job clock. */
function startVideo(runtime: SimulatorRuntime, exchange: Exchange, fields: Record<string, string>, remixedFrom: StoredObject | undefined): void {
  const model = fields.model ?? (remixedFrom ? String(remixedFrom.model) : 'sora-2');
  const prompt = fields.prompt ?? '';
  if (prompt === '') return sendError(exchange, invalidRequest("Missing required parameter: 'prompt'.", 'prompt', 'missing_required_parameter'));
  if (!admit(exchange, model, 0, prompt)) return;
  const seconds = fields.seconds ?? (remixedFrom ? String(remixedFrom.seconds) : '4');
  const video: StoredObject = {
    id: newObjectId('video_'),
    object: 'video',
    completed_at: null,
    created_at: nowSeconds(),
    error: null,
    expires_at: null,
    model,
    progress: 0,
    prompt,
    remixed_from_video_id: remixedFrom?.id ?? null,
    seconds,
    size: fields.size ?? (remixedFrom ? String(remixedFrom.size) : '720x1280'),
    status: 'queued',
  };
  collectionFor(runtime, exchange.org.id, VIDEOS).add(video);
  runtime.store.later(runtime.jobPhaseMs, () => {
    Object.assign(video, { status: 'in_progress', progress: 50 });
    runtime.store.later(runtime.jobPhaseMs, () => {
      const completed = nowSeconds();
      Object.assign(video, { status: 'completed', progress: 100, completed_at: completed, expires_at: completed + 86_400 });
    });
  });
  void sendJson(exchange, video);
}

/** Routes whose bodies may be multipart (skills, videos, container files): registered in the streamed scope. */
export function registerStreamedPlatformRoutes(child: FastifyInstance, runtime: SimulatorRuntime): void {
  child.post<Routes>(`${CONTAINER_FILES}`, async (request) => {
    const call = open(request, { kind: CONTAINERS, label: 'container' });
    if (!call) return void request.raw.resume();
    const form = await bodyOrForm(call.exchange, MAX_FILE_BYTES);
    if (form) await createContainerFile(runtime, call.exchange, call.params.parent ?? '', form);
  });
  child.post<Routes>(SKILLS, async (request) => {
    const call = open(request);
    if (!call) return void request.raw.resume();
    const form = await bodyOrForm(call.exchange, MAX_FILE_BYTES);
    if (!form) return;
    const skillId = newObjectId('skill_');
    const version = await skillVersion(skillId, '1', form);
    collectionFor(runtime, call.exchange.org.id, `${SKILLS}/:parent/versions`, skillId).add(version);
    const skill: StoredObject = { id: skillId, object: 'skill', created_at: nowSeconds(), default_version: '1', description: String(version.description), latest_version: '1', name: String(version.name) };
    collectionFor(runtime, call.exchange.org.id, SKILLS).add(skill);
    await sendJson(call.exchange, skill);
  });
  child.post<Routes>(`${SKILLS}/:parent/versions`, async (request) => {
    const call = open(request, { kind: SKILLS, label: 'skill' });
    if (!call) return void request.raw.resume();
    const form = await bodyOrForm(call.exchange, MAX_FILE_BYTES);
    if (!form) return;
    const skill = collectionFor(runtime, call.exchange.org.id, SKILLS).get(call.params.parent ?? '');
    if (!skill) return;
    const next = String(Number(skill.latest_version ?? '0') + 1);
    const version = collectionFor(runtime, call.exchange.org.id, `${SKILLS}/:parent/versions`, skill.id).add(await skillVersion(skill.id, next, form));
    skill.latest_version = next;
    if (form.fields.default === 'true') skill.default_version = next;
    await sendJson(call.exchange, hideDisk(version));
  });
  const videoRoute = (path: string, source: 'id' | 'field' | 'none'): void => {
    child.post<Routes>(path, async (request) => {
      const exchange = exchangeOf(request);
      const form = await bodyOrForm(exchange, MAX_FILE_BYTES);
      if (!form) return;
      discardFiles(form);
      const videos = collectionFor(runtime, exchange.org.id, VIDEOS);
      const sourceId = source === 'id' ? request.params.id : source === 'field' ? (asObject(safeJson(form.fields.video))?.id as string | undefined) ?? form.fields['video[id]'] ?? form.fields.video_id : undefined;
      const from = sourceId === undefined ? undefined : videos.get(sourceId);
      if (source !== 'none' && !from) return sendError(exchange, noSuchObject('video', sourceId ?? ''));
      startVideo(runtime, exchange, form.fields, from);
    });
  };
  videoRoute(VIDEOS, 'none');
  videoRoute(`${VIDEOS}/:id/remix`, 'id');
  videoRoute(`${VIDEOS}/edits`, 'field');
  videoRoute(`${VIDEOS}/extensions`, 'field');
  child.post<Routes>(`${VIDEOS}/characters`, async (request) => {
    const call = open(request);
    if (!call) return void request.raw.resume();
    const form = await bodyOrForm(call.exchange, MAX_FILE_BYTES);
    if (!form) return;
    discardFiles(form);
    const character: StoredObject = { id: newObjectId('char_'), created_at: nowSeconds(), name: form.fields.name ?? null };
    collectionFor(runtime, call.exchange.org.id, `${VIDEOS}/characters`).add(character);
    await sendJson(call.exchange, character);
  });
}

function safeJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function registerPlatformRoutes(app: FastifyInstance, runtime: SimulatorRuntime): void {
  registerConversations(app, runtime);
  registerContainers(app, runtime);
  registerEvals(app, runtime);
  registerRealtime(app, runtime);
  registerChatKit(app, runtime);
  registerSkillsAndVideos(app, runtime);
  // Only fine-tuned models can be deleted, by the org that made them.
  app.delete<Routes>('/v1/models/:id', async (request) => {
    const call = open(request);
    if (!call) return;
    const id = call.params.id ?? '';
    if (!id.startsWith('ft:') || !id.includes(`:${call.exchange.org.id}:`)) {
      return sendError(call.exchange, { status: 403, body: errorBody(`You do not have permission to delete the model '${id}'.`, 'invalid_request_error', 'model', 'model_not_found') });
    }
    await sendJson(call.exchange, { id, object: 'model', deleted: true });
  });
}
