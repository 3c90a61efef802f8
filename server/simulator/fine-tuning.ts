// /v1/fine_tuning: jobs that move validating_files → queued → running → succeeded on the job clock, with events,
// checkpoints, a results file and an `ft:` model; checkpoint permissions; the alpha graders.
import { writeFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import type { SimulatorRuntime } from './runtime.js';
import { sendError, sendJson, type Exchange } from './exchange.js';
import { invalidRequest, noSuchObject } from './errors.js';
import { snapshotOf } from './models.js';
import { asObject, type JsonObject } from './payload.js';
import { fileCollection, keepFile } from './files.js';
import { collectionFor, metadataOf, open, registerCrud } from './crud.js';
import { listPage, newObjectId, nowSeconds, type ListQuery, type StoredObject } from './store.js';

const JOBS = '/v1/fine_tuning/jobs';
const EVENTS = '/v1/fine_tuning/jobs/:parent/events';
const CHECKPOINTS = '/v1/fine_tuning/jobs/:parent/checkpoints';
const PERMISSIONS = '/v1/fine_tuning/checkpoints/:parent/permissions';
/** Bytes of training JSONL per trained token, roughly. */
const BYTES_PER_TOKEN = 4;
const DEFAULT_EPOCHS = 3;

function addEvent(runtime: SimulatorRuntime, orgId: string, jobId: string, message: string, level = 'info'): void {
  collectionFor(runtime, orgId, EVENTS, jobId).add({
    id: newObjectId('ftevent-'),
    object: 'fine_tuning.job.event',
    created_at: nowSeconds(),
    level,
    message,
    data: {},
    type: 'message',
  });
}

function isActive(status: unknown): boolean {
  return status === 'validating_files' || status === 'queued' || status === 'running' || status === 'paused';
}

/** Schedules the job's phases; a cancel or pause stops them (resume schedules the last one again). */
function schedule(runtime: SimulatorRuntime, orgId: string, job: StoredObject, trainingBytes: number): void {
  const phase = runtime.jobPhaseMs;
  const step = (from: string, to: string, then?: () => void): void =>
    runtime.store.later(phase, () => {
      if (job.status !== from) return;
      job.status = to;
      addEvent(runtime, orgId, job.id, to === 'queued' ? 'Files validated, moving job to queued state' : `Fine-tuning job ${to}`);
      then?.();
    });
  step('validating_files', 'queued', () => step('queued', 'running', () => finishLater(runtime, orgId, job, trainingBytes)));
}

function finishLater(runtime: SimulatorRuntime, orgId: string, job: StoredObject, trainingBytes: number): void {
  runtime.store.later(runtime.jobPhaseMs, async () => {
    if (job.status !== 'running') return;
    const epochs = Number(asObject(job.hyperparameters)?.n_epochs ?? DEFAULT_EPOCHS);
    const trainedTokens = Math.max(1, Math.ceil(trainingBytes / BYTES_PER_TOKEN)) * epochs;
    const suffix = typeof job.user_provided_suffix === 'string' ? job.user_provided_suffix : '';
    const model = `ft:${String(job.model)}:${orgId}:${suffix}:${job.id.slice(-8)}`;
    for (let epoch = 1; epoch <= epochs; epoch++) {
      collectionFor(runtime, orgId, CHECKPOINTS, job.id).add({
        id: newObjectId('ftckpt_'),
        object: 'fine_tuning.job.checkpoint',
        created_at: nowSeconds(),
        fine_tuned_model_checkpoint: `${model}:ckpt-step-${epoch * 10}`,
        fine_tuning_job_id: job.id,
        step_number: epoch * 10,
        metrics: { step: epoch * 10, train_loss: 1 / (epoch + 1), train_mean_token_accuracy: 0.5 + epoch / 10, valid_loss: null, valid_mean_token_accuracy: null, full_valid_loss: null, full_valid_mean_token_accuracy: null },
      });
    }
    const path = runtime.store.pathFor(newObjectId('file-'));
    const csv = `step,train_loss,train_accuracy\n${Array.from({ length: epochs }, (_, i) => `${(i + 1) * 10},${(1 / (i + 2)).toFixed(4)},${(0.6 + i / 10).toFixed(2)}`).join('\n')}\n`;
    await writeFile(path, csv);
    const results = keepFile(runtime, orgId, { id: newObjectId('file-'), path, bytes: Buffer.byteLength(csv), contentType: 'text/csv', filename: 'step_metrics.csv', purpose: 'fine-tune-results' });
    Object.assign(job, { status: 'succeeded', finished_at: nowSeconds(), fine_tuned_model: model, trained_tokens: trainedTokens, result_files: [results.id], estimated_finish: null });
    addEvent(runtime, orgId, job.id, `New fine-tuned model created: ${model}`);
    addEvent(runtime, orgId, job.id, 'The job has successfully completed');
  });
}

type Routes = { Params: Record<string, string>; Querystring: ListQuery & Record<string, string | undefined> };

export function registerFineTuningRoutes(app: FastifyInstance, runtime: SimulatorRuntime): void {
  registerCrud(app, runtime, {
    path: JOBS,
    label: 'fine-tuning job',
    create: ({ exchange, body }) => {
      if (typeof body.model !== 'string' || body.model === '') return invalidRequest('you must provide a model parameter', 'model');
      const trainingId = typeof body.training_file === 'string' ? body.training_file : '';
      const training = fileCollection(runtime, exchange.org.id).get(trainingId);
      if (!training) return noSuchObject('File', trainingId, 'training_file');
      const given = asObject(body.hyperparameters) ?? asObject(asObject(asObject(body.method)?.supervised)?.hyperparameters) ?? {};
      const hyperparameters = {
        n_epochs: typeof given.n_epochs === 'number' ? given.n_epochs : DEFAULT_EPOCHS,
        batch_size: typeof given.batch_size === 'number' ? given.batch_size : 1,
        learning_rate_multiplier: typeof given.learning_rate_multiplier === 'number' ? given.learning_rate_multiplier : 1.8,
      };
      const created = nowSeconds();
      const job: StoredObject = {
        id: newObjectId('ftjob-'),
        object: 'fine_tuning.job',
        created_at: created,
        error: null,
        fine_tuned_model: null,
        finished_at: null,
        hyperparameters,
        model: snapshotOf(body.model),
        organization_id: exchange.org.id,
        result_files: [],
        seed: typeof body.seed === 'number' ? body.seed : 42,
        status: 'validating_files',
        trained_tokens: null,
        training_file: trainingId,
        validation_file: typeof body.validation_file === 'string' ? body.validation_file : null,
        estimated_finish: created + 3 * Math.ceil(runtime.jobPhaseMs / 1000),
        integrations: [],
        metadata: metadataOf(body),
        method: { type: 'supervised', supervised: { hyperparameters } },
        user_provided_suffix: typeof body.suffix === 'string' ? body.suffix : null,
      };
      addEvent(runtime, exchange.org.id, job.id, `Created fine-tuning job: ${job.id}`);
      schedule(runtime, exchange.org.id, job, training.bytes);
      return job;
    },
    filter: (job, query) => {
      if (!query['metadata[key]']) return true;
      return asObject(job.metadata)?.[query['metadata[key]']] !== undefined;
    },
  });

  const transition = (path: string, allowed: (status: unknown) => boolean, to: string, after?: (exchange: Exchange, job: StoredObject) => void): void => {
    app.post<Routes>(`${JOBS}/:id/${path}`, async (request) => {
      const call = open(request);
      if (!call) return;
      const job = collectionFor(runtime, call.exchange.org.id, JOBS).get(call.params.id ?? '');
      if (!job) return sendError(call.exchange, noSuchObject('fine-tuning job', call.params.id ?? ''));
      if (!allowed(job.status)) return sendError(call.exchange, invalidRequest(`Cannot ${path} a job with status '${String(job.status)}'.`, 'fine_tuning_job_id'));
      job.status = to;
      addEvent(runtime, call.exchange.org.id, job.id, `Job ${to}`);
      after?.(call.exchange, job);
      await sendJson(call.exchange, job);
    });
  };
  transition('cancel', isActive, 'cancelled');
  transition('pause', (status) => status === 'running', 'paused');
  transition('resume', (status) => status === 'paused', 'running', (exchange, job) => {
    const training = fileCollection(runtime, exchange.org.id).get(String(job.training_file));
    finishLater(runtime, exchange.org.id, job, training?.bytes ?? 0);
  });

  for (const [path, label] of [
    [EVENTS, 'fine-tuning job'],
    [CHECKPOINTS, 'fine-tuning job'],
  ] as const) {
    app.get<Routes>(path, async (request) => {
      const call = open(request, { kind: JOBS, label });
      if (!call) return;
      await sendJson(call.exchange, listPage(collectionFor(runtime, call.exchange.org.id, path, call.params.parent).values(), request.query));
    });
  }

  // Checkpoint permissions: which projects may use a fine-tuned checkpoint.
  app.post<Routes>(PERMISSIONS, async (request) => {
    const call = open(request);
    if (!call) return;
    const projectIds = asObject(request.body)?.project_ids;
    if (!Array.isArray(projectIds) || projectIds.length === 0) return sendError(call.exchange, invalidRequest("Missing required parameter: 'project_ids'.", 'project_ids'));
    const permissions = collectionFor(runtime, call.exchange.org.id, PERMISSIONS, call.params.parent);
    const made = projectIds.map((projectId) =>
      permissions.add({ id: newObjectId('cp_'), object: 'checkpoint.permission', created_at: nowSeconds(), project_id: String(projectId) }),
    );
    await sendJson(call.exchange, { object: 'list', data: made, first_id: made[0]?.id ?? null, last_id: made.at(-1)?.id ?? null, has_more: false });
  });
  app.get<Routes>(PERMISSIONS, async (request) => {
    const call = open(request);
    if (!call) return;
    const all = [...collectionFor(runtime, call.exchange.org.id, PERMISSIONS, call.params.parent).values()];
    const wanted = request.query.project_id;
    await sendJson(call.exchange, listPage(all.filter((permission) => !wanted || permission.project_id === wanted), request.query));
  });
  app.delete<Routes>(`${PERMISSIONS}/:id`, async (request) => {
    const call = open(request);
    if (!call) return;
    const permissions = collectionFor(runtime, call.exchange.org.id, PERMISSIONS, call.params.parent);
    if (!permissions.delete(call.params.id ?? '')) return sendError(call.exchange, noSuchObject('checkpoint permission', call.params.id ?? ''));
    await sendJson(call.exchange, { id: call.params.id, object: 'checkpoint.permission', deleted: true });
  });

  // Graders: a deterministic reward; the simulator runs no model for them, so no token usage.
  app.post<Routes>('/v1/fine_tuning/alpha/graders/run', async (request) => {
    const call = open(request);
    if (!call) return;
    const body = asObject(request.body) ?? {};
    const grader = asObject(body.grader);
    if (!grader) return sendError(call.exchange, invalidRequest("Missing required parameter: 'grader'.", 'grader'));
    const sample = typeof body.model_sample === 'string' ? body.model_sample : '';
    const reference = typeof grader.reference === 'string' ? grader.reference : undefined;
    const reward = reference === undefined ? 1 : sample.trim() === reference.trim() ? 1 : 0;
    const metadata: JsonObject = {
      errors: {
        formula_parse_error: false, invalid_variable_error: false, model_grader_parse_error: false, model_grader_refusal_error: false,
        model_grader_server_error: false, model_grader_server_error_details: null, other_error: false, python_grader_runtime_error: false,
        python_grader_runtime_error_details: null, python_grader_server_error: false, python_grader_server_error_type: null,
        sample_parse_error: false, truncated_observation_error: false, unresponsive_reward_error: false,
      },
      execution_time: 0.01,
      name: typeof grader.name === 'string' ? grader.name : 'grader',
      sampled_model_name: null,
      scores: {},
      token_usage: null,
      type: typeof grader.type === 'string' ? grader.type : 'string_check',
    };
    await sendJson(call.exchange, { metadata, model_grader_token_usage_per_model: {}, reward, sub_rewards: {} });
  });
  app.post<Routes>('/v1/fine_tuning/alpha/graders/validate', async (request) => {
    const call = open(request);
    if (!call) return;
    const grader = asObject(asObject(request.body)?.grader);
    if (!grader) return sendError(call.exchange, invalidRequest("Missing required parameter: 'grader'.", 'grader'));
    await sendJson(call.exchange, { grader });
  });
}
