// Every resource and method of the official openai SDK, called against the simulator with the SDK itself
// (baseURL = simulator): the table below must cover what a walk of the SDK's resources finds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI, { APIError, toFile } from 'openai';
import { APIResource } from 'openai/core/resource';
import { toneWav } from '../../server/simulator/audio-samples.js';
import { startSimulator, type Simulator } from '../../server/simulator/simulator.js';
import { ENDPOINTS, RESOURCE_ENDPOINTS } from '../../server/gateway/endpoints.js';
import { fileRoundTrip } from '../support/file-round-trip.js';
import { startStack, type Stack } from '../support/stack.js';

const KEY = 'sk-test-surface-0001';
const ORG = 'org-surface';
/** Short job phases keep the file quick; long enough that a poll sees each phase on a busy machine. */
const PHASE_MS = 100;
const LIFECYCLE_PHASE_MS = 250;

/** Every `resource.path.method` a walk of the client's APIResource tree finds. */
function sdkMethods(client: OpenAI): string[] {
  const found: string[] = [];
  const seen = new Set<APIResource>();
  const walk = (object: object, path: string): void => {
    for (const [key, value] of Object.entries(object)) {
      if (!(value instanceof APIResource) || seen.has(value)) continue;
      seen.add(value);
      const name = path === '' ? key : `${path}.${key}`;
      for (let proto = Object.getPrototypeOf(value); proto && proto !== APIResource.prototype; proto = Object.getPrototypeOf(proto)) {
        for (const method of Object.getOwnPropertyNames(proto)) {
          if (method !== 'constructor' && typeof (proto as Record<string, unknown>)[method] === 'function') found.push(`${name}.${method}`);
        }
      }
      walk(value, name);
    }
  };
  walk(client, '');
  return [...new Set(found)];
}

/** Methods that never reach the API (webhook signatures are checked client-side). */
const CLIENT_ONLY: Record<string, string> = {
  'webhooks.unwrap': 'verifies a webhook payload locally',
  'webhooks.verifySignature': 'verifies a webhook signature locally',
};

async function collect<T>(page: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of page) items.push(item);
  return items;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() - started > timeoutMs) return value;
    await sleep(PHASE_MS / 4);
  }
}

/** The ledger name a call should get: its template's, a static segment preferred over a parameter (as Fastify routes). */
function templateName(method: string, path: string): string | undefined {
  const candidates = [...ENDPOINTS, ...RESOURCE_ENDPOINTS].filter((e) => e.method === method && new RegExp(`^/v1${e.path.replace(/:[a-z_]+/g, '[^/]+')}$`).test(path));
  return candidates.sort((a, b) => (a.path.match(/:/g)?.length ?? 0) - (b.path.match(/:/g)?.length ?? 0))[0]?.name;
}

/**
 * The walk below, run twice: against the simulator itself, and through a whole Tallygate (the SDK's
 * baseURL at the gateway, a gateway key) where every call must also get exactly one ledger row
 * under the name of its path template (none under the catch-all's `other`).
 */
const wholeSurface = (via: 'simulator' | 'gateway') => () => {
  let simulator: Simulator;
  let client: OpenAI;
  let stack: Stack | undefined;
  /** Through the gateway: each call the SDK made, and the ledger event id the gateway answered with. */
  const calls: Array<{ method: string; url: string; status: number; eventId: string | null }> = [];
  const recording: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    // Only what went to the gateway (the SDK also fetches `data:` URLs to build uploads).
    if (String(input).startsWith(stack!.url)) calls.push({ method: init?.method ?? 'GET', url: String(input), status: res.status, eventId: res.headers.get('x-tallygate-event-id') });
    return res;
  };
  const memo = new Map<string, Promise<unknown>>();
  /** A fine-tuning job caught while running and paused (made once, for the pause and resume steps). */
  const pausedJob = () =>
    once('paused', async () => {
      const other = await client.fineTuning.jobs.create({ model: 'gpt-4o-mini', training_file: (await trainingFile()).id });
      await until(() => client.fineTuning.jobs.retrieve(other.id), (j) => j.status === 'running');
      return client.fineTuning.jobs.pause(other.id);
    });
  /** A fixture made once and shared by the steps that need it. */
  const once = <T>(name: string, make: () => Promise<T>): Promise<T> => {
    if (!memo.has(name)) memo.set(name, make());
    return memo.get(name) as Promise<T>;
  };

  beforeAll(async () => {
    if (via === 'gateway') {
      stack = await startStack({ orgs: [{ id: ORG }], simulator: { jobPhaseMs: PHASE_MS } });
      simulator = stack.sim;
      client = stack.client(stack.features[0], { fetch: recording });
      return;
    }
    simulator = await startSimulator({ orgs: [{ id: ORG, keys: [KEY] }], jobPhaseMs: PHASE_MS });
    client = new OpenAI({ apiKey: KEY, baseURL: simulator.url, maxRetries: 0 });
  });
  afterAll(async () => {
    if (stack) await stack.close();
    else await simulator.close();
  });

  const png = () => once('png', async () => (await client.images.generate({ model: 'gpt-image-1', prompt: 'a lighthouse', quality: 'low' })).data?.[0]?.b64_json ?? '');
  const pngFile = async () => toFile(Buffer.from(await png(), 'base64'), 'in.png', { type: 'image/png' });
  const textFile = () =>
    once('textFile', async () => client.files.create({ file: await toFile(Buffer.from('The lighthouse keeper logs water levels every morning.'), 'notes.txt'), purpose: 'assistants' }));
  const store = () => once('store', () => client.vectorStores.create({ name: 'docs', file_ids: [] }));
  const storeWithFile = () =>
    once('storeWithFile', async () => {
      const [vs, file] = await Promise.all([store(), textFile()]);
      await client.vectorStores.files.create(vs.id, { file_id: file.id, attributes: { team: 'ops' } });
      return { vs, file };
    });
  const trainingFile = () =>
    once('training', async () =>
      client.files.create({
        file: await toFile(Buffer.from(`${JSON.stringify({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] })}\n`.repeat(20)), 'train.jsonl'),
        purpose: 'fine-tune',
      }),
    );
  const job = () => once('job', async () => client.fineTuning.jobs.create({ model: 'gpt-4o-mini', training_file: (await trainingFile()).id, suffix: 'surface' }));
  const finishedJob = () => once('finishedJob', async () => until(async () => client.fineTuning.jobs.retrieve((await job()).id), (j) => j.status === 'succeeded'));
  const checkpoint = () => once('checkpoint', async () => (await collect(client.fineTuning.jobs.checkpoints.list((await finishedJob()).id)))[0]!.fine_tuned_model_checkpoint);
  const permission = () => once('permission', async () => (await collect(client.fineTuning.checkpoints.permissions.create(await checkpoint(), { project_ids: ['proj_a'] })))[0]!);
  const conversation = () => once('conversation', () => client.conversations.create({ items: [{ type: 'message', role: 'user', content: 'Hello' }], metadata: { topic: 'demo' } }));
  const container = () => once('container', () => client.containers.create({ name: 'sandbox' }));
  const containerFile = () => once('containerFile', async () => client.containers.files.create((await container()).id, { file: await toFile(Buffer.from('print(1)\n'), 'main.py') }));
  const evaluation = () =>
    once('eval', () =>
      client.evals.create({
        name: 'greeting',
        data_source_config: { type: 'custom', item_schema: { type: 'object', properties: { input: { type: 'string' } } } },
        testing_criteria: [{ type: 'string_check', name: 'says hi', input: '{{sample.output_text}}', operation: 'eq', reference: 'hi' }],
      }),
    );
  const evalRun = () =>
    once('evalRun', async () =>
      client.evals.runs.create((await evaluation()).id, {
        name: 'run 1',
        data_source: { type: 'completions', model: 'gpt-4o-mini', source: { type: 'file_content', content: [{ item: { input: 'a' } }, { item: { input: 'b' } }] } },
      }),
    );
  const chatkitSession = () => once('chatkit', () => client.beta.chatkit.sessions.create({ user: 'user_1', workflow: { id: 'wf_123' } }));
  const assistant = () => once('assistant', () => client.beta.assistants.create({ model: 'gpt-4o-mini', name: 'helper', instructions: 'Be brief.' }));
  const thread = () => once('thread', () => client.beta.threads.create({ messages: [{ role: 'user', content: 'What is up?' }] }));
  const run = () => once('run', async () => client.beta.threads.runs.create((await thread()).id, { assistant_id: (await assistant()).id }));
  const finishedRun = () => once('finishedRun', async () => until(async () => client.beta.threads.runs.retrieve((await run()).id, { thread_id: (await thread()).id }), (r) => r.status === 'completed'));
  const skill = () => once('skill', async () => client.skills.create({ files: [await toFile(Buffer.from('---\nname: demo\n---\n'), 'demo/SKILL.md')] }));
  const video = () => once('video', () => client.videos.create({ prompt: 'a wave', model: 'sora-2', seconds: '4' }));
  const storedChat = () => once('storedChat', () => client.chat.completions.create({ model: 'gpt-4o-mini', store: true, metadata: { app: 'surface' }, messages: [{ role: 'user', content: 'Remember me' }] }));
  const storedResponse = () => once('storedResponse', () => client.responses.create({ model: 'gpt-4o-mini', input: [{ role: 'user', content: 'Keep this' }] }));
  const batchInput = () =>
    once('batchInput', async () =>
      client.files.create({
        file: await toFile(Buffer.from(`${JSON.stringify({ custom_id: 'one', method: 'POST', url: '/v1/embeddings', body: { model: 'text-embedding-3-small', input: 'x' } })}\n`), 'in.jsonl'),
        purpose: 'batch',
      }),
    );

  type Step = () => Promise<void>;
  const surface: Record<string, Step> = {
    'completions.create': async () => expect((await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Hi' })).usage?.total_tokens).toBeGreaterThan(0),
    'chat.completions.create': async () => expect((await storedChat()).usage?.prompt_tokens).toBeGreaterThan(0),
    'chat.completions.retrieve': async () => expect((await client.chat.completions.retrieve((await storedChat()).id)).choices[0]?.message.content).toBe((await storedChat()).choices[0]?.message.content),
    'chat.completions.update': async () => expect(((await client.chat.completions.update((await storedChat()).id, { metadata: { app: 'renamed' } })) as unknown as { metadata: unknown }).metadata).toEqual({ app: 'renamed' }),
    'chat.completions.list': async () => expect((await collect(client.chat.completions.list({ limit: 1 }))).map((c) => c.id)).toContain((await storedChat()).id),
    'chat.completions.delete': async () => {
      const made = await client.chat.completions.create({ model: 'gpt-4o-mini', store: true, messages: [{ role: 'user', content: 'Forget me' }] });
      expect((await client.chat.completions.delete(made.id)).deleted).toBe(true);
    },
    'chat.completions.parse': async () => expect((await client.chat.completions.parse({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })).choices[0]?.message.parsed).toBeNull(),
    'chat.completions.runTools': async () => {
      const runner = client.chat.completions.runTools({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], tools: [] });
      expect((await runner.finalContent())?.length).toBeGreaterThan(0);
    },
    'chat.completions.stream': async () => {
      const stream = client.chat.completions.stream({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream_options: { include_usage: true } });
      expect((await stream.finalChatCompletion()).usage?.total_tokens).toBeGreaterThan(0);
    },
    'chat.completions.messages.list': async () => expect((await collect(client.chat.completions.messages.list((await storedChat()).id)))[0]?.content).toBe('Remember me'),
    'embeddings.create': async () => expect((await client.embeddings.create({ model: 'text-embedding-3-small', input: 'x' })).usage.prompt_tokens).toBe(1),
    'files.create': async () => expect((await textFile()).status).toBe('processed'),
    'files.retrieve': async () => expect((await client.files.retrieve((await textFile()).id)).bytes).toBe((await textFile()).bytes),
    'files.list': async () => {
      await Promise.all([textFile(), trainingFile()]);
      const pages = [];
      for await (const page of (await client.files.list({ limit: 1 })).iterPages()) pages.push(page.data.length);
      expect(pages.length).toBeGreaterThanOrEqual(2);
      expect(pages.every((count) => count === 1)).toBe(true);
    },
    'files.delete': async () => {
      const file = await client.files.create({ file: await toFile(Buffer.from('bye'), 'bye.txt'), purpose: 'user_data' });
      expect((await client.files.delete(file.id)).deleted).toBe(true);
      expect(((await client.files.retrieve(file.id).catch((error: unknown) => error)) as APIError).status).toBe(404);
    },
    'files.content': async () => expect(await (await client.files.content((await textFile()).id)).text()).toContain('lighthouse keeper'),
    'files.waitForProcessing': async () => expect((await client.files.waitForProcessing((await textFile()).id)).status).toBe('processed'),
    'images.createVariation': async () => expect((await client.images.createVariation({ image: await pngFile(), n: 2, size: '256x256' })).data).toHaveLength(2),
    'images.edit': async () => {
      const edited = await client.images.edit({ model: 'gpt-image-1', prompt: 'add a boat', image: await pngFile(), quality: 'high', size: '1024x1536' });
      expect(edited.usage?.input_tokens_details.image_tokens).toBeGreaterThan(0);
      expect(edited.usage?.output_tokens).toBe(6240);
    },
    'images.generate': async () => {
      const image = await client.images.generate({ model: 'gpt-image-1', prompt: 'a lighthouse', quality: 'low' });
      expect(image.usage?.output_tokens).toBe(272);
      expect(Buffer.from(image.data?.[0]?.b64_json ?? '', 'base64').subarray(1, 4).toString()).toBe('PNG');
      const dalle = await client.images.generate({ model: 'dall-e-3', prompt: 'a lighthouse', size: '1792x1024', quality: 'hd' });
      expect(dalle.usage).toBeUndefined();
      expect((await fetch(dalle.data?.[0]?.url ?? '')).headers.get('content-type')).toBe('image/png');
    },
    'audio.transcriptions.create': async () => expect((await client.audio.transcriptions.create({ model: 'whisper-1', file: await toFile(toneWav(2), 'a.wav') })).text.length).toBeGreaterThan(0),
    'audio.translations.create': async () => expect((await client.audio.translations.create({ model: 'whisper-1', file: await toFile(toneWav(2), 'a.wav') })).text.length).toBeGreaterThan(0),
    'audio.speech.create': async () => {
      const speech = await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'Hello world', response_format: 'wav' });
      expect(speech.headers.get('content-type')).toBe('audio/wav');
      expect(Buffer.from(await speech.arrayBuffer()).subarray(0, 4).toString()).toBe('RIFF');
    },
    'moderations.create': async () => expect((await client.moderations.create({ input: 'I will kill the process' })).results[0]?.flagged).toBe(true),
    'models.retrieve': async () => expect((await client.models.retrieve('gpt-4o')).id).toBe('gpt-4o'),
    'models.list': async () => expect((await collect(client.models.list())).length).toBeGreaterThan(10),
    'models.delete': async () => expect((await client.models.delete(String((await finishedJob()).fine_tuned_model))).deleted).toBe(true),
    'fineTuning.jobs.create': async () => expect((await job()).status).toBe('validating_files'),
    'fineTuning.jobs.retrieve': async () => {
      const done = await finishedJob();
      expect(done.fine_tuned_model).toMatch(new RegExp(`^ft:gpt-4o-mini-2024-07-18:${ORG}:surface:`));
      expect(done.trained_tokens).toBeGreaterThan(0);
      expect(await (await client.files.content(done.result_files[0] ?? '')).text()).toContain('train_loss');
    },
    'fineTuning.jobs.list': async () => expect((await collect(client.fineTuning.jobs.list())).map((j) => j.id)).toContain((await job()).id),
    'fineTuning.jobs.cancel': async () => {
      const other = await client.fineTuning.jobs.create({ model: 'gpt-4o-mini', training_file: (await trainingFile()).id });
      expect((await client.fineTuning.jobs.cancel(other.id)).status).toBe('cancelled');
    },
    'fineTuning.jobs.listEvents': async () => expect((await collect(client.fineTuning.jobs.listEvents((await finishedJob()).id))).at(0)?.message).toBe('The job has successfully completed'),
    'fineTuning.jobs.pause': async () => expect((await pausedJob()).status).toBe('paused'),
    'fineTuning.jobs.resume': async () => {
      // Shared with the pause step whichever runs first (a step must not depend on the walk's order).
      const paused = await pausedJob();
      expect((await client.fineTuning.jobs.resume(paused.id)).status).toBe('running');
      expect((await until(() => client.fineTuning.jobs.retrieve(paused.id), (j) => j.status === 'succeeded')).status).toBe('succeeded');
    },
    'fineTuning.jobs.checkpoints.list': async () => expect(await checkpoint()).toContain(':ckpt-step-'),
    'fineTuning.checkpoints.permissions.create': async () => expect((await permission()).project_id).toBe('proj_a'),
    'fineTuning.checkpoints.permissions.retrieve': async () => expect((await client.fineTuning.checkpoints.permissions.retrieve(await checkpoint())).data.length).toBeGreaterThan(0),
    'fineTuning.checkpoints.permissions.list': async () => expect((await collect(client.fineTuning.checkpoints.permissions.list(await checkpoint()))).map((p) => p.id)).toContain((await permission()).id),
    'fineTuning.checkpoints.permissions.delete': async () =>
      expect((await client.fineTuning.checkpoints.permissions.delete((await permission()).id, { fine_tuned_model_checkpoint: await checkpoint() })).deleted).toBe(true),
    'fineTuning.alpha.graders.run': async () =>
      expect((await client.fineTuning.alpha.graders.run({ grader: { type: 'string_check', name: 'eq', input: '{{sample.output_text}}', operation: 'eq', reference: 'hi' }, model_sample: 'hi' })).reward).toBe(1),
    'fineTuning.alpha.graders.validate': async () =>
      expect((await client.fineTuning.alpha.graders.validate({ grader: { type: 'string_check', name: 'eq', input: 'a', operation: 'eq', reference: 'b' } })).grader?.type).toBe('string_check'),
    'vectorStores.create': async () => expect((await store()).status).toBe('completed'),
    'vectorStores.retrieve': async () => {
      const { vs, file } = await storeWithFile();
      const shown = await client.vectorStores.retrieve(vs.id);
      expect(shown.usage_bytes).toBeGreaterThanOrEqual(file.bytes);
      expect(shown.file_counts.completed).toBeGreaterThanOrEqual(1);
    },
    'vectorStores.update': async () => expect((await client.vectorStores.update((await store()).id, { name: 'renamed' })).name).toBe('renamed'),
    'vectorStores.list': async () => expect((await collect(client.vectorStores.list())).map((v) => v.id)).toContain((await store()).id),
    'vectorStores.delete': async () => expect((await client.vectorStores.delete((await client.vectorStores.create({ name: 'tmp' })).id)).deleted).toBe(true),
    'vectorStores.search': async () => {
      const { vs } = await storeWithFile();
      const results = await collect(client.vectorStores.search(vs.id, { query: 'water levels' }));
      expect(results[0]?.content[0]?.text).toContain('water levels');
      expect(results[0]?.score).toBeGreaterThan(0.5);
    },
    'vectorStores.files.create': async () => expect((await storeWithFile()).vs.id).toMatch(/^vs_/),
    'vectorStores.files.retrieve': async () => {
      const { vs, file } = await storeWithFile();
      expect((await client.vectorStores.files.retrieve(file.id, { vector_store_id: vs.id })).attributes).toEqual({ team: 'ops' });
    },
    'vectorStores.files.update': async () => {
      const { vs, file } = await storeWithFile();
      expect((await client.vectorStores.files.update(file.id, { vector_store_id: vs.id, attributes: { team: 'dev' } })).attributes).toEqual({ team: 'dev' });
    },
    'vectorStores.files.list': async () => expect((await collect(client.vectorStores.files.list((await storeWithFile()).vs.id))).length).toBe(1),
    'vectorStores.files.delete': async () => {
      const vs = await client.vectorStores.create({ name: 'drop', file_ids: [(await textFile()).id] });
      expect(vs.usage_bytes).toBeGreaterThan(0);
      expect((await client.vectorStores.files.delete((await textFile()).id, { vector_store_id: vs.id })).deleted).toBe(true);
      expect((await client.vectorStores.retrieve(vs.id)).usage_bytes).toBe(0);
    },
    'vectorStores.files.createAndPoll': async () => expect((await client.vectorStores.files.createAndPoll((await store()).id, { file_id: (await textFile()).id })).status).toBe('completed'),
    'vectorStores.files.poll': async () => {
      const { vs, file } = await storeWithFile();
      expect((await client.vectorStores.files.poll(vs.id, file.id)).status).toBe('completed');
    },
    'vectorStores.files.upload': async () => expect((await client.vectorStores.files.upload((await store()).id, await toFile(Buffer.from('up'), 'up.txt'))).status).toBe('completed'),
    'vectorStores.files.uploadAndPoll': async () => expect((await client.vectorStores.files.uploadAndPoll((await store()).id, await toFile(Buffer.from('up'), 'up2.txt'))).status).toBe('completed'),
    'vectorStores.files.content': async () => {
      const { vs, file } = await storeWithFile();
      expect((await collect(client.vectorStores.files.content(file.id, { vector_store_id: vs.id })))[0]?.text).toContain('lighthouse');
    },
    'vectorStores.fileBatches.create': async () => expect((await client.vectorStores.fileBatches.create((await store()).id, { file_ids: [(await textFile()).id] })).file_counts.total).toBe(1),
    'vectorStores.fileBatches.retrieve': async () => {
      const batch = await client.vectorStores.fileBatches.create((await store()).id, { file_ids: [(await textFile()).id] });
      expect((await client.vectorStores.fileBatches.retrieve(batch.id, { vector_store_id: batch.vector_store_id })).status).toBe('completed');
    },
    'vectorStores.fileBatches.cancel': async () => {
      const batch = await client.vectorStores.fileBatches.create((await store()).id, { file_ids: [(await textFile()).id] });
      expect((await client.vectorStores.fileBatches.cancel(batch.id, { vector_store_id: batch.vector_store_id })).id).toBe(batch.id);
    },
    'vectorStores.fileBatches.createAndPoll': async () => expect((await client.vectorStores.fileBatches.createAndPoll((await store()).id, { file_ids: [(await textFile()).id] })).status).toBe('completed'),
    'vectorStores.fileBatches.listFiles': async () => {
      const batch = await client.vectorStores.fileBatches.create((await store()).id, { file_ids: [(await textFile()).id] });
      expect((await collect(client.vectorStores.fileBatches.listFiles(batch.id, { vector_store_id: batch.vector_store_id }))).map((f) => f.id)).toEqual([(await textFile()).id]);
    },
    'vectorStores.fileBatches.poll': async () => {
      const batch = await client.vectorStores.fileBatches.create((await store()).id, { file_ids: [(await textFile()).id] });
      expect((await client.vectorStores.fileBatches.poll(batch.vector_store_id, batch.id)).status).toBe('completed');
    },
    'vectorStores.fileBatches.uploadAndPoll': async () =>
      expect((await client.vectorStores.fileBatches.uploadAndPoll((await store()).id, { files: [await toFile(Buffer.from('a'), 'a.txt')] })).file_counts.completed).toBe(1),
    'beta.realtime.sessions.create': async () => expect((await client.beta.realtime.sessions.create({ model: 'gpt-4o-realtime-preview' })).client_secret.value).toMatch(/^ek_/),
    'beta.realtime.transcriptionSessions.create': async () => expect((await client.beta.realtime.transcriptionSessions.create({})).client_secret.value).toMatch(/^ek_/),
    'beta.chatkit.sessions.create': async () => expect((await chatkitSession()).status).toBe('active'),
    'beta.chatkit.sessions.cancel': async () => expect((await client.beta.chatkit.sessions.cancel((await chatkitSession()).id)).status).toBe('cancelled'),
    'beta.chatkit.threads.retrieve': async () => {
      await chatkitSession();
      const [first] = await collect(client.beta.chatkit.threads.list());
      expect((await client.beta.chatkit.threads.retrieve(first?.id ?? '')).object).toBe('chatkit.thread');
    },
    'beta.chatkit.threads.list': async () => {
      await chatkitSession();
      expect((await collect(client.beta.chatkit.threads.list({ user: 'user_1' }))).length).toBeGreaterThan(0);
    },
    'beta.chatkit.threads.delete': async () => {
      await client.beta.chatkit.sessions.create({ user: 'user_2', workflow: { id: 'wf_123' } });
      const [mine] = await collect(client.beta.chatkit.threads.list({ user: 'user_2' }));
      expect((await client.beta.chatkit.threads.delete(mine?.id ?? '')).deleted).toBe(true);
    },
    'beta.chatkit.threads.listItems': async () => {
      await chatkitSession();
      const [first] = await collect(client.beta.chatkit.threads.list({ user: 'user_1' }));
      expect((await collect(client.beta.chatkit.threads.listItems(first?.id ?? ''))).length).toBe(1);
    },
    'beta.assistants.create': async () => expect((await assistant()).model).toBe('gpt-4o-mini'),
    'beta.assistants.retrieve': async () => expect((await client.beta.assistants.retrieve((await assistant()).id)).name).toBe('helper'),
    'beta.assistants.update': async () => expect((await client.beta.assistants.update((await assistant()).id, { description: 'short' })).description).toBe('short'),
    'beta.assistants.list': async () => expect((await collect(client.beta.assistants.list())).map((a) => a.id)).toContain((await assistant()).id),
    'beta.assistants.delete': async () => expect((await client.beta.assistants.delete((await client.beta.assistants.create({ model: 'gpt-4o' })).id)).deleted).toBe(true),
    'beta.threads.create': async () => expect((await thread()).object).toBe('thread'),
    'beta.threads.retrieve': async () => expect((await client.beta.threads.retrieve((await thread()).id)).id).toBe((await thread()).id),
    'beta.threads.update': async () => expect((await client.beta.threads.update((await thread()).id, { metadata: { a: 'b' } })).metadata).toEqual({ a: 'b' }),
    'beta.threads.delete': async () => expect((await client.beta.threads.delete((await client.beta.threads.create()).id)).deleted).toBe(true),
    'beta.threads.createAndRun': async () => expect((await client.beta.threads.createAndRun({ assistant_id: (await assistant()).id, thread: { messages: [{ role: 'user', content: 'go' }] } })).status).toBe('queued'),
    'beta.threads.createAndRunPoll': async () => {
      const finished = await client.beta.threads.createAndRunPoll({ assistant_id: (await assistant()).id }, { pollIntervalMs: PHASE_MS / 2 });
      expect(finished.status).toBe('completed');
      expect(finished.usage?.total_tokens).toBeGreaterThan(0);
    },
    'beta.threads.createAndRunStream': async () => {
      const stream = client.beta.threads.createAndRunStream({ assistant_id: (await assistant()).id, thread: { messages: [{ role: 'user', content: 'stream it' }] } });
      const run = await stream.finalRun();
      expect(run.status).toBe('completed');
      expect((await stream.finalMessages())[0]?.content[0]).toMatchObject({ type: 'text' });
    },
    'beta.threads.runs.createAndStream': async () => {
      const stream = client.beta.threads.runs.createAndStream((await thread()).id, { assistant_id: (await assistant()).id });
      let text = '';
      stream.on('textDelta', (delta) => (text += delta.value ?? ''));
      expect((await stream.finalRun()).usage?.total_tokens).toBeGreaterThan(0);
      expect(text.length).toBeGreaterThan(0);
    },
    'beta.threads.runs.stream': async () =>
      expect((await client.beta.threads.runs.stream((await thread()).id, { assistant_id: (await assistant()).id }).finalRun()).status).toBe('completed'),
    'beta.threads.runs.submitToolOutputsStream': async () => {
      const other = await client.beta.threads.runs.create((await thread()).id, { assistant_id: (await assistant()).id });
      const stream = client.beta.threads.runs.submitToolOutputsStream(other.id, { thread_id: other.thread_id, tool_outputs: [] });
      expect((await stream.finalRun()).status).toBe('completed');
    },
    'beta.threads.runs.create': async () => expect((await run()).status).toBe('queued'),
    'beta.threads.runs.retrieve': async () => {
      const done = await finishedRun();
      expect(done.usage?.total_tokens).toBe((done.usage?.prompt_tokens ?? 0) + (done.usage?.completion_tokens ?? 0));
      expect(simulator.stats().orgs[ORG]?.models['gpt-4o-mini']?.usage.completionTokens).toBeGreaterThan(0);
    },
    'beta.threads.runs.update': async () => expect((await client.beta.threads.runs.update((await run()).id, { thread_id: (await thread()).id, metadata: { x: 'y' } })).metadata).toEqual({ x: 'y' }),
    'beta.threads.runs.list': async () => expect((await collect(client.beta.threads.runs.list((await thread()).id))).map((r) => r.id)).toContain((await run()).id),
    'beta.threads.runs.cancel': async () => {
      const other = await client.beta.threads.runs.create((await thread()).id, { assistant_id: (await assistant()).id });
      expect((await client.beta.threads.runs.cancel(other.id, { thread_id: other.thread_id })).status).toBe('cancelled');
    },
    'beta.threads.runs.createAndPoll': async () =>
      expect((await client.beta.threads.runs.createAndPoll((await thread()).id, { assistant_id: (await assistant()).id }, { pollIntervalMs: PHASE_MS / 2 })).status).toBe('completed'),
    'beta.threads.runs.poll': async () => expect((await client.beta.threads.runs.poll((await run()).id, { thread_id: (await thread()).id }, { pollIntervalMs: PHASE_MS / 2 })).status).toBe('completed'),
    'beta.threads.runs.submitToolOutputs': async () => {
      const other = await client.beta.threads.runs.create((await thread()).id, { assistant_id: (await assistant()).id });
      expect((await client.beta.threads.runs.submitToolOutputs(other.id, { thread_id: other.thread_id, tool_outputs: [] })).status).toBe('completed');
    },
    'beta.threads.runs.submitToolOutputsAndPoll': async () => {
      const other = await client.beta.threads.runs.create((await thread()).id, { assistant_id: (await assistant()).id });
      expect((await client.beta.threads.runs.submitToolOutputsAndPoll(other.id, { thread_id: other.thread_id, tool_outputs: [] })).status).toBe('completed');
    },
    'beta.threads.runs.steps.retrieve': async () => {
      const done = await finishedRun();
      const [step] = await collect(client.beta.threads.runs.steps.list(done.id, { thread_id: done.thread_id }));
      expect((await client.beta.threads.runs.steps.retrieve(step?.id ?? '', { thread_id: done.thread_id, run_id: done.id })).type).toBe('message_creation');
    },
    'beta.threads.runs.steps.list': async () => {
      const done = await finishedRun();
      expect((await collect(client.beta.threads.runs.steps.list(done.id, { thread_id: done.thread_id })))[0]?.usage?.total_tokens).toBe(done.usage?.total_tokens);
    },
    'beta.threads.messages.create': async () => expect((await client.beta.threads.messages.create((await thread()).id, { role: 'user', content: 'more' })).role).toBe('user'),
    'beta.threads.messages.retrieve': async () => {
      const [first] = await collect(client.beta.threads.messages.list((await thread()).id, { order: 'asc' }));
      expect((await client.beta.threads.messages.retrieve(first?.id ?? '', { thread_id: (await thread()).id })).content[0]?.type).toBe('text');
    },
    'beta.threads.messages.update': async () => {
      const message = await client.beta.threads.messages.create((await thread()).id, { role: 'user', content: 'tag me' });
      expect((await client.beta.threads.messages.update(message.id, { thread_id: message.thread_id, metadata: { k: 'v' } })).metadata).toEqual({ k: 'v' });
    },
    'beta.threads.messages.list': async () => {
      await finishedRun();
      expect((await collect(client.beta.threads.messages.list((await thread()).id))).some((m) => m.role === 'assistant')).toBe(true);
    },
    'beta.threads.messages.delete': async () => {
      const message = await client.beta.threads.messages.create((await thread()).id, { role: 'user', content: 'drop' });
      expect((await client.beta.threads.messages.delete(message.id, { thread_id: message.thread_id })).deleted).toBe(true);
    },
    'batches.create': async () => expect((await client.batches.create({ input_file_id: (await batchInput()).id, endpoint: '/v1/embeddings', completion_window: '24h' })).status).toBe('validating'),
    'batches.retrieve': async () => {
      const batch = await client.batches.create({ input_file_id: (await batchInput()).id, endpoint: '/v1/embeddings', completion_window: '24h' });
      expect((await until(() => client.batches.retrieve(batch.id), (b) => b.status === 'completed')).request_counts?.completed).toBe(1);
    },
    'batches.list': async () => {
      await client.batches.create({ input_file_id: (await batchInput()).id, endpoint: '/v1/embeddings', completion_window: '24h' });
      expect((await collect(client.batches.list())).length).toBeGreaterThan(0);
    },
    'batches.cancel': async () => {
      const batch = await client.batches.create({ input_file_id: (await batchInput()).id, endpoint: '/v1/embeddings', completion_window: '24h' });
      expect((await client.batches.cancel(batch.id)).status).toBe('cancelling');
      expect((await until(() => client.batches.retrieve(batch.id), (b) => b.status === 'cancelled')).status).toBe('cancelled');
    },
    'uploads.create': async () => expect((await client.uploads.create({ bytes: 4, filename: 'x.txt', mime_type: 'text/plain', purpose: 'assistants' })).status).toBe('pending'),
    'uploads.cancel': async () => {
      const upload = await client.uploads.create({ bytes: 4, filename: 'x.txt', mime_type: 'text/plain', purpose: 'assistants' });
      expect((await client.uploads.cancel(upload.id)).status).toBe('cancelled');
    },
    'uploads.complete': async () => {
      const upload = await client.uploads.create({ bytes: 11, filename: 'joined.txt', mime_type: 'text/plain', purpose: 'assistants' });
      const first = await client.uploads.parts.create(upload.id, { data: await toFile(Buffer.from('hello '), 'p1') });
      const second = await client.uploads.parts.create(upload.id, { data: await toFile(Buffer.from('world'), 'p2') });
      const done = await client.uploads.complete(upload.id, { part_ids: [first.id, second.id] });
      expect(done.status).toBe('completed');
      expect(await (await client.files.content(done.file?.id ?? '')).text()).toBe('hello world');
    },
    'uploads.parts.create': async () => {
      const upload = await client.uploads.create({ bytes: 1, filename: 'p.txt', mime_type: 'text/plain', purpose: 'assistants' });
      expect((await client.uploads.parts.create(upload.id, { data: await toFile(Buffer.from('p'), 'p') })).upload_id).toBe(upload.id);
    },
    'responses.create': async () => expect((await storedResponse()).status).toBe('completed'),
    'responses.retrieve': async () => expect((await client.responses.retrieve((await storedResponse()).id)).usage).toEqual((await storedResponse()).usage),
    'responses.delete': async () => {
      const made = await client.responses.create({ model: 'gpt-4o-mini', input: 'drop' });
      await client.responses.delete(made.id);
      expect(((await client.responses.retrieve(made.id).catch((error: unknown) => error)) as APIError).status).toBe(404);
    },
    'responses.parse': async () => expect((await client.responses.parse({ model: 'gpt-4o-mini', input: 'hi' })).output_text.length).toBeGreaterThan(0),
    'responses.stream': async () => expect((await client.responses.stream({ model: 'gpt-4o-mini', input: 'hi' }).finalResponse()).usage?.total_tokens).toBeGreaterThan(0),
    'responses.cancel': async () => {
      const queued = await client.responses.create({ model: 'gpt-4o-mini', input: 'slow', background: true });
      const cancelled = await client.responses.cancel(queued.id);
      expect(cancelled.status).toBe('cancelled');
      expect(cancelled.usage).toBeNull();
    },
    'responses.compact': async () => expect((await client.responses.compact({ model: 'gpt-4.1', input: 'A long conversation about lighthouses and tides.' })).usage.input_tokens).toBeGreaterThan(0),
    'responses.inputItems.list': async () => {
      const items = await collect(client.responses.inputItems.list((await storedResponse()).id));
      expect(items[0]).toMatchObject({ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Keep this' }] });
    },
    'responses.inputTokens.count': async () => expect((await client.responses.inputTokens.count({ model: 'gpt-4o', input: 'Hello there' })).input_tokens).toBeGreaterThan(0),
    'realtime.clientSecrets.create': async () => {
      const secret = await client.realtime.clientSecrets.create({ session: { type: 'realtime', model: 'gpt-realtime' } });
      expect(secret.value).toMatch(/^ek_/);
      expect(secret.session.type).toBe('realtime');
    },
    'realtime.calls.accept': async () => expect(await client.realtime.calls.accept('rtc_1', { type: 'realtime' })).toBeFalsy(),
    'realtime.calls.hangup': async () => expect(await client.realtime.calls.hangup('rtc_1')).toBeFalsy(),
    'realtime.calls.refer': async () => expect(await client.realtime.calls.refer('rtc_1', { target_uri: 'tel:+15550100' })).toBeFalsy(),
    'realtime.calls.reject': async () => expect(await client.realtime.calls.reject('rtc_1')).toBeFalsy(),
    'conversations.create': async () => expect((await conversation()).object).toBe('conversation'),
    'conversations.retrieve': async () => expect((await client.conversations.retrieve((await conversation()).id)).metadata).toEqual({ topic: 'demo' }),
    'conversations.update': async () => expect((await client.conversations.update((await conversation()).id, { metadata: { topic: 'new' } })).metadata).toEqual({ topic: 'new' }),
    'conversations.delete': async () => expect((await client.conversations.delete((await client.conversations.create({})).id)).deleted).toBe(true),
    'conversations.items.create': async () => expect((await client.conversations.items.create((await conversation()).id, { items: [{ type: 'message', role: 'user', content: 'again' }] })).data).toHaveLength(1),
    'conversations.items.retrieve': async () => {
      const [first] = await collect(client.conversations.items.list((await conversation()).id));
      expect((await client.conversations.items.retrieve(first?.id ?? '', { conversation_id: (await conversation()).id })).type).toBe('message');
    },
    'conversations.items.list': async () => {
      const answer = await client.responses.create({ model: 'gpt-4o-mini', conversation: (await conversation()).id, input: 'And the weather?' });
      const items = await collect(client.conversations.items.list((await conversation()).id, { order: 'asc' }));
      expect(items.at(-1)).toMatchObject({ id: answer.output.at(-1)?.id, type: 'message', role: 'assistant' });
      const pages = [];
      await client.conversations.items.create((await conversation()).id, { items: [{ type: 'message', role: 'user', content: 'one more' }] });
      for await (const page of (await client.conversations.items.list((await conversation()).id, { limit: 1 })).iterPages()) pages.push(page.data.length);
      expect(pages.length).toBeGreaterThanOrEqual(2);
    },
    'conversations.items.delete': async () => {
      const added = await client.conversations.items.create((await conversation()).id, { items: [{ type: 'message', role: 'user', content: 'drop' }] });
      expect((await client.conversations.items.delete(added.data[0]?.id ?? '', { conversation_id: (await conversation()).id })).id).toBe((await conversation()).id);
    },
    'evals.create': async () => expect((await evaluation()).object).toBe('eval'),
    'evals.retrieve': async () => expect((await client.evals.retrieve((await evaluation()).id)).name).toBe('greeting'),
    'evals.update': async () => expect((await client.evals.update((await evaluation()).id, { name: 'renamed' })).name).toBe('renamed'),
    'evals.list': async () => expect((await collect(client.evals.list())).map((e) => e.id)).toContain((await evaluation()).id),
    'evals.delete': async () => expect((await client.evals.delete((await client.evals.create({ data_source_config: { type: 'custom', item_schema: {} }, testing_criteria: [] })).id)).deleted).toBe(true),
    'evals.runs.create': async () => {
      const made = await evalRun();
      expect(made.result_counts.total).toBe(2);
      expect(made.per_model_usage?.[0]?.total_tokens).toBeGreaterThan(0);
    },
    'evals.runs.retrieve': async () => expect((await client.evals.runs.retrieve((await evalRun()).id, { eval_id: (await evaluation()).id })).status).toBe('completed'),
    'evals.runs.list': async () => expect((await collect(client.evals.runs.list((await evaluation()).id))).map((r) => r.id)).toContain((await evalRun()).id),
    'evals.runs.delete': async () => {
      const other = await client.evals.runs.create((await evaluation()).id, { data_source: { type: 'completions', model: 'gpt-4o-mini', source: { type: 'file_content', content: [] } } });
      expect((await client.evals.runs.delete(other.id, { eval_id: (await evaluation()).id })).deleted).toBe(true);
    },
    'evals.runs.cancel': async () => expect((await client.evals.runs.cancel((await evalRun()).id, { eval_id: (await evaluation()).id })).id).toBe((await evalRun()).id),
    'evals.runs.outputItems.retrieve': async () => {
      const [first] = await collect(client.evals.runs.outputItems.list((await evalRun()).id, { eval_id: (await evaluation()).id }));
      expect((await client.evals.runs.outputItems.retrieve(first?.id ?? '', { eval_id: (await evaluation()).id, run_id: (await evalRun()).id })).status).toMatch(/pass|fail/);
    },
    'evals.runs.outputItems.list': async () => expect((await collect(client.evals.runs.outputItems.list((await evalRun()).id, { eval_id: (await evaluation()).id }))).length).toBe(2),
    'containers.create': async () => expect((await container()).status).toBe('running'),
    'containers.retrieve': async () => expect((await client.containers.retrieve((await container()).id)).name).toBe('sandbox'),
    'containers.list': async () => expect((await collect(client.containers.list())).map((c) => c.id)).toContain((await container()).id),
    'containers.delete': async () => {
      const other = await client.containers.create({ name: 'gone' });
      await client.containers.delete(other.id);
      expect(((await client.containers.retrieve(other.id).catch((error: unknown) => error)) as APIError).status).toBe(404);
    },
    'containers.files.create': async () => {
      expect((await containerFile()).path).toBe('/mnt/data/main.py');
      const byId = await client.containers.files.create((await container()).id, { file_id: (await textFile()).id });
      expect(byId.bytes).toBe((await textFile()).bytes);
    },
    'containers.files.retrieve': async () => expect((await client.containers.files.retrieve((await containerFile()).id, { container_id: (await container()).id })).bytes).toBe(9),
    'containers.files.list': async () => expect((await collect(client.containers.files.list((await container()).id))).map((f) => f.id)).toContain((await containerFile()).id),
    'containers.files.delete': async () => {
      const other = await client.containers.files.create((await container()).id, { file: await toFile(Buffer.from('x'), 'x.txt') });
      await client.containers.files.delete(other.id, { container_id: (await container()).id });
      expect(((await client.containers.files.retrieve(other.id, { container_id: (await container()).id }).catch((error: unknown) => error)) as APIError).status).toBe(404);
    },
    'containers.files.content.retrieve': async () =>
      expect(await (await client.containers.files.content.retrieve((await containerFile()).id, { container_id: (await container()).id })).text()).toBe('print(1)\n'),
    'skills.create': async () => expect((await skill()).latest_version).toBe('1'),
    'skills.retrieve': async () => expect((await client.skills.retrieve((await skill()).id)).name).toBe('demo'),
    'skills.update': async () => {
      await client.skills.versions.create((await skill()).id, { files: [await toFile(Buffer.from('v2'), 'demo/SKILL.md')] });
      expect((await client.skills.update((await skill()).id, { default_version: '2' })).default_version).toBe('2');
    },
    'skills.list': async () => expect((await collect(client.skills.list())).map((s) => s.id)).toContain((await skill()).id),
    'skills.delete': async () => expect((await client.skills.delete((await client.skills.create({ files: [await toFile(Buffer.from('x'), 'tmp/SKILL.md')] })).id)).deleted).toBe(true),
    'skills.content.retrieve': async () => expect((await (await client.skills.content.retrieve((await skill()).id)).arrayBuffer()).byteLength).toBeGreaterThan(0),
    'skills.versions.create': async () => expect((await client.skills.versions.create((await skill()).id, { files: [await toFile(Buffer.from('v'), 'demo/SKILL.md')] })).skill_id).toBe((await skill()).id),
    'skills.versions.retrieve': async () => {
      const [first] = await collect(client.skills.versions.list((await skill()).id, { order: 'asc' }));
      expect((await client.skills.versions.retrieve(first?.id ?? '', { skill_id: (await skill()).id })).version).toBe('1');
    },
    'skills.versions.list': async () => expect((await collect(client.skills.versions.list((await skill()).id))).length).toBeGreaterThan(0),
    'skills.versions.delete': async () => {
      const version = await client.skills.versions.create((await skill()).id, { files: [await toFile(Buffer.from('v'), 'demo/SKILL.md')] });
      expect((await client.skills.versions.delete(version.id, { skill_id: (await skill()).id })).deleted).toBe(true);
    },
    'skills.versions.content.retrieve': async () => {
      const [first] = await collect(client.skills.versions.list((await skill()).id, { order: 'asc' }));
      expect(await (await client.skills.versions.content.retrieve(first?.id ?? '', { skill_id: (await skill()).id })).text()).toContain('name: demo');
    },
    'videos.create': async () => expect((await video()).status).toBe('queued'),
    'videos.retrieve': async () => expect((await until(async () => client.videos.retrieve((await video()).id), (v) => v.status === 'completed')).progress).toBe(100),
    'videos.list': async () => expect((await collect(client.videos.list())).map((v) => v.id)).toContain((await video()).id),
    'videos.delete': async () => expect((await client.videos.delete((await client.videos.create({ prompt: 'gone' })).id)).deleted).toBe(true),
    'videos.createCharacter': async () => expect((await client.videos.createCharacter({ name: 'Ada', video: await toFile(Buffer.from('mp4'), 'c.mp4') })).name).toBe('Ada'),
    'videos.downloadContent': async () => {
      const done = await until(async () => client.videos.retrieve((await video()).id), (v) => v.status === 'completed');
      const content = await client.videos.downloadContent(done.id);
      expect(content.headers.get('content-type')).toBe('video/mp4');
      expect((await content.arrayBuffer()).byteLength).toBe(4 * 50_000);
    },
    'videos.edit': async () => expect((await client.videos.edit({ prompt: 'brighter', video: { id: (await video()).id } })).status).toBe('queued'),
    'videos.extend': async () => expect((await client.videos.extend({ prompt: 'longer', seconds: '8', video: { id: (await video()).id } })).seconds).toBe('8'),
    'videos.getCharacter': async () => {
      const made = await client.videos.createCharacter({ name: 'Bo', video: await toFile(Buffer.from('mp4'), 'c.mp4') });
      expect((await client.videos.getCharacter(made.id ?? '')).name).toBe('Bo');
    },
    'videos.remix': async () => expect((await client.videos.remix((await video()).id, { prompt: 'at night' })).remixed_from_video_id).toBe((await video()).id),
  };

  it('covers every method of the installed SDK', () => {
    const missing = sdkMethods(client).filter((method) => !(method in surface) && !(method in CLIENT_ONLY));
    expect(missing).toEqual([]);
  });

  for (const [method, step] of Object.entries(surface)) {
    it(method, step);
  }

  it.runIf(via === 'gateway')('every call of the walk got one ledger row, under its template name', async () => {
    const events = await stack!.events();
    const byId = new Map(events.map((e) => [e.id as string, e]));
    expect(calls.length).toBeGreaterThan(150);
    const unnamed = [];
    for (const call of calls) {
      const row = call.eventId ? byId.get(call.eventId) : undefined;
      expect(row, `${call.method} ${call.url}`).toBeDefined();
      expect(row?.status, `${call.method} ${call.url}`).toBe(call.status);
      const path = new URL(call.url).pathname;
      if (row?.endpoint === 'other') unnamed.push(`${call.method} ${path}`);
      else expect(row?.endpoint, `${call.method} ${path}`).toBe(templateName(call.method, path));
    }
    expect(unnamed).toEqual([]);
    // One row per call, none for anything else (but the lines of the walk's batches, which the batch
    // watcher meters when they end: not calls, each its own `batch` row).
    expect(events.filter((e) => e.endpoint !== 'batch').length).toBe(calls.length);
  });

  it('every resource route authenticates and carries OpenAI headers', async () => {
    const anonymous = new OpenAI({ apiKey: 'sk-nope-0000', baseURL: stack ? `${stack.url}/v1` : simulator.url, maxRetries: 0 });
    for (const call of [() => anonymous.files.list(), () => anonymous.batches.list(), () => anonymous.vectorStores.list(), () => anonymous.conversations.retrieve('conv_x')]) {
      expect(((await (call() as Promise<unknown>).catch((error: unknown) => error)) as APIError).status).toBe(401);
    }
    const { response } = await client.vectorStores.list().withResponse();
    expect(response.headers.get('x-request-id')).toMatch(/^req_/);
    expect(response.headers.get('openai-organization')).toBe(ORG);
    const { response: image } = await client.images.generate({ model: 'gpt-image-1', prompt: 'x', quality: 'low' }).withResponse();
    expect(image.headers.get('x-ratelimit-limit-requests')).toBeTruthy();
  });

  /** Uploads `mb` MB as a streamed multipart body and downloads it again; the test holds 1 MB at a time. */
  const roundTrip = (mb: number) => fileRoundTrip({ baseURL: simulator.url, key: KEY, client }, mb);

  // Through the gateway: gateway-surface.test.ts, with the gateway's memory measured.
  it.runIf(via === 'simulator')('a 100 MB file goes up and comes back streamed, without the simulator holding it', async () => {
    // The first transfer loads code and grows the allocator's pools (~50 MB, measured); that is not the file.
    await roundTrip(16);
    const { peakGrowth } = await roundTrip(100);
    // The simulator runs in this process: had it buffered the upload or the download, RSS would grow by 100 MB+.
    expect(peakGrowth).toBeLessThan(60 * 1024 * 1024);
  }, 60_000);
};
describe('simulator: the whole SDK surface', wholeSurface('simulator'));
describe('gateway: the whole SDK surface, through Tallygate', wholeSurface('gateway'));

describe('simulator: lifecycles the meters depend on', () => {
  let simulator: Simulator;
  let client: OpenAI;
  beforeAll(async () => {
    simulator = await startSimulator({ orgs: [{ id: ORG, keys: [KEY] }], jobPhaseMs: LIFECYCLE_PHASE_MS });
    client = new OpenAI({ apiKey: KEY, baseURL: simulator.url, maxRetries: 0 });
  });
  afterAll(async () => {
    await simulator.close();
  });

  /** Whether `seen` lists only statuses of `order`, in that order. */
  const inOrder = (seen: string[], order: string[]): boolean => seen.every((status, i) => order.indexOf(status) >= (i === 0 ? 0 : order.indexOf(seen[i - 1] ?? '') + 1));

  /** Polls until `done`, keeping each distinct status in the order seen. */
  async function watch<T extends { status?: string }>(read: () => Promise<T>, done: (value: T) => boolean): Promise<{ last: T; seen: string[] }> {
    const seen: string[] = [];
    const last = await until(async () => {
      const value = await read();
      if (seen.at(-1) !== value.status) seen.push(String(value.status));
      return value;
    }, done);
    return { last, seen };
  }

  it('a batch runs its JSONL through validating → in_progress → finalizing → completed, with output and error files', async () => {
    simulator.reset();
    const good = ['What is a tide?', 'Name a lighthouse.', 'Say hi.'].map((content, i) =>
      JSON.stringify({ custom_id: `good-${i}`, method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content }] } }),
    );
    const bad = [
      '{not json',
      JSON.stringify({ custom_id: 'wrong-url', method: 'POST', url: '/v1/embeddings', body: { model: 'text-embedding-3-small', input: 'x' } }),
      JSON.stringify({ custom_id: 'no-model', method: 'POST', url: '/v1/chat/completions', body: { messages: [{ role: 'user', content: 'x' }] } }),
    ];
    const input = await client.files.create({ file: await toFile(Buffer.from(`${[...good, ...bad].join('\n')}\n`), 'batch.jsonl'), purpose: 'batch' });
    const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { job: 'nightly' } });
    expect(created).toMatchObject({ status: 'validating', endpoint: '/v1/chat/completions', input_file_id: input.id, metadata: { job: 'nightly' } });

    const { last: batch, seen } = await watch(() => client.batches.retrieve(created.id), (b) => b.status === 'completed');
    expect(inOrder(seen, ['validating', 'in_progress', 'finalizing', 'completed'])).toBe(true);
    expect([seen[0], seen.at(-1)]).toEqual(['validating', 'completed']);
    // Each phase happened, in order, even where a poll on a busy machine missed one.
    expect(batch.in_progress_at).toBeGreaterThanOrEqual(batch.created_at);
    expect(batch.finalizing_at).toBeGreaterThanOrEqual(batch.in_progress_at ?? Infinity);
    expect(batch.completed_at).toBeGreaterThanOrEqual(batch.finalizing_at ?? Infinity);
    expect(batch.request_counts).toEqual({ total: 6, completed: 3, failed: 3 });
    expect(batch.model).toBe('gpt-4o-mini');
    expect(batch.completed_at).toBeGreaterThanOrEqual(batch.created_at);

    const output = (await (await client.files.content(batch.output_file_id ?? '')).text()).trim().split('\n').map((line) => JSON.parse(line) as {
      custom_id: string;
      error: null;
      response: { status_code: number; request_id: string; body: { model: string; object: string; usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } } };
    });
    expect(output.map((line) => line.custom_id)).toEqual(['good-0', 'good-1', 'good-2']);
    for (const line of output) {
      expect(line.response.status_code).toBe(200);
      expect(line.response.request_id).toMatch(/^req_/);
      expect(line.response.body.object).toBe('chat.completion');
      expect(line.response.body.model).toBe('gpt-4o-mini-2024-07-18');
      expect(line.response.body.usage.total_tokens).toBe(line.response.body.usage.prompt_tokens + line.response.body.usage.completion_tokens);
    }
    const input_tokens = output.reduce((sum, line) => sum + line.response.body.usage.prompt_tokens, 0);
    const output_tokens = output.reduce((sum, line) => sum + line.response.body.usage.completion_tokens, 0);
    expect(batch.usage).toMatchObject({ input_tokens, output_tokens, total_tokens: input_tokens + output_tokens });
    expect(simulator.stats().orgs[ORG]?.models['gpt-4o-mini']?.usage).toMatchObject({ promptTokens: input_tokens, completionTokens: output_tokens });

    const errors = (await (await client.files.content(batch.error_file_id ?? '')).text()).trim().split('\n').map((line) => JSON.parse(line) as JsonLine);
    type JsonLine = { custom_id: string | null; error: { code: string } | null; response: { status_code: number } | null };
    expect(errors.map((line) => [line.custom_id, line.error?.code ?? line.response?.status_code])).toEqual([
      [null, 'invalid_json_line'],
      ['wrong-url', 'invalid_url'],
      ['no-model', 400],
    ]);
    const outputFile = await client.files.retrieve(batch.output_file_id ?? '');
    expect(outputFile.purpose).toBe('batch_output');
  });

  it('answers a gpt-5 alias as its dated snapshot, with reasoning inside the output tokens and per-model rate limits', async () => {
    const { data, response } = await client.chat.completions.create({ model: 'gpt-5', messages: [{ role: 'user', content: 'Think first' }] }).withResponse();
    expect(data.model).toBe('gpt-5-2025-08-07');
    expect(data.usage?.completion_tokens_details?.reasoning_tokens).toBeGreaterThan(0);
    expect(response.headers.get('x-ratelimit-limit-tokens')).toBe('30000');
    const { response: speech } = await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'hi' }).withResponse();
    expect(speech.headers.get('x-ratelimit-limit-requests')).toBe('500');
    expect(speech.headers.get('x-ratelimit-limit-tokens')).toBeNull();
  });

  it('runs embeddings, legacy completions, responses and moderations batches too', async () => {
    const bodies: Record<string, object> = {
      '/v1/embeddings': { model: 'text-embedding-3-small', input: 'tide' },
      '/v1/completions': { model: 'gpt-3.5-turbo-instruct', prompt: 'Once' },
      '/v1/responses': { model: 'gpt-4o-mini', input: 'hi' },
      '/v1/moderations': { input: 'hello' },
    };
    for (const [url, body] of Object.entries(bodies)) {
      const input = await client.files.create({ file: await toFile(Buffer.from(`${JSON.stringify({ custom_id: 'a', method: 'POST', url, body })}\n`), 'b.jsonl'), purpose: 'batch' });
      const created = await client.batches.create({ input_file_id: input.id, endpoint: url as '/v1/embeddings', completion_window: '24h' });
      const done = await until(() => client.batches.retrieve(created.id), (b) => b.status === 'completed');
      expect(done.request_counts).toEqual({ total: 1, completed: 1, failed: 0 });
      const line = JSON.parse(await (await client.files.content(done.output_file_id ?? '')).text()) as { response: { status_code: number; body: { usage?: unknown } } };
      expect(line.response.status_code).toBe(200);
      if (url !== '/v1/moderations') expect(line.response.body.usage).toBeTruthy();
    }
  }, 30_000);

  it('refuses a batch whose input file is not a batch file', async () => {
    const notBatch = await client.files.create({ file: await toFile(Buffer.from('x'), 'x.txt'), purpose: 'assistants' });
    const error = (await client.batches.create({ input_file_id: notBatch.id, endpoint: '/v1/chat/completions', completion_window: '24h' }).catch((e: unknown) => e)) as APIError;
    expect(error.status).toBe(400);
    expect(error.param).toBe('input_file_id');
  });

  it('a background response goes queued → in_progress → completed, shows usage only once completed, and is billed once', async () => {
    const input = 'Summarise the tide tables for the week.';
    const plain = await client.responses.create({ model: 'gpt-4.1-mini', input });
    simulator.reset();
    const queued = await client.responses.create({ model: 'gpt-4.1-mini', input, background: true });
    expect(queued).toMatchObject({ status: 'queued', background: true, usage: null, output: [] });
    const usageSeen: unknown[] = [];
    const { last, seen } = await watch(
      async (): Promise<OpenAI.Responses.Response> => {
        const shown = await client.responses.retrieve(queued.id);
        if (shown.status !== 'completed') usageSeen.push(shown.usage);
        return shown;
      },
      (r) => r.status === 'completed',
    );
    expect(inOrder(seen, ['queued', 'in_progress', 'completed'])).toBe(true);
    expect(seen.at(-1)).toBe('completed');
    expect(usageSeen.every((usage) => usage === null)).toBe(true);
    expect(last.usage).toEqual(plain.usage);
    expect(last.output_text).toBe(plain.output_text);
    expect(last.background).toBe(true);
    // Retrieving again (as several keys would) does not bill again.
    await client.responses.retrieve(queued.id);
    await client.responses.retrieve(queued.id);
    expect(simulator.stats().orgs[ORG]?.models['gpt-4.1-mini']?.usage.completionTokens).toBe(plain.usage?.output_tokens);

    // A stream retrieved while the response is still queued waits for it and ends with its usage.
    const later = await client.responses.create({ model: 'gpt-4.1-mini', input: 'Another one', background: true });
    const types: string[] = [];
    let usage: unknown;
    for await (const event of await client.responses.retrieve(later.id, { stream: true })) {
      types.push(event.type);
      if (event.type === 'response.completed') usage = event.response.usage;
    }
    expect(types[0]).toBe('response.created');
    expect(types.at(-1)).toBe('response.completed');
    expect(usage).toEqual((await client.responses.retrieve(later.id)).usage);
    // starting_after resumes where a dropped stream left off.
    const resumed: number[] = [];
    for await (const event of await client.responses.retrieve(later.id, { stream: true, starting_after: 3 })) resumed.push(event.sequence_number);
    expect(resumed[0]).toBe(4);

    // Cancelled while running: usage for what ran.
    const running = await client.responses.create({ model: 'gpt-4.1-mini', input: 'Long job', background: true });
    await until(() => client.responses.retrieve(running.id), (r) => r.status === 'in_progress');
    const cancelled = await client.responses.cancel(running.id);
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.usage?.input_tokens).toBeGreaterThan(0);
    expect((await client.responses.cancel(plain.id).catch((e: unknown) => e)) as APIError).toMatchObject({ status: 400 });
  });

  it('streams partial images, then the image with usage that counts the partials', async () => {
    const stream = await client.images.generate({ model: 'gpt-image-1', prompt: 'a harbour at dusk', stream: true, partial_images: 3, quality: 'medium', size: '1024x1024' });
    const events = [];
    for await (const event of stream) events.push(event);
    expect(events.map((event) => event.type)).toEqual([
      'image_generation.partial_image',
      'image_generation.partial_image',
      'image_generation.partial_image',
      'image_generation.completed',
    ]);
    const partials = events.filter((event) => event.type === 'image_generation.partial_image');
    expect(partials.map((event) => event.partial_image_index)).toEqual([0, 1, 2]);
    const completed = events.at(-1);
    if (completed?.type !== 'image_generation.completed') throw new Error('no completed event');
    expect(completed.usage.output_tokens).toBe(1056 + 3 * 100);
    expect(completed.usage.input_tokens_details.text_tokens).toBeGreaterThan(0);
    expect(Buffer.from(completed.b64_json, 'base64').subarray(1, 4).toString()).toBe('PNG');

    const edit = await client.images.edit({ model: 'gpt-image-1', prompt: 'add gulls', image: await toFile(Buffer.from(completed.b64_json, 'base64'), 'in.png', { type: 'image/png' }), stream: true, partial_images: 1 });
    const editTypes = [];
    for await (const event of edit) editTypes.push(event.type);
    expect(editTypes).toEqual(['image_edit.partial_image', 'image_edit.completed']);

    const dalle = (await client.images.generate({ model: 'dall-e-2', prompt: 'x', stream: true }).catch((e: unknown) => e)) as APIError;
    expect(dalle.status).toBe(400);
    const perImage = await client.images.generate({ model: 'dall-e-2', prompt: 'x', n: 3, size: '512x512', response_format: 'b64_json' });
    expect(perImage.data).toHaveLength(3);
    expect(perImage.usage).toBeUndefined();
    expect(simulator.stats().orgs[ORG]?.models['dall-e-2']?.usage.images).toBe(3);
  });

  it('speech: bytes by format, and SSE deltas that add up to the same audio with token usage', async () => {
    const input = 'The tide turns at noon; the keeper lights the lamp at dusk.';
    for (const [format, type] of [['mp3', 'audio/mpeg'], ['opus', 'audio/opus'], ['aac', 'audio/aac'], ['flac', 'audio/flac'], ['wav', 'audio/wav'], ['pcm', 'audio/pcm']] as const) {
      const speech = await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input, response_format: format });
      expect(speech.headers.get('content-type')).toBe(type);
      expect((await speech.arrayBuffer()).byteLength).toBeGreaterThan(1_000);
    }
    const plain = Buffer.from(await (await client.audio.speech.create({ model: 'gpt-4o-mini-tts', voice: 'coral', input })).arrayBuffer());
    const sse = await client.audio.speech.create({ model: 'gpt-4o-mini-tts', voice: 'coral', input, stream_format: 'sse' });
    expect(sse.headers.get('content-type')).toContain('text/event-stream');
    const events = (await sse.text())
      .split('\n\n')
      .filter((frame) => frame.startsWith('data: '))
      .map((frame) => JSON.parse(frame.slice(6)) as { type: string; audio?: string; usage?: { input_tokens: number; output_tokens: number; total_tokens: number } });
    expect(events.at(-1)?.type).toBe('speech.audio.done');
    const audio = Buffer.concat(events.filter((event) => event.type === 'speech.audio.delta').map((event) => Buffer.from(event.audio ?? '', 'base64')));
    expect(audio.equals(plain)).toBe(true);
    const usage = events.at(-1)?.usage;
    expect(usage?.input_tokens).toBeGreaterThan(0);
    expect(usage?.output_tokens).toBeGreaterThan(0);
    expect(usage?.total_tokens).toBe((usage?.input_tokens ?? 0) + (usage?.output_tokens ?? 0));
    const perCharacter = (await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input, stream_format: 'sse' }).catch((e: unknown) => e)) as APIError;
    expect(perCharacter.status).toBe(400);
    expect(simulator.stats().orgs[ORG]?.models['tts-1']?.usage.characters).toBe(6 * input.length);
  });
});
