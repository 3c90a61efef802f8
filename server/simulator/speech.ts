// POST /v1/audio/speech: audio bytes of a length that follows the input (content type by response_format), or
// with stream_format 'sse' base64 audio deltas and a done event carrying token usage for the token-priced models.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { SimulatorRuntime } from './runtime.js';
import { admit, exchangeOf, sendBody, sendError, sendStream } from './exchange.js';
import { invalidRequest, MID_STREAM_ERROR } from './errors.js';
import { asObject, notAnObject, requireModel } from './payload.js';
import { countTextTokens } from './tokens.js';
import { silentMp3, toneWav } from './audio-samples.js';

const FORMATS = ['mp3', 'opus', 'aac', 'flac', 'wav', 'pcm'] as const;
type SpeechFormat = (typeof FORMATS)[number];

const CONTENT_TYPES: Record<SpeechFormat, string> = {
  mp3: 'audio/mpeg',
  opus: 'audio/opus',
  aac: 'audio/aac',
  flac: 'audio/flac',
  wav: 'audio/wav',
  pcm: 'audio/pcm',
};

/** Speaking pace of the simulated voice at speed 1. */
const CHARACTERS_PER_SECOND = 15;
/** gpt-4o-mini-tts bills audio output as tokens: about 20 per second of speech. */
const AUDIO_TOKENS_PER_SECOND = 20;
const MAX_INPUT_CHARACTERS = 4_096;
const SAMPLE_RATE = 24_000;
const MP3_FRAME_SECONDS = 1152 / 44_100;
const SSE_CHUNKS = 8;

function isFormat(value: string): value is SpeechFormat {
  return (FORMATS as readonly string[]).includes(value);
}

/** Per-character models (tts-1, tts-1-hd) report no usage; the gpt-4o TTS models are billed by tokens. */
function isTokenPriced(model: string): boolean {
  return model.startsWith('gpt-');
}

/** Audio of `seconds` in the format: real MP3 frames and WAV/PCM samples; other codecs get a plausible header. */
function audioBytes(format: SpeechFormat, seconds: number): Buffer {
  if (format === 'mp3') return silentMp3(Math.max(1, Math.ceil(seconds / MP3_FRAME_SECONDS)));
  const wav = toneWav(seconds, SAMPLE_RATE);
  if (format === 'wav') return wav;
  if (format === 'pcm') return wav.subarray(44);
  // ~6 kB/s, about what opus, aac and flac-of-speech run at; the magic bytes let players name the codec.
  const magic = { opus: 'OggS', aac: '\xff\xf1', flac: 'fLaC' }[format];
  const bytes = Buffer.alloc(Math.max(64, Math.ceil(seconds * 6_000)));
  bytes.write(magic, 0, 'latin1');
  return bytes;
}

async function createSpeech(runtime: SimulatorRuntime, request: FastifyRequest): Promise<void> {
  const exchange = exchangeOf(request);
  const body = asObject(request.body);
  if (!body) return sendError(exchange, notAnObject());
  const model = requireModel(body);
  if (typeof model !== 'string') return sendError(exchange, model);
  const input = body.input;
  if (typeof input !== 'string' || input === '') return sendError(exchange, invalidRequest("Missing required parameter: 'input'.", 'input', 'missing_required_parameter'));
  if (input.length > MAX_INPUT_CHARACTERS) {
    return sendError(exchange, invalidRequest(`'input' is ${input.length} characters; the limit is ${MAX_INPUT_CHARACTERS}.`, 'input', 'string_above_max_length'));
  }
  if (body.voice === undefined) return sendError(exchange, invalidRequest("Missing required parameter: 'voice'.", 'voice', 'missing_required_parameter'));
  const format = typeof body.response_format === 'string' ? body.response_format : 'mp3';
  if (!isFormat(format)) return sendError(exchange, invalidRequest(`'${format}' is not one of ${FORMATS.join(', ')} - 'response_format'`, 'response_format'));
  const sse = body.stream_format === 'sse';
  const tokenPriced = isTokenPriced(model);
  if (sse && !tokenPriced) return sendError(exchange, invalidRequest(`stream_format 'sse' is not supported for ${model}.`, 'stream_format'));
  const instructions = typeof body.instructions === 'string' ? body.instructions : '';
  const inputTokens = countTextTokens(input) + countTextTokens(instructions);
  const speed = typeof body.speed === 'number' && body.speed >= 0.25 && body.speed <= 4 ? body.speed : 1;
  const seconds = Math.max(0.5, input.length / CHARACTERS_PER_SECOND / speed);
  const outputTokens = Math.ceil(seconds * AUDIO_TOKENS_PER_SECOND);
  if (!admit(exchange, model, tokenPriced ? inputTokens : 0, input)) return;

  const audio = audioBytes(format, seconds);
  const delivered = (): void =>
    runtime.stats.delivered(
      exchange.org.id,
      model,
      tokenPriced ? { promptTokens: inputTokens, completionTokens: outputTokens, characters: input.length } : { characters: input.length },
    );
  if (!sse) {
    if (await sendBody(exchange, audio, CONTENT_TYPES[format], 0)) delivered();
    return;
  }
  const frames: string[] = [];
  const step = Math.ceil(audio.length / SSE_CHUNKS);
  for (let at = 0; at < audio.length; at += step) {
    frames.push(`data: ${JSON.stringify({ type: 'speech.audio.delta', audio: audio.subarray(at, at + step).toString('base64') })}\n\n`);
  }
  const contentFrames = frames.length;
  const usage = { input_tokens: inputTokens, output_tokens: outputTokens, total_tokens: inputTokens + outputTokens };
  frames.push(`data: ${JSON.stringify({ type: 'speech.audio.done', usage })}\n\n`);
  const errorFrame = `data: ${JSON.stringify({ type: 'error', error: MID_STREAM_ERROR.error })}\n\n`;
  if (await sendStream(exchange, { frames, contentFrames, errorFrame })) delivered();
}

export function registerSpeechRoutes(app: FastifyInstance, runtime: SimulatorRuntime): void {
  app.post('/v1/audio/speech', (request) => createSpeech(runtime, request));
}
