// Exact cost arithmetic. Prices are published decimals (USD per 1M tokens, per 1M characters, per
// audio minute, per image, per 1,000 tool calls); they become integers of pico-dollars per unit,
// every component of an event is summed in BigInt, and the event's cost is rounded once, half up,
// to integer nano-dollars. No floating point touches money, and no component is rounded on its own
// (a call with 3 tokens at $0.0125/1M costs 37.5 nanos → 38, not 3 × 13).

import { modelFamily } from './model-family.js';

// Kept for callers that import it from here.
export { modelFamily } from './model-family.js';

export interface MeteredUsage {
  inputTokens: number;
  /** Part of inputTokens served from the prompt cache (text, audio and image together). */
  cachedTokens: number;
  /** Part of inputTokens that is audio (transcription models, audio chat, realtime), cached or not. */
  audioInputTokens: number;
  outputTokens: number;
  /** Part of outputTokens; informational, already billed as output. */
  reasoningTokens: number;
  /** Seconds of audio for per-minute models (whisper-1). */
  audioSeconds?: number;
  /** Part of cachedTokens that is audio (realtime `cached_tokens_details.audio_tokens`). */
  cachedAudioTokens?: number;
  /** Part of inputTokens that is image (gpt-image edits, realtime), cached or not. */
  imageInputTokens?: number;
  /** Part of cachedTokens that is image. */
  cachedImageTokens?: number;
  /** Part of outputTokens that is audio (audio chat, realtime, gpt-4o-mini-tts). */
  audioOutputTokens?: number;
  /** Part of outputTokens that is image (gpt-image models). */
  imageOutputTokens?: number;
  /** Input characters, for the speech models priced per character (tts-1, tts-1-hd). */
  characters?: number;
  /** Images produced, for the models priced per image (dall-e-2, dall-e-3), by size and quality. */
  images?: ReadonlyArray<ImageCount>;
  /** Built-in tool calls by kind (`web_search`, `file_search`, ...), for the per-call fees. */
  toolCalls?: Readonly<Partial<Record<ToolCallKind, number>>>;
}

export interface ImageCount {
  /** As requested or reported, e.g. `1024x1024`. */
  size: string;
  /** `standard`, `hd`, ...; absent for models with one quality (dall-e-2). */
  quality?: string;
  count: number;
}

/** The built-in tools OpenAI charges per call; the keys of a price's `perThousandCalls`. */
export type ToolCallKind = 'web_search' | 'web_search_preview' | 'file_search';

/** Long-context rates: they replace the text rates for the whole call once the input passes the threshold. */
export interface LongContextPrices {
  /** Calls with more input tokens than this are billed at the rates below. */
  aboveInputTokens: number;
  inputPerMtok: string | null;
  cachedInputPerMtok: string | null;
  outputPerMtok: string | null;
}

export interface UnitPrices {
  inputPerMtok: string | null;
  cachedInputPerMtok: string | null;
  outputPerMtok: string | null;
  audioInputPerMtok: string | null;
  perAudioMinute: string | null;
  cachedAudioInputPerMtok?: string | null;
  audioOutputPerMtok?: string | null;
  imageInputPerMtok?: string | null;
  cachedImageInputPerMtok?: string | null;
  imageOutputPerMtok?: string | null;
  /** USD per 1M input characters (speech models priced per character). */
  perMillionCharacters?: string | null;
  /** USD per image, keyed `size/quality` (or `size` for models with one quality). */
  perImage?: Readonly<Record<string, string>> | null;
  /** USD per 1,000 calls of a built-in tool, keyed by tool kind. */
  perThousandCalls?: Readonly<Partial<Record<ToolCallKind, string>>> | null;
  longContext?: LongContextPrices | null;
}

const PICO_PER_NANO = 1000n;

const scaledCache = new Map<string, bigint>();

/** "2.125" → 2125000n at scale 6. Throws on anything that is not a plain non-negative decimal. */
export function decimalToScaled(value: string, scale: number): bigint {
  // Every call prices with the same few dozen price strings: parse each once.
  const key = `${value}|${scale}`;
  let scaled = scaledCache.get(key);
  if (scaled === undefined) {
    scaled = parseScaled(value, scale);
    if (scaledCache.size > 10_000) scaledCache.clear();
    scaledCache.set(key, scaled);
  }
  return scaled;
}

function parseScaled(value: string, scale: number): bigint {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(value.trim());
  if (!match) throw new Error(`not a decimal price: ${value}`);
  const [, whole, fraction = ''] = match;
  if (fraction.length > scale && /[1-9]/.test(fraction.slice(scale))) {
    throw new Error(`price ${value} has more than ${scale} decimals`);
  }
  return BigInt(whole + fraction.slice(0, scale).padEnd(scale, '0'));
}

/** USD per 1M units (tokens, characters) → pico-dollars per unit (1e-12 USD): multiply by 1e6. */
const picoPerUnit = (usdPerMillion: string) => decimalToScaled(usdPerMillion, 6);
/** USD per image → pico-dollars per image. */
const picoPerItem = (usd: string) => decimalToScaled(usd, 12);
/** USD per 1,000 calls → pico-dollars per call: multiply by 1e12 / 1e3. */
const picoPerCall = (usdPerThousand: string) => decimalToScaled(usdPerThousand, 9);

/** `count` units at `rate` in pico-dollars; null when the units exist but the price has no rate for them. */
function part(count: number, rate: string | null | undefined, perUnit: (rate: string) => bigint): bigint | null {
  if (count <= 0) return 0n;
  if (rate === null || rate === undefined) return null;
  return BigInt(count) * perUnit(rate);
}

/**
 * Cost in nano-dollars, or null when the usage includes something the price does not cover
 * (so it is reported as unpriced, never silently $0).
 *
 * Components, each at its own rate: text input (uncached and cached), audio input (uncached and
 * cached), image input (uncached and cached), text, audio and image output, characters, images by
 * size and quality, tool calls by kind, audio minutes. Fallbacks, all as OpenAI bills them:
 * - cached input without a cached rate is charged at the uncached rate (models with no cache discount);
 * - image input without an image rate is text input (vision on chat models is billed as input tokens);
 * - a model whose only output rate is audio or image (tts, gpt-image) bills all its output at that rate,
 *   so a usage block without the output breakdown still prices.
 * Long-context rates replace the text rates for the whole call when the input passes the threshold.
 */
export function costNanos(prices: UnitPrices, usage: MeteredUsage): bigint | null {
  const long = prices.longContext && usage.inputTokens > prices.longContext.aboveInputTokens ? prices.longContext : null;
  const inputRate = long ? long.inputPerMtok : prices.inputPerMtok;
  const cachedRate = (long ? long.cachedInputPerMtok : prices.cachedInputPerMtok) ?? inputRate;
  const outputRate = long ? long.outputPerMtok : prices.outputPerMtok;

  const cachedAudio = usage.cachedAudioTokens ?? 0;
  const cachedImage = usage.cachedImageTokens ?? 0;
  const audioIn = usage.audioInputTokens - cachedAudio;
  const imageIn = (usage.imageInputTokens ?? 0) - cachedImage;
  const cachedText = usage.cachedTokens - cachedAudio - cachedImage;
  const textIn = usage.inputTokens - usage.cachedTokens - audioIn - imageIn;
  const audioOut = usage.audioOutputTokens ?? 0;
  const imageOut = usage.imageOutputTokens ?? 0;
  let textOut = usage.outputTokens - audioOut - imageOut;

  const imageRate = prices.imageInputPerMtok ?? inputRate;
  const cachedImageRate = prices.cachedImageInputPerMtok ?? prices.imageInputPerMtok ?? cachedRate;
  const audioOutRate = prices.audioOutputPerMtok ?? null;
  const imageOutRate = prices.imageOutputPerMtok ?? null;

  // One pass, no allocation beyond the BigInts: this runs for every call on the gateway.
  let pico = 0n;
  let c: bigint | null;
  if (outputRate === null && textOut > 0) {
    // The model's only output modality: its usage may not break the output down.
    const sole = audioOutRate !== null && imageOutRate === null ? audioOutRate : imageOutRate !== null && audioOutRate === null ? imageOutRate : null;
    if (sole !== null) {
      pico += BigInt(textOut) * picoPerUnit(sole);
      textOut = 0;
    }
  }
  if ((c = part(textIn, inputRate, picoPerUnit)) === null) return null;
  pico += c;
  if ((c = part(cachedText, cachedRate, picoPerUnit)) === null) return null;
  pico += c;
  if ((c = part(audioIn, prices.audioInputPerMtok, picoPerUnit)) === null) return null;
  pico += c;
  if ((c = part(cachedAudio, prices.cachedAudioInputPerMtok ?? prices.audioInputPerMtok, picoPerUnit)) === null) return null;
  pico += c;
  if ((c = part(imageIn, imageRate, picoPerUnit)) === null) return null;
  pico += c;
  if ((c = part(cachedImage, cachedImageRate, picoPerUnit)) === null) return null;
  pico += c;
  if ((c = part(textOut, outputRate, picoPerUnit)) === null) return null;
  pico += c;
  if ((c = part(audioOut, audioOutRate, picoPerUnit)) === null) return null;
  pico += c;
  if ((c = part(imageOut, imageOutRate, picoPerUnit)) === null) return null;
  pico += c;

  // Characters are what tts-1 is billed on; for token-priced speech they are informational.
  const perCharacter = prices.perMillionCharacters ?? null;
  if (perCharacter !== null) {
    if (usage.characters === undefined) {
      if (usage.inputTokens === 0 && usage.outputTokens === 0) return null; // not measured: unknown, not free
    } else pico += part(usage.characters, perCharacter, picoPerUnit) ?? 0n;
  }
  if (usage.images?.length) {
    for (const image of usage.images) {
      const rate = prices.perImage?.[image.quality ? `${image.size}/${image.quality}` : image.size] ?? prices.perImage?.[image.size];
      if ((c = part(image.count, rate, picoPerItem)) === null) return null;
      pico += c;
    }
  } else if (prices.perImage && prices.inputPerMtok === null && usage.inputTokens === 0 && usage.outputTokens === 0) {
    return null; // a per-image model with no image counted: unknown, not free
  }
  if (usage.toolCalls) {
    for (const kind in usage.toolCalls) {
      if ((c = part(usage.toolCalls[kind as ToolCallKind] ?? 0, prices.perThousandCalls?.[kind as ToolCallKind], picoPerCall)) === null) return null;
      pico += c;
    }
  }

  // Per-minute audio is billed per started second, as OpenAI reports whole seconds for whisper-1.
  let picoTimes60 = pico * 60n;
  if (usage.audioSeconds !== undefined && usage.audioSeconds > 0) {
    if (prices.perAudioMinute === null) {
      if (pico === 0n && usage.inputTokens === 0 && usage.outputTokens === 0) return null;
    } else {
      const seconds = BigInt(Math.ceil(usage.audioSeconds - 1e-9));
      picoTimes60 += seconds * decimalToScaled(prices.perAudioMinute, 12);
    }
  } else if (
    prices.perAudioMinute !== null &&
    prices.inputPerMtok === null &&
    usage.inputTokens === 0 &&
    usage.outputTokens === 0
  ) {
    return null; // an audio model with no measured duration: unknown, not free
  }
  const divisor = 60n * PICO_PER_NANO;
  return (picoTimes60 + divisor / 2n) / divisor;
}


/**
 * The price keys a fine-tuned model (`ft:<base>:<org>:<suffix>:<id>`) is looked up under:
 * `ft:<base>`, then `ft:<family of base>`. Never the base model's own price: OpenAI charges
 * fine-tuned inference at its own rates, so a base price would be silently wrong.
 */
export function fineTunedKeys(model: string): [string, string] | undefined {
  if (!model.startsWith('ft:')) return undefined;
  const end = model.indexOf(':', 3);
  const base = end < 0 ? model.slice(3) : model.slice(3, end);
  if (!base) return undefined;
  return [`ft:${base}`, `ft:${modelFamily(base)}`];
}

const NANOS_PER_USD = 1_000_000_000n;

/** Integer nano-dollars as an exact USD decimal string: 1234567890n → "1.234567890". */
export function nanosToUsd(nanos: bigint | string): string {
  const value = BigInt(nanos);
  const abs = value < 0n ? -value : value;
  return `${value < 0n ? '-' : ''}${abs / NANOS_PER_USD}.${(abs % NANOS_PER_USD).toString().padStart(9, '0')}`;
}
