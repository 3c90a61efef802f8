// POST /v1/embeddings (deterministic unit vectors, float or base64) and POST /v1/moderations.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SimulatorRuntime } from './runtime.js';
import { admit, exchangeOf, sendBody, sendError } from './exchange.js';
import { delivered } from './billing.js';
import { invalidRequest } from './errors.js';
import { snapshotOf } from './models.js';
import { asObject, notAnObject, optionalCount, requireModel } from './payload.js';
import { countTextTokens, hash32, seededRandom } from './tokens.js';

export function nativeDimensions(model: string): number {
  return model.includes('3-large') ? 3072 : 1536;
}

export interface EmbeddingInput {
  /** One entry per vector to return; token arrays are keyed by their ids. */
  keys: string[];
  tokens: number;
  markerText: string;
}

export function embeddingInput(input: unknown): EmbeddingInput | undefined {
  if (typeof input === 'string') return { keys: [input], tokens: countTextTokens(input), markerText: input };
  if (!Array.isArray(input) || input.length === 0) return undefined;
  if (input.every((item) => typeof item === 'number')) {
    return { keys: [input.join(',')], tokens: input.length, markerText: '' };
  }
  const keys: string[] = [];
  let tokens = 0;
  let markerText = '';
  for (const item of input) {
    if (typeof item === 'string') {
      keys.push(item);
      tokens += countTextTokens(item);
      markerText = item;
    } else if (Array.isArray(item) && item.every((token) => typeof token === 'number')) {
      keys.push(item.join(','));
      tokens += item.length;
    } else {
      return undefined;
    }
  }
  return { keys, tokens, markerText };
}

/** A unit vector that depends only on the model and the input. */
function embed(model: string, key: string, dimensions: number): Float32Array {
  const random = seededRandom(hash32(`${model}\u0000${key}`));
  const vector = new Float32Array(dimensions);
  let norm = 0;
  for (let i = 0; i < dimensions; i++) {
    const value = random() * 2 - 1;
    vector[i] = value;
    norm += value * value;
  }
  const scale = 1 / Math.sqrt(norm || 1);
  for (let i = 0; i < dimensions; i++) vector[i] = (vector[i] ?? 0) * scale;
  return vector;
}

function encodeBase64(vector: Float32Array): string {
  // The SDK decodes little-endian float32; Node's Buffer is little-endian on every platform it runs on here.
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString('base64');
}

/** The embeddings `list` body: what POST /v1/embeddings and a batch's output line carry. */
export function embeddingList(model: string, input: EmbeddingInput, dimensions: number, format: 'float' | 'base64'): Record<string, unknown> {
  const data = input.keys.map((key, index) => {
    const vector = embed(model, key, dimensions);
    return { object: 'embedding', index, embedding: format === 'base64' ? encodeBase64(vector) : Array.from(vector) };
  });
  return {
    object: 'list',
    data,
    model: snapshotOf(model),
    usage: { prompt_tokens: input.tokens, total_tokens: input.tokens },
  };
}

async function createEmbeddings(runtime: SimulatorRuntime, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const exchange = exchangeOf(request);
  const body = asObject(request.body);
  if (!body) return sendError(exchange, notAnObject());
  const model = requireModel(body);
  if (typeof model !== 'string') return sendError(exchange, model);
  const input = embeddingInput(body.input);
  if (!input) {
    return sendError(exchange, invalidRequest("'input' must be a string, an array of strings or an array of token arrays.", 'input'));
  }
  const requestedDimensions = optionalCount(body, 'dimensions');
  const native = nativeDimensions(model);
  if (requestedDimensions !== undefined && (requestedDimensions < 1 || requestedDimensions > native || model.includes('ada-002'))) {
    return sendError(exchange, invalidRequest(`This model does not support specifying dimensions of ${requestedDimensions}.`, 'dimensions'));
  }
  const format = body.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64') {
    return sendError(exchange, invalidRequest("'encoding_format' must be 'float' or 'base64'.", 'encoding_format'));
  }
  if (!admit(exchange, model, input.tokens, input.markerText)) return;

  const response = embeddingList(model, input, requestedDimensions ?? native, format);
  if (await sendBody(exchange, JSON.stringify(response), 'application/json', 0)) {
    delivered(exchange, model, { promptTokens: input.tokens });
  }
}

const MODERATION_CATEGORIES = [
  'harassment',
  'harassment/threatening',
  'hate',
  'hate/threatening',
  'illicit',
  'illicit/violent',
  'self-harm',
  'self-harm/intent',
  'self-harm/instructions',
  'sexual',
  'sexual/minors',
  'violence',
  'violence/graphic',
] as const;
type ModerationCategory = (typeof MODERATION_CATEGORIES)[number];

// Deterministic, graded triggers so tests and the demo can produce clean, borderline and flagged
// content on purpose: each word raises its categories to about the given score (a little noise
// from the text itself on top). OpenAI flags a category from its own per-category cut-offs; the
// simulator flags at 0.5, so a strict policy (0.2) and a lenient one (0.8) see different sets.
const TRIGGERS: Array<[RegExp, Array<[ModerationCategory, number]>]> = [
  [/\bkill/i, [['violence', 0.93]]],
  [/\bhate\b/i, [['hate', 0.91], ['harassment', 0.9]]],
  [/\bbomb\b/i, [['illicit', 0.92], ['illicit/violent', 0.91]]],
  [/\bpunch/i, [['violence', 0.62]]],
  [/\bidiot/i, [['harassment', 0.57]]],
  [/\bfight/i, [['violence', 0.34]]],
  [/\bstupid/i, [['harassment', 0.26]]],
  [/\bsteal/i, [['illicit', 0.41]]],
  [/\bhopeless\b/i, [['self-harm', 0.08]]],
];
const IMAGE_CATEGORIES = new Set<ModerationCategory>(['self-harm', 'self-harm/intent', 'self-harm/instructions', 'sexual', 'violence', 'violence/graphic']);

export interface ModerationInput {
  texts: string[];
  images: number;
}

export function moderationInputs(input: unknown): ModerationInput[] | undefined {
  if (typeof input === 'string') return [{ texts: [input], images: 0 }];
  if (!Array.isArray(input) || input.length === 0) return undefined;
  if (input.every((item) => typeof item === 'string')) return input.map((text: string) => ({ texts: [text], images: 0 }));
  // Multi-modal input is one item made of parts.
  const combined: ModerationInput = { texts: [], images: 0 };
  for (const part of input) {
    const object = asObject(part);
    if (object?.type === 'text' && typeof object.text === 'string') combined.texts.push(object.text);
    else if (object?.type === 'image_url') combined.images++;
    else return undefined;
  }
  return [combined];
}

export function moderationResult(item: ModerationInput): Record<string, unknown> {
  const text = item.texts.join('\n');
  const raised = new Map<ModerationCategory, number>();
  for (const [pattern, categories] of TRIGGERS) {
    if (!pattern.test(text)) continue;
    for (const [category, level] of categories) raised.set(category, Math.max(raised.get(category) ?? 0, level));
  }
  const seed = seededRandom(hash32(text));
  const categories: Record<string, boolean> = {};
  const scores: Record<string, number> = {};
  const applied: Record<string, string[]> = {};
  for (const category of MODERATION_CATEGORIES) {
    const level = raised.get(category);
    scores[category] = level !== undefined ? Math.min(0.999, level + seed() * 0.009) : seed() * 0.001;
    categories[category] = scores[category] >= 0.5;
    const types: string[] = [];
    if (item.texts.length > 0) types.push('text');
    if (item.images > 0 && IMAGE_CATEGORIES.has(category)) types.push('image');
    applied[category] = types;
  }
  return { flagged: Object.values(categories).some(Boolean), categories, category_scores: scores, category_applied_input_types: applied };
}

async function createModeration(runtime: SimulatorRuntime, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const exchange = exchangeOf(request);
  const body = asObject(request.body);
  if (!body) return sendError(exchange, notAnObject());
  const model = typeof body.model === 'string' && body.model !== '' ? body.model : 'omni-moderation-latest';
  const inputs = moderationInputs(body.input);
  if (!inputs) return sendError(exchange, invalidRequest("'input' must be a string, an array of strings or an array of parts.", 'input'));
  const allText = inputs.map((item) => item.texts.join('\n')).join('\n');
  if (!admit(exchange, model, countTextTokens(allText), allText)) return;
  const response = { id: `modr-${randomUUID().replaceAll('-', '')}`, model: snapshotOf(model), results: inputs.map(moderationResult) };
  // Free, but OpenAI still counts moderation tokens in its usage.
  if (await sendBody(exchange, JSON.stringify(response), 'application/json', 0)) runtime.billing.bill(exchange, model, { promptTokens: countTextTokens(allText) });
}

export function registerEmbeddingRoutes(app: FastifyInstance, runtime: SimulatorRuntime): void {
  app.post('/v1/embeddings', (request, reply) => createEmbeddings(runtime, request, reply));
  app.post('/v1/moderations', (request, reply) => createModeration(runtime, request, reply));
}
