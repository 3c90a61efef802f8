// The OpenAI endpoints Tallygate serves under /v1, and how each one is metered.
import { IMAGES_METER } from './meters/images.js';
import type { EndpointMeter } from './meters/meter.js';
import { SPEECH_METER } from './meters/speech.js';

export type BodyKind = 'json' | 'multipart' | 'none';

export interface Endpoint {
  /** Ledger name of the endpoint, e.g. `chat.completions`. */
  name: string;
  method: 'GET' | 'POST';
  /** Path under /v1 (Fastify syntax). */
  path: string;
  body: BodyKind;
  /** Streams can carry stream_options.include_usage (chat and legacy completions). */
  usageOption: boolean;
  /** OpenAI charges for it: a success without readable usage is "cost unknown", not $0. */
  billable: boolean;
  /** Path parameters, validated before forwarding (the raw path is what goes upstream). */
  params?: readonly string[];
  /** Usage beyond the response's tokens (images, speech): chosen here, once per route, never per chunk. */
  meter?: EndpointMeter;
}

export const ENDPOINTS: readonly Endpoint[] = [
  { name: 'chat.completions', method: 'POST', path: '/chat/completions', body: 'json', usageOption: true, billable: true },
  { name: 'completions', method: 'POST', path: '/completions', body: 'json', usageOption: true, billable: true },
  { name: 'responses', method: 'POST', path: '/responses', body: 'json', usageOption: false, billable: true },
  { name: 'embeddings', method: 'POST', path: '/embeddings', body: 'json', usageOption: false, billable: true },
  { name: 'moderations', method: 'POST', path: '/moderations', body: 'json', usageOption: false, billable: false },
  { name: 'audio.transcriptions', method: 'POST', path: '/audio/transcriptions', body: 'multipart', usageOption: false, billable: true },
  { name: 'audio.translations', method: 'POST', path: '/audio/translations', body: 'multipart', usageOption: false, billable: true },
  { name: 'models', method: 'GET', path: '/models', body: 'none', usageOption: false, billable: false },
  { name: 'models', method: 'GET', path: '/models/:model', body: 'none', usageOption: false, billable: false, params: ['model'] },
  { name: 'images.generations', method: 'POST', path: '/images/generations', body: 'json', usageOption: false, billable: true, meter: IMAGES_METER },
  { name: 'images.edits', method: 'POST', path: '/images/edits', body: 'multipart', usageOption: false, billable: true, meter: IMAGES_METER },
  { name: 'images.variations', method: 'POST', path: '/images/variations', body: 'multipart', usageOption: false, billable: true, meter: IMAGES_METER },
  { name: 'audio.speech', method: 'POST', path: '/audio/speech', body: 'json', usageOption: false, billable: true, meter: SPEECH_METER },
];
