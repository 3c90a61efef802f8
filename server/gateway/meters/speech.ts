// Speech (POST /audio/speech). The audio is relayed as it comes and never collected. tts-1 and
// tts-1-hd are billed per input character (counted from the request); the gpt-4o TTS models by text
// tokens in and audio tokens out, from the usage of an SSE stream (`speech.audio.done`). A binary
// answer carries no usage: input tokens are counted with the gateway's tokenizer and audio tokens
// estimated from the length of PCM/WAV audio; for compressed formats the length cannot be known
// from the bytes, so the call is left unpriced (and flagged estimated).
import type { MeteredUsage } from '../../pricing/cost.js';
import { countTokens } from './estimate.js';
import { EMPTY_USAGE } from './reading.js';
import { str, type EndpointMeter, type Metered, type RequestFields, type ResponseFacts } from './meter.js';

/**
 * OpenAI's pricing page gives gpt-4o-mini-tts as $12 per 1M audio tokens and "~$0.015 per minute":
 * 0.015 / 12e-6 = 1,250 audio tokens per minute of speech.
 */
const AUDIO_TOKENS_PER_MINUTE = 1250;
/** `pcm` is raw 24 kHz 16-bit mono (API reference); `wav` the same behind a 44-byte header. */
const PCM_BYTES_PER_SECOND = 24_000 * 2;
const WAV_HEADER_BYTES = 44;

const perCharacter = (model: string) => model.startsWith('tts-1');

export const SPEECH_METER: EndpointMeter = {
  finish(request, reading, response): Metered | Promise<Metered> {
    const model = str(request.model) ?? '';
    const input = typeof request.input === 'string' ? request.input : '';
    // Characters as OpenAI counts them: UTF-16 code units of `input`, as its 4,096 limit is checked.
    const characters = input.length;
    if (perCharacter(model)) return { usage: { ...EMPTY_USAGE, characters } };
    const usage = reading.usage;
    if (usage && (usage.inputTokens > 0 || usage.outputTokens > 0)) {
      return { usage: { ...usage, audioOutputTokens: usage.outputTokens, characters } };
    }
    return estimate(request, input, characters, response);
  },
};

async function estimate(request: RequestFields, input: string, characters: number, response: ResponseFacts): Promise<Metered> {
  const count = await countTokens();
  const instructions = typeof request.instructions === 'string' ? request.instructions : '';
  const inputTokens = count(input) + (instructions ? count(instructions) : 0);
  const seconds = audioSeconds(str(request.response_format) ?? 'mp3', response.bytes);
  const audioTokens = seconds === undefined ? 0 : Math.ceil((seconds * AUDIO_TOKENS_PER_MINUTE) / 60);
  const usage: MeteredUsage = { ...EMPTY_USAGE, inputTokens, outputTokens: audioTokens, audioOutputTokens: audioTokens, characters };
  return { usage, estimated: true, unpriced: seconds === undefined };
}

/** Seconds of uncompressed audio from its byte length; undefined for compressed formats. */
function audioSeconds(format: string, bytes: number): number | undefined {
  if (format === 'pcm') return bytes / PCM_BYTES_PER_SECOND;
  if (format === 'wav') return Math.max(0, bytes - WAV_HEADER_BYTES) / PCM_BYTES_PER_SECOND;
  return undefined;
}
