// The model catalogue the simulator serves on GET /v1/models, and the dated snapshot each alias answers as.
import type { FastifyInstance } from 'fastify';
import { exchangeOf, sendBody, sendError } from './exchange.js';
import { modelNotFound } from './errors.js';

/** Aliases answer with the snapshot they point at, as the real API does (`gpt-4o` → `gpt-4o-2024-08-06`). */
const SNAPSHOTS: Record<string, string> = {
  'gpt-4o': 'gpt-4o-2024-08-06',
  'gpt-4o-mini': 'gpt-4o-mini-2024-07-18',
  'gpt-4.1': 'gpt-4.1-2025-04-14',
  'gpt-4.1-mini': 'gpt-4.1-mini-2025-04-14',
  'gpt-4.1-nano': 'gpt-4.1-nano-2025-04-14',
  o1: 'o1-2024-12-17',
  o3: 'o3-2025-04-16',
  'o3-mini': 'o3-mini-2025-01-31',
  'o4-mini': 'o4-mini-2025-04-16',
  'gpt-3.5-turbo': 'gpt-3.5-turbo-0125',
  'gpt-5': 'gpt-5-2025-08-07',
  'gpt-5-mini': 'gpt-5-mini-2025-08-07',
  'gpt-5-nano': 'gpt-5-nano-2025-08-07',
  'omni-moderation-latest': 'omni-moderation-2024-09-26',
  'text-moderation-latest': 'text-moderation-007',
};

export function snapshotOf(model: string): string {
  return SNAPSHOTS[model] ?? model;
}

interface ModelEntry {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

const BASE_MODELS = [
  'gpt-4o',
  'gpt-4o-mini',
  'gpt-4.1',
  'gpt-4.1-mini',
  'gpt-4.1-nano',
  'o1',
  'o3',
  'o3-mini',
  'o4-mini',
  'gpt-3.5-turbo',
  'gpt-3.5-turbo-instruct',
  'babbage-002',
  'davinci-002',
  'text-embedding-3-small',
  'text-embedding-3-large',
  'text-embedding-ada-002',
  'whisper-1',
  'gpt-4o-transcribe',
  'gpt-4o-mini-transcribe',
  'omni-moderation-latest',
  'text-moderation-latest',
  'gpt-4o-2024-05-13',
  'gpt-4o-2024-11-20',
  'gpt-image-1',
  'gpt-image-1-mini',
  'dall-e-2',
  'dall-e-3',
  'tts-1',
  'tts-1-hd',
  'gpt-4o-mini-tts',
  'sora-2',
  'sora-2-pro',
  'gpt-realtime',
];

const CATALOGUE: ModelEntry[] = [...new Set([...BASE_MODELS, ...Object.values(SNAPSHOTS)])].map((id, index) => ({
  id,
  object: 'model',
  // Stable, plausible creation times (2023-2025) so listings are deterministic.
  created: 1_686_588_896 + index * 2_592_000,
  owned_by: id.startsWith('gpt-3.5') || id.includes('moderation') || id.startsWith('whisper') ? 'openai-internal' : 'system',
}));
const CATALOGUE_BY_ID = new Map(CATALOGUE.map((entry) => [entry.id, entry]));
const LIST_BODY = JSON.stringify({ object: 'list', data: CATALOGUE });

export function registerModelRoutes(app: FastifyInstance): void {
  app.get('/v1/models', async (request, reply) => {
      const exchange = exchangeOf(request);
    await sendBody(exchange, LIST_BODY, 'application/json', 0);
  });

  app.get<{ Params: { id: string } }>('/v1/models/:id', async (request, reply) => {
      const exchange = exchangeOf(request);
    const entry = CATALOGUE_BY_ID.get(request.params.id);
    if (!entry) {
      sendError(exchange, modelNotFound(request.params.id));
      return;
    }
    await sendBody(exchange, JSON.stringify(entry), 'application/json', 0);
  });
}
