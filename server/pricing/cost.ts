// Exact cost arithmetic. Prices are published decimals (USD per 1M tokens, USD per audio minute);
// they become integers of pico-dollars per token, costs are summed in BigInt, and the event's cost
// is rounded once, half up, to integer nano-dollars. No floating point touches money.

export interface MeteredUsage {
  inputTokens: number;
  /** Part of inputTokens served from the prompt cache. */
  cachedTokens: number;
  /** Part of inputTokens that is audio (transcription models, audio chat). */
  audioInputTokens: number;
  outputTokens: number;
  /** Part of outputTokens; informational, already billed as output. */
  reasoningTokens: number;
  /** Seconds of audio for per-minute models (whisper-1). */
  audioSeconds?: number;
}

export interface UnitPrices {
  inputPerMtok: string | null;
  cachedInputPerMtok: string | null;
  outputPerMtok: string | null;
  audioInputPerMtok: string | null;
  perAudioMinute: string | null;
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

/** USD per 1M tokens → pico-dollars per token (1e-12 USD): multiply by 1e6. */
const picoPerToken = (usdPerMtok: string) => decimalToScaled(usdPerMtok, 6);

/**
 * Cost in nano-dollars, or null when the usage includes something the price does not cover
 * (so it is reported as unpriced, never silently $0).
 */
export function costNanos(prices: UnitPrices, usage: MeteredUsage): bigint | null {
  const textInput = usage.inputTokens - usage.cachedTokens - usage.audioInputTokens;
  let pico = 0n;
  if (textInput > 0) {
    if (prices.inputPerMtok === null) return null;
    pico += BigInt(textInput) * picoPerToken(prices.inputPerMtok);
  }
  if (usage.cachedTokens > 0) {
    const cached = prices.cachedInputPerMtok ?? prices.inputPerMtok; // models without a cache discount
    if (cached === null) return null;
    pico += BigInt(usage.cachedTokens) * picoPerToken(cached);
  }
  if (usage.audioInputTokens > 0) {
    if (prices.audioInputPerMtok === null) return null;
    pico += BigInt(usage.audioInputTokens) * picoPerToken(prices.audioInputPerMtok);
  }
  if (usage.outputTokens > 0) {
    if (prices.outputPerMtok === null) return null;
    pico += BigInt(usage.outputTokens) * picoPerToken(prices.outputPerMtok);
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

/** Price families: dated snapshots (`gpt-4o-2024-08-06`, `gpt-4-0613`) and `-latest` aliases. */
export function modelFamily(model: string): string {
  let family = FAMILIES.get(model);
  if (family === undefined) {
    family = model.replace(/-(\d{4}-\d{2}-\d{2}|\d{4}|latest|stable)$/, '');
    if (FAMILIES.size >= FAMILIES_MAX) FAMILIES.clear();
    FAMILIES.set(model, family);
  }
  return family;
}

/** modelFamily() runs several times per call on the hot path (pricing, pacing, metrics): remember it. */
const FAMILIES = new Map<string, string>();
const FAMILIES_MAX = 1_000;

const NANOS_PER_USD = 1_000_000_000n;

/** Integer nano-dollars as an exact USD decimal string: 1234567890n → "1.234567890". */
export function nanosToUsd(nanos: bigint | string): string {
  const value = BigInt(nanos);
  const abs = value < 0n ? -value : value;
  return `${value < 0n ? '-' : ''}${abs / NANOS_PER_USD}.${(abs % NANOS_PER_USD).toString().padStart(9, '0')}`;
}
