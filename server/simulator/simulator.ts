// An OpenAI-compatible upstream for the demo, end-to-end tests and benchmarks: bare Fastify, deterministic output,
// OpenAI-shaped rate limits, billing errors and injectable faults. Shares no code with the gateway.
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { SimulatorRuntime, type ReceivedRequest } from './runtime.js';
import { beginExchange, existingExchange, sendBareError, sendError } from './exchange.js';
import { errorBody, invalidJson, notFound, type SimulatedError } from './errors.js';
import { registerChatRoutes } from './chat.js';
import { registerResponsesRoutes } from './responses.js';
import { registerEmbeddingRoutes } from './embeddings.js';
import { registerModelRoutes } from './models.js';
import { registerAudioRoutes } from './audio.js';
import { registerBatchRoutes } from './batches.js';
import { registerImageRoutes } from './images.js';
import { registerSpeechRoutes } from './speech.js';
import { registerVectorStoreRoutes } from './vector-stores.js';
import { registerFineTuningRoutes } from './fine-tuning.js';
import { registerAssistantRoutes } from './assistants.js';
import { registerPlatformRoutes, registerStreamedPlatformRoutes } from './platform.js';
import { registerFileRoutes, registerStreamedUploadRoutes } from './files.js';
import type { SimulatorStats } from './stats.js';
import { registerOrganizationRoutes } from './organization.js';
import { registerRealtimeRoutes } from './realtime.js';
import type { BilledCall, BilledCharge, SimulatedPrice } from './billing.js';

export type { SimulatorStats, SimulatorCounters, SimulatorOrgStats } from './stats.js';
export type { ReceivedRequest } from './runtime.js';
export { FAULT_NAMES, type FaultName } from './faults.js';
export { simulatedKeyId, type BilledCall, type BilledCharge, type SimulatedPrice, type UsageEndpoint } from './billing.js';

export interface SimulatedOrg {
  /** `org-…` */
  id: string;
  /** Upstream `sk-…` keys that authenticate as this org. */
  keys: string[];
  /** Usage tier for default limits; 1 unless set. */
  tier?: 1 | 2 | 3 | 4 | 5;
  /** Every call answers 429 insufficient_quota. */
  outOfCredit?: boolean;
  /** Per model (exact id) or family (`gpt-4o` covers `gpt-4o-2024-08-06`) limits, overriding the tier defaults. */
  limits?: Record<string, { rpm: number; tpm: number }>;
  /** Tokens per minute shared by the calls that send an OpenAI-Project header. */
  projectTpm?: number;
  /** Admin keys (`sk-admin-…`) that read this org's usage and costs (GET /v1/organization/usage/*, /costs). */
  adminKeys?: string[];
}

export interface SimulatorOptions {
  /** 0 = a random free port. Default 0. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  orgs: SimulatedOrg[];
  latency?: { ttftMs?: number; perTokenMs?: number };
  /** Fraction (0..1) of admitted requests that fail with 500 or 503, drawn from a PRNG seeded by `seed`. */
  errorRate?: number;
  seed?: number;
  /** How long each phase of a batch, fine-tuning job, video or background response lasts (validating, in_progress, …). Default 1000 ms. */
  jobPhaseMs?: number;
  /** The prices the simulator bills at, by model or family (default: the shipped list prices plus computer-use-preview). */
  prices?: Record<string, SimulatedPrice>;
  /** The prices a batch's lines are billed at (default: the shipped list's `batch` rows). */
  batchPrices?: Record<string, SimulatedPrice>;
  /** Time a batch spends on each input line while in_progress. Default 0 (a batch's lines run at once). */
  batchLineMs?: number;
  /** An unfinished batch expires this long after it was created, keeping what it completed. Default 24 h. */
  batchExpiryMs?: number;
  /** Admin API calls allowed per admin key per second before a 429 with retry-after; default unlimited. */
  adminRequestsPerSecond?: number;
}

export interface Simulator {
  /** Base URL including `/v1`, e.g. http://127.0.0.1:PORT/v1 */
  url: string;
  port: number;
  close(): Promise<void>;
  stats(): SimulatorStats;
  setOrg(org: SimulatedOrg): void;
  /** Clears rate-limit buckets, stats and the bill. */
  reset(): void;
  /** The latest /v1 requests as received (method, raw URL, headers), oldest first: what a gateway forwarded. */
  received(): ReceivedRequest[];
  /** Adds billed calls to the bill (seeding history); priced like served calls. */
  bill(call: Omit<BilledCall, 'lines'>): BilledCall;
  /** Adds a charge not metered per call (storage, fine-tuning) to the bill. */
  charge(charge: BilledCharge): void;
}

const MAX_UPLOAD_BYTES = 26 * 1024 * 1024;
const MAX_JSON_BYTES = 32 * 1024 * 1024;

function toSimulatedError(error: FastifyError): SimulatedError {
  const status = error.statusCode ?? 500;
  if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || error instanceof SyntaxError) {
    return invalidJson();
  }
  if (status === 413) {
    return { status, body: errorBody('The request body is too large.', 'invalid_request_error', null, 'request_too_large') };
  }
  if (status === 415) {
    return {
      status: 400,
      body: errorBody(
        `Unsupported content type: ${error.message}. Send application/json (or multipart/form-data for audio).`,
        'invalid_request_error',
        null,
        null,
      ),
    };
  }
  if (status >= 400 && status < 500) {
    return { status, body: errorBody(error.message, 'invalid_request_error', null, null) };
  }
  return { status: 500, body: errorBody('The server had an error while processing your request. Sorry about that!', 'server_error', null, 'server_error') };
}

export function buildSimulatorApp(runtime: SimulatorRuntime): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: MAX_JSON_BYTES,
    // Stalled streams must not keep close() waiting.
    forceCloseConnections: true,
    keepAliveTimeout: 75_000,
  });

  app.decorateRequest('simExchange', null);
  // Plain JSON.parse: secure-json-parse's extra pass guards objects a server keeps, not a simulator's.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch (error) {
      done(error as SyntaxError, undefined);
    }
  });
  app.addContentTypeParser('multipart/form-data', { parseAs: 'buffer', bodyLimit: MAX_UPLOAD_BYTES }, (_request, body, done) => {
    done(null, body);
  });

  // Authenticate every /v1 call before its body is parsed, so a bad key is a 401 whatever the body.
  app.addHook('onRequest', (request, reply, done) => {
    // The admin API authenticates with admin keys, in its own routes (organization.ts).
    if (!request.url.startsWith('/v1/') || request.url.startsWith('/v1/organization/')) {
      done();
      return;
    }
    runtime.receive(request.method, request.url, request.headers);
    if (beginExchange(runtime, request, reply)) done();
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (reply.sent || reply.raw.headersSent) return;
    const exchange = existingExchange(request);
    if (exchange) sendError(exchange, toSimulatedError(error));
    else {
      runtime.stats.arrived();
      sendBareError(reply, toSimulatedError(error));
    }
  });
  app.setNotFoundHandler((request, reply) => {
    const error = notFound(request.method, request.url.split('?')[0] ?? request.url);
    const exchange = existingExchange(request);
    if (exchange) sendError(exchange, error);
    else {
      runtime.stats.arrived();
      sendBareError(reply, error);
    }
  });

  app.get('/_sim/stats', async (_request, reply) => {
    void reply.type('application/json').send(JSON.stringify(runtime.stats.snapshot()));
  });
  app.post('/_sim/reset', async (_request, reply) => {
    runtime.reset();
    void reply.code(204).send();
  });

  registerChatRoutes(app, runtime);
  registerResponsesRoutes(app, runtime);
  registerEmbeddingRoutes(app, runtime);
  registerModelRoutes(app);
  registerAudioRoutes(app, runtime);
  registerFileRoutes(app, runtime);
  registerBatchRoutes(app, runtime);
  registerImageRoutes(app, runtime);
  registerSpeechRoutes(app, runtime);
  registerVectorStoreRoutes(app, runtime);
  registerFineTuningRoutes(app, runtime);
  registerPlatformRoutes(app, runtime);
  registerAssistantRoutes(app, runtime);
  // Files and upload parts stream to disk: in this scope the multipart parser leaves the body unread.
  void app.register(async (child) => {
    child.removeContentTypeParser('multipart/form-data');
    child.addContentTypeParser('multipart/form-data', (_request, _payload, done) => done(null));
    registerStreamedUploadRoutes(child, runtime);
    registerStreamedPlatformRoutes(child, runtime);
  });
  app.addHook('onClose', async () => runtime.store.close());
  registerOrganizationRoutes(app, runtime);
  registerRealtimeRoutes(app, runtime);
  return app;
}

export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  const runtime = new SimulatorRuntime(options);
  const app = buildSimulatorApp(runtime);
  const host = options.host ?? '127.0.0.1';
  await app.listen({ port: options.port ?? 0, host });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('The simulator did not bind to a TCP port.');
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  return {
    url: `http://${urlHost}:${address.port}/v1`,
    port: address.port,
    close: () => app.close(),
    stats: () => runtime.stats.snapshot(),
    setOrg: (org) => runtime.setOrg(org),
    reset: () => runtime.reset(),
    received: () => runtime.received(),
    bill: (call) => runtime.billing.record(call),
    charge: (charge) => runtime.billing.charge(charge),
  };
}
