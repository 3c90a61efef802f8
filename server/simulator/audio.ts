// POST /v1/audio/transcriptions and /v1/audio/translations: real audio duration from the uploaded bytes,
// deterministic text, and usage in whisper's (seconds) or gpt-4o-transcribe's (tokens) form.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseBuffer } from 'music-metadata';
import type { SimulatorRuntime } from './runtime.js';
import { delivered } from './billing.js';
import { admit, exchangeOf, sendBody, sendError, type Exchange } from './exchange.js';
import { invalidRequest } from './errors.js';
import { boundaryOf, parseMultipart, type FormPart } from './multipart.js';
import { countTextTokens, hash32, pseudoTextPieces } from './tokens.js';

type AudioTask = 'transcribe' | 'translate';
const RESPONSE_FORMATS = ['json', 'text', 'srt', 'verbose_json', 'vtt'] as const;
type ResponseFormat = (typeof RESPONSE_FORMATS)[number];

/** Spoken words per second in the simulated transcript. */
const WORDS_PER_SECOND = 2.5;
/** gpt-4o-transcribe bills audio as tokens; roughly ten per second of audio. */
const AUDIO_TOKENS_PER_SECOND = 10;
const SEGMENT_SECONDS = 10;

const LANGUAGES: Record<string, string> = {
  en: 'english',
  fr: 'french',
  de: 'german',
  es: 'spanish',
  it: 'italian',
  pt: 'portuguese',
  nl: 'dutch',
  ja: 'japanese',
  zh: 'chinese',
};

function isResponseFormat(value: string): value is ResponseFormat {
  return (RESPONSE_FORMATS as readonly string[]).includes(value);
}

/** Duration in seconds, or undefined when the bytes are not audio music-metadata understands. */
async function audioDuration(file: FormPart): Promise<number | undefined> {
  try {
    const metadata = await parseBuffer(
      file.data,
      { mimeType: file.contentType === 'application/octet-stream' ? undefined : file.contentType, path: file.filename, size: file.data.length },
      { duration: true, skipCovers: true },
    );
    const duration = metadata.format.duration;
    return duration !== undefined && Number.isFinite(duration) && duration > 0 ? duration : undefined;
  } catch {
    return undefined;
  }
}

interface Segment {
  start: number;
  end: number;
  text: string;
}

function transcriptSegments(seed: number, duration: number): Segment[] {
  const words = pseudoTextPieces(seed, Math.max(1, Math.round(duration * WORDS_PER_SECOND)));
  const count = Math.max(1, Math.ceil(duration / SEGMENT_SECONDS));
  const perSegment = Math.ceil(words.length / count);
  const segments: Segment[] = [];
  for (let i = 0; i < count; i++) {
    const slice = words.slice(i * perSegment, (i + 1) * perSegment);
    if (slice.length === 0) break;
    const text = slice.join('');
    segments.push({
      start: i * SEGMENT_SECONDS,
      end: Math.min(duration, (i + 1) * SEGMENT_SECONDS),
      text: text.startsWith(' ') ? text : ` ${text}`,
    });
  }
  return segments;
}

function timestamp(seconds: number, separator: ',' | '.'): string {
  const ms = Math.round(seconds * 1000);
  const pad = (value: number, width = 2): string => String(value).padStart(width, '0');
  return `${pad(Math.floor(ms / 3_600_000))}:${pad(Math.floor(ms / 60_000) % 60)}:${pad(Math.floor(ms / 1000) % 60)}${separator}${pad(ms % 1000, 3)}`;
}

function subtitles(segments: Segment[], format: 'srt' | 'vtt'): string {
  if (format === 'srt') {
    return segments
      .map((s, i) => `${i + 1}\n${timestamp(s.start, ',')} --> ${timestamp(s.end, ',')}\n${s.text.trim()}\n\n`)
      .join('');
  }
  return `WEBVTT\n\n${segments.map((s) => `${timestamp(s.start, '.')} --> ${timestamp(s.end, '.')}\n${s.text.trim()}\n\n`).join('')}`;
}

function field(parts: FormPart[], name: string): string | undefined {
  const part = parts.find((p) => p.name === name && p.filename === undefined);
  return part?.data.toString('utf8');
}

async function handleAudio(task: AudioTask, runtime: SimulatorRuntime, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const exchange = exchangeOf(request);
  const boundary = boundaryOf(request.headers['content-type']);
  const parts = Buffer.isBuffer(request.body) && boundary ? parseMultipart(request.body, boundary) : undefined;
  if (!parts) return sendError(exchange, invalidRequest('Expected a multipart/form-data body with a file and a model.'));
  const model = field(parts, 'model')?.trim();
  if (!model) return sendError(exchange, invalidRequest('you must provide a model parameter', 'model'));
  const file = parts.find((p) => p.name === 'file');
  if (!file || file.data.length === 0) {
    return sendError(exchange, invalidRequest("Missing required parameter: 'file'.", 'file', 'missing_required_parameter'));
  }
  const format = field(parts, 'response_format') ?? 'json';
  if (!isResponseFormat(format)) {
    return sendError(exchange, invalidRequest(`'${format}' is not one of ${RESPONSE_FORMATS.join(', ')} - 'response_format'`, 'response_format'));
  }
  const tokenBilled = model.startsWith('gpt-');
  if (task === 'translate' && model !== 'whisper-1') {
    return sendError(exchange, invalidRequest(`Translations are only available for whisper-1, not ${model}.`, 'model'));
  }
  if (tokenBilled && format !== 'json' && format !== 'text') {
    return sendError(
      exchange,
      invalidRequest(`response_format '${format}' is not compatible with model '${model}'. Use 'json' or 'text'.`, 'response_format'),
    );
  }
  const duration = await audioDuration(file);
  if (duration === undefined) {
    return sendError(
      exchange,
      invalidRequest('Audio file might be corrupted or unsupported', 'file', 'invalid_value'),
    );
  }
  const prompt = field(parts, 'prompt') ?? '';
  const promptTokens = countTextTokens(prompt);
  const audioTokens = Math.ceil(duration * AUDIO_TOKENS_PER_SECOND);
  if (!admit(exchange, model, tokenBilled ? promptTokens + audioTokens : 0, prompt)) return;

  const seed = hash32(`${file.data.length}:${file.data.subarray(0, 512).toString('base64')}`);
  const segments = transcriptSegments(seed, duration);
  const text = segments.map((s) => s.text).join('').trim();
  const seconds = Math.ceil(duration);
  const outputTokens = countTextTokens(text);
  const language = LANGUAGES[field(parts, 'language') ?? 'en'] ?? 'english';

  let body: string;
  let contentType = 'application/json';
  if (format === 'text' || format === 'srt' || format === 'vtt') {
    contentType = 'text/plain; charset=utf-8';
    body = format === 'text' ? `${text}\n` : subtitles(segments, format);
  } else if (format === 'verbose_json') {
    body = JSON.stringify({
      task,
      language: task === 'translate' ? 'english' : language,
      duration,
      text,
      segments: segments.map((s, id) => ({
        id,
        seek: Math.round(s.start * 100),
        start: s.start,
        end: s.end,
        text: s.text,
        tokens: [],
        temperature: 0,
        avg_logprob: -0.25,
        compression_ratio: 1.3,
        no_speech_prob: 0.01,
      })),
      ...(task === 'transcribe' ? { usage: { type: 'duration', seconds } } : {}),
    });
  } else if (task === 'translate') {
    body = JSON.stringify({ text });
  } else if (tokenBilled) {
    body = JSON.stringify({
      text,
      usage: {
        type: 'tokens',
        input_tokens: promptTokens + audioTokens,
        input_token_details: { text_tokens: promptTokens, audio_tokens: audioTokens },
        output_tokens: outputTokens,
        total_tokens: promptTokens + audioTokens + outputTokens,
      },
    });
  } else {
    body = JSON.stringify({ text, usage: { type: 'duration', seconds } });
  }
  if (await sendBody(exchange, body, contentType, outputTokens)) recordAudio(exchange, model, tokenBilled, seconds, promptTokens + audioTokens, outputTokens, audioTokens);
}

function recordAudio(exchange: Exchange, model: string, tokenBilled: boolean, seconds: number, inputTokens: number, outputTokens: number, audioTokens: number): void {
  delivered(
    exchange,
    model,
    tokenBilled ? { audioSeconds: seconds, promptTokens: inputTokens, completionTokens: outputTokens, audioInputTokens: audioTokens } : { audioSeconds: seconds },
  );
}

export function registerAudioRoutes(app: FastifyInstance, runtime: SimulatorRuntime): void {
  app.post('/v1/audio/transcriptions', (request, reply) => handleAudio('transcribe', runtime, request, reply));
  app.post('/v1/audio/translations', (request, reply) => handleAudio('translate', runtime, request, reply));
}
