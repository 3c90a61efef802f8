// Reading OpenAI request bodies defensively: the simulator accepts what OpenAI accepts and rejects the basics it rejects.
import { invalidRequest, type SimulatedError } from './errors.js';

export type JsonObject = Record<string, unknown>;

export function asObject(value: unknown): JsonObject | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonObject) : undefined;
}

/** The `model` field, or the 400 OpenAI answers when it is missing. */
export function requireModel(body: JsonObject): string | SimulatedError {
  const model = body.model;
  if (typeof model === 'string' && model.trim() !== '') return model;
  return invalidRequest('you must provide a model parameter', 'model');
}

export function notAnObject(): SimulatedError {
  return invalidRequest('The request body must be a JSON object.');
}

export function optionalCount(body: JsonObject, ...names: string[]): number | undefined {
  for (const name of names) {
    const value = body[name];
    if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return Math.floor(value);
  }
  return undefined;
}

export type ServiceTier = 'default' | 'flex' | 'priority';

export function serviceTier(body: JsonObject): ServiceTier {
  const tier = body.service_tier;
  return tier === 'priority' || tier === 'flex' ? tier : 'default';
}

/** Text of a message `content`: a string, or parts carrying `text` (text, input_text, output_text). */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let text = '';
  for (const part of content) {
    const object = asObject(part);
    if (object && typeof object.text === 'string') text += text === '' ? object.text : `\n${object.text}`;
  }
  return text;
}

/** Image parts are billed as tokens too; a low-detail image costs 85. */
export function imagePartCount(content: unknown): number {
  if (!Array.isArray(content)) return 0;
  let images = 0;
  for (const part of content) {
    const type = asObject(part)?.type;
    if (type === 'image_url' || type === 'input_image') images++;
  }
  return images;
}

export function wantsStream(body: JsonObject): boolean {
  return body.stream === true;
}

export function includeUsage(body: JsonObject): boolean {
  return asObject(body.stream_options)?.include_usage === true;
}
