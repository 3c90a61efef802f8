// The OpenAI endpoints Tallygate serves under /v1, and how each one is metered.
// A new endpoint family is a row here: its body, its Metering (how its answers are read) and, when
// its price is more than tokens, its price components (`meter`). See docs/architecture.md.
import { IMAGES_METER } from './meters/images.js';
import { MEDIA, RELAYED, TOKENS } from './meters/index.js';
import type { EndpointMeter, Metering } from './meters/meter.js';
import { SPEECH_METER } from './meters/speech.js';

/** `any`: forwarded unparsed as it came (JSON bytes, a multipart upload piped through, or nothing). */
export type BodyKind = 'json' | 'multipart' | 'none' | 'any';

export interface Endpoint {
  /** Ledger name of the endpoint, e.g. `chat.completions`. */
  name: string;
  method: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH';
  /** Path under /v1 (Fastify syntax). */
  path: string;
  body: BodyKind;
  /** Streams can carry stream_options.include_usage (chat and legacy completions). */
  usageOption: boolean;
  /** OpenAI charges for it: a success without readable usage is "cost unknown", not $0. */
  billable: boolean;
  /** Path parameters, validated before forwarding (the raw path is what goes upstream). */
  params?: readonly string[];
  /**
   * How its answers are read (SSE, whole JSON, JSON tail, binary). Unset: tokens, or media for a row
   * with price components, or relayed for one not metered (see meteringOf).
   */
  metering?: Metering;
  /** Price components beyond the response's tokens (images, speech): chosen here, once per route, never per chunk. */
  meter?: EndpointMeter;
  /** OpenAI bills it by storage, training or session time, not per call: recorded `not_metered`. */
  notMetered?: boolean;
  /** Can answer a background response's usage (retrieve, cancel): billed once, to its creator. */
  byId?: boolean;
  /** A wildcard route: the raw path is checked segment by segment before forwarding. */
  checkPath?: boolean;
  /**
   * The response head waits for the (small, JSON) body so call hooks can add headers computed from
   * it (the moderation verdict); a body past the parse limit is relayed without them.
   */
  holdHead?: boolean;
  /** Creates a stored object the gateway remembers (a batch, a file): its JSON answer is read though not metered. */
  readsResource?: boolean;
}

export const ENDPOINTS: readonly Endpoint[] = [
  { name: 'chat.completions', method: 'POST', path: '/chat/completions', body: 'json', usageOption: true, billable: true, metering: TOKENS },
  { name: 'completions', method: 'POST', path: '/completions', body: 'json', usageOption: true, billable: true, metering: TOKENS },
  { name: 'responses', method: 'POST', path: '/responses', body: 'json', usageOption: false, billable: true, metering: TOKENS },
  { name: 'embeddings', method: 'POST', path: '/embeddings', body: 'json', usageOption: false, billable: true, metering: TOKENS },
  { name: 'moderations', method: 'POST', path: '/moderations', body: 'json', usageOption: false, billable: false, metering: TOKENS, holdHead: true },
  { name: 'audio.transcriptions', method: 'POST', path: '/audio/transcriptions', body: 'multipart', usageOption: false, billable: true, metering: TOKENS },
  { name: 'audio.translations', method: 'POST', path: '/audio/translations', body: 'multipart', usageOption: false, billable: true, metering: TOKENS },
  { name: 'models', method: 'GET', path: '/models', body: 'none', usageOption: false, billable: false, metering: TOKENS },
  { name: 'models', method: 'GET', path: '/models/:model', body: 'none', usageOption: false, billable: false, params: ['model'], metering: TOKENS },
  { name: 'images.generations', method: 'POST', path: '/images/generations', body: 'json', usageOption: false, billable: true, metering: MEDIA, meter: IMAGES_METER },
  { name: 'images.edits', method: 'POST', path: '/images/edits', body: 'multipart', usageOption: false, billable: true, metering: MEDIA, meter: IMAGES_METER },
  { name: 'images.variations', method: 'POST', path: '/images/variations', body: 'multipart', usageOption: false, billable: true, metering: MEDIA, meter: IMAGES_METER },
  { name: 'audio.speech', method: 'POST', path: '/audio/speech', body: 'json', usageOption: false, billable: true, metering: MEDIA, meter: SPEECH_METER },
];

/**
 * The rest of OpenAI's /v1 surface, forwarded as it is: one row per call under the name of its
 * template. Plain resource CRUD, file and vector-store storage, fine-tuning training, container
 * sessions and the like are not metered per call: OpenAI bills them by storage, training tokens or
 * session time, which no single call's response says. Their rows are marked `not_metered` (cost
 * NULL, not $0 and not unpriced); that spend is seen where OpenAI's own costs are reconciled.
 * The body of every one of these is forwarded unparsed (`any`): JSON as received, a multipart
 * upload piped through under FILE_LIMIT_BYTES, and the response relayed chunk by chunk, never
 * collected (nothing in it to meter), except for the responses-by-id routes, which bill
 * background responses once their usage appears.
 */
const RESOURCE_ROUTES: ReadonlyArray<readonly [Endpoint['method'], string, string]> = [
  ['GET', '/responses/:response_id', 'responses.retrieve'],
  ['POST', '/responses/:response_id/cancel', 'responses.cancel'],
  ['DELETE', '/responses/:response_id', 'responses.delete'],
  ['GET', '/responses/:response_id/input_items', 'responses.input_items'],
  ['POST', '/responses/input_tokens', 'responses.input_tokens'],
  ['POST', '/responses/compact', 'responses.compact'],
  ...crud('files', '/files', 'file_id'),
  ['GET', '/files/:file_id/content', 'files.content'],
  ['POST', '/uploads', 'uploads.create'],
  ['POST', '/uploads/:upload_id/parts', 'uploads.parts'],
  ['POST', '/uploads/:upload_id/complete', 'uploads.complete'],
  ['POST', '/uploads/:upload_id/cancel', 'uploads.cancel'],
  ...crud('batches', '/batches', 'batch_id'),
  ['POST', '/batches/:batch_id/cancel', 'batches.cancel'],
  ...crud('vector_stores', '/vector_stores', 'vector_store_id'),
  ['POST', '/vector_stores/:vector_store_id/search', 'vector_stores.search'],
  ...crud('vector_stores.files', '/vector_stores/:vector_store_id/files', 'file_id'),
  ['GET', '/vector_stores/:vector_store_id/files/:file_id/content', 'vector_stores.files.content'],
  ...crud('vector_stores.file_batches', '/vector_stores/:vector_store_id/file_batches', 'batch_id'),
  ['POST', '/vector_stores/:vector_store_id/file_batches/:batch_id/cancel', 'vector_stores.file_batches.cancel'],
  ['GET', '/vector_stores/:vector_store_id/file_batches/:batch_id/files', 'vector_stores.file_batches.files'],
  ...crud('fine_tuning.jobs', '/fine_tuning/jobs', 'fine_tuning_job_id'),
  ['POST', '/fine_tuning/jobs/:fine_tuning_job_id/cancel', 'fine_tuning.jobs.cancel'],
  ['POST', '/fine_tuning/jobs/:fine_tuning_job_id/pause', 'fine_tuning.jobs.pause'],
  ['POST', '/fine_tuning/jobs/:fine_tuning_job_id/resume', 'fine_tuning.jobs.resume'],
  ['GET', '/fine_tuning/jobs/:fine_tuning_job_id/events', 'fine_tuning.jobs.events'],
  ['GET', '/fine_tuning/jobs/:fine_tuning_job_id/checkpoints', 'fine_tuning.jobs.checkpoints'],
  ...crud('fine_tuning.checkpoints.permissions', '/fine_tuning/checkpoints/:checkpoint/permissions', 'permission_id'),
  ['POST', '/fine_tuning/alpha/graders/run', 'fine_tuning.alpha.graders.run'],
  ['POST', '/fine_tuning/alpha/graders/validate', 'fine_tuning.alpha.graders.validate'],
  ['DELETE', '/models/:model', 'models.delete'],
  ...crud('conversations', '/conversations', 'conversation_id'),
  ...crud('conversations.items', '/conversations/:conversation_id/items', 'item_id'),
  ...crud('containers', '/containers', 'container_id'),
  ...crud('containers.files', '/containers/:container_id/files', 'file_id'),
  ['GET', '/containers/:container_id/files/:file_id/content', 'containers.files.content'],
  ...crud('evals', '/evals', 'eval_id'),
  ...crud('evals.runs', '/evals/:eval_id/runs', 'run_id'),
  ['GET', '/evals/:eval_id/runs/:run_id/output_items', 'evals.runs.output_items.list'],
  ['GET', '/evals/:eval_id/runs/:run_id/output_items/:output_item_id', 'evals.runs.output_items.retrieve'],
  ['POST', '/realtime/client_secrets', 'realtime.client_secrets'],
  ['POST', '/realtime/sessions', 'realtime.sessions'],
  ['POST', '/realtime/transcription_sessions', 'realtime.transcription_sessions'],
  ['POST', '/realtime/calls/:call_id/accept', 'realtime.calls.accept'],
  ['POST', '/realtime/calls/:call_id/hangup', 'realtime.calls.hangup'],
  ['POST', '/realtime/calls/:call_id/refer', 'realtime.calls.refer'],
  ['POST', '/realtime/calls/:call_id/reject', 'realtime.calls.reject'],
  ...crud('assistants', '/assistants', 'assistant_id'),
  ...crud('threads', '/threads', 'thread_id'),
  ['POST', '/threads/runs', 'threads.create_and_run'],
  ...crud('threads.messages', '/threads/:thread_id/messages', 'message_id'),
  ...crud('threads.runs', '/threads/:thread_id/runs', 'run_id'),
  ['POST', '/threads/:thread_id/runs/:run_id/cancel', 'threads.runs.cancel'],
  ['POST', '/threads/:thread_id/runs/:run_id/submit_tool_outputs', 'threads.runs.submit_tool_outputs'],
  ...crud('threads.runs.steps', '/threads/:thread_id/runs/:run_id/steps', 'step_id'),
  ...crud('chat.completions.stored', '/chat/completions', 'completion_id').filter(([method, path]) => path !== '/chat/completions' || method !== 'POST'),
  ['GET', '/chat/completions/:completion_id/messages', 'chat.completions.messages'],
  ...crud('chatkit.sessions', '/chatkit/sessions', 'session_id'),
  ['POST', '/chatkit/sessions/:session_id/cancel', 'chatkit.sessions.cancel'],
  ...crud('chatkit.threads', '/chatkit/threads', 'thread_id'),
  ['GET', '/chatkit/threads/:thread_id/items', 'chatkit.threads.items'],
  ...crud('skills', '/skills', 'skill_id'),
  ['GET', '/skills/:skill_id/content', 'skills.content'],
  ...crud('skills.versions', '/skills/:skill_id/versions', 'version'),
  ['GET', '/skills/:skill_id/versions/:version/content', 'skills.versions.content'],
  ...crud('videos', '/videos', 'video_id'),
  ['GET', '/videos/:video_id/content', 'videos.content'],
  ['POST', '/videos/:video_id/remix', 'videos.remix'],
  ['POST', '/videos/edits', 'videos.edits'],
  ['POST', '/videos/extensions', 'videos.extensions'],
  ['POST', '/videos/characters', 'videos.characters.create'],
  ['GET', '/videos/characters/:character_id', 'videos.characters.retrieve'],
];

/** A collection's five CRUD routes, as OpenAI lays them out (update is a POST on the item). */
function crud(name: string, path: string, id: string): Array<readonly [Endpoint['method'], string, string]> {
  return [
    ['POST', path, `${name}.create`],
    ['GET', path, `${name}.list`],
    ['GET', `${path}/:${id}`, `${name}.retrieve`],
    ['POST', `${path}/:${id}`, `${name}.update`],
    ['DELETE', `${path}/:${id}`, `${name}.delete`],
  ];
}

/** The responses-by-id routes whose answer can carry a background response's usage. */
const BY_ID = new Set(['responses.retrieve', 'responses.cancel']);
/**
 * Billed per call by OpenAI but not metered here yet (video seconds, Assistants runs' tokens):
 * their answer is read for usage like a JSON route's, and a success without it is unpriced (cost
 * unknown), never not-metered and never $0.
 */
/** Creates what a batch's metering needs to know whose it is (server/batches/). */
const READS_RESOURCE = new Set(['batches.create', 'files.create']);
const BILLED_UNMETERED = new Set(['videos.create', 'videos.remix', 'videos.edits', 'videos.extensions', 'threads.create_and_run', 'threads.runs.create', 'threads.runs.submit_tool_outputs']);

export const RESOURCE_ENDPOINTS: readonly Endpoint[] = RESOURCE_ROUTES.map(([method, path, name]) => ({
  name,
  method,
  path,
  body: 'any',
  usageOption: false,
  billable: BILLED_UNMETERED.has(name),
  notMetered: !BY_ID.has(name) && !BILLED_UNMETERED.has(name),
  byId: BY_ID.has(name),
  metering: !READS_RESOURCE.has(name) && !BY_ID.has(name) && !BILLED_UNMETERED.has(name) ? RELAYED : TOKENS,
  checkPath: true,
  ...(READS_RESOURCE.has(name) ? { readsResource: true } : {}),
  params: [...path.matchAll(/:([a-z_]+)/g)].map((m) => m[1]!),
}));

/**
 * Any other path under /v1, still forwarded (a new OpenAI route works the day it ships) under one
 * name. Its response is read for usage as a JSON route's is; a success without usage is unpriced
 * (cost unknown), since what it costs is not known here.
 */
export const OTHER_METHODS = ['GET', 'POST', 'DELETE', 'PUT', 'PATCH'] as const;
export const OTHER_ENDPOINTS: readonly Endpoint[] = OTHER_METHODS.map((method) => ({
  name: 'other',
  method,
  path: '/*',
  body: 'any',
  usageOption: false,
  billable: true,
  metering: TOKENS,
  checkPath: true,
}));

/** The endpoint's Metering, for rows that name none. */
export function meteringOf(endpoint: Endpoint): Metering {
  return endpoint.metering ?? (endpoint.meter ? MEDIA : endpoint.notMetered ? RELAYED : TOKENS);
}
