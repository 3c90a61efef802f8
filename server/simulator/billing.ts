// The simulator's own bill: every call it served (whole, or a stream the client aborted, billed for what was
// generated), per org, API key and model, priced with its own copy of the list prices. The admin Usage and
// Costs endpoints (organization.ts) answer from it, so reconciliation compares the ledger with an upstream that
// keeps its own books, never with the gateway's numbers. Shares no code with the gateway.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Exchange } from './exchange.js';
import { snapshotOf } from './models.js';
import type { DeliveredUsage } from './stats.js';

/** The usage endpoints OpenAI's admin API has, by the name in their path. */
export const USAGE_ENDPOINTS = [
  'completions',
  'embeddings',
  'moderations',
  'images',
  'audio_speeches',
  'audio_transcriptions',
  'vector_stores',
  'code_interpreter_sessions',
] as const;
export type UsageEndpoint = (typeof USAGE_ENDPOINTS)[number];

/** USD per 1M tokens (per minute for per-minute audio), as decimals. */
export interface SimulatedPrice {
  input?: string;
  cachedInput?: string;
  output?: string;
  audioInput?: string;
  cachedAudioInput?: string;
  audioOutput?: string;
  perAudioMinute?: string;
}

/**
 * Billed calls: one call as recorded (or, for seeding history, `requests` identical calls, token counts per
 * call), and in the bill the sum of the calls of one minute, org, key, project, endpoint and model.
 */
export interface BilledCall {
  at: number;
  orgId: string;
  apiKeyId: string;
  projectId: string | null;
  endpoint: UsageEndpoint;
  /** The snapshot OpenAI reports (`gpt-4o-mini-2024-07-18`). */
  model: string;
  requests: number;
  /** Run by the Batch API: priced at the batch rows of the list, grouped apart (`batch=true` in the usage API). */
  batch?: boolean;
  inputTokens: number;
  cachedTokens: number;
  outputTokens: number;
  audioInputTokens: number;
  /** Parts of cachedTokens (and audioInputTokens) and of outputTokens that are audio (realtime); 0 when absent. */
  cachedAudioTokens?: number;
  audioOutputTokens?: number;
  seconds: number;
  /** Billed per line item, in nano-dollars; they add up to the call's cost rounded once, half up. */
  lines: Array<{ lineItem: string; nanos: bigint }>;
}

export interface BilledCharge {
  at: number;
  orgId: string;
  lineItem: string;
  nanos: bigint;
  apiKeyId: string | null;
  projectId: string | null;
}

/**
 * OpenAI's id for a key is not derivable from the secret; the simulator makes one up the same way every time
 * (`key_` + 16 hex digits of its SHA-256) so tests and the demo can record it on the upstream key.
 */
export function simulatedKeyId(secret: string): string {
  return `key_${createHash('sha256').update(secret).digest('hex').slice(0, 16)}`;
}

interface PriceListFile {
  prices: Array<{
    model: string;
    service_tier?: string;
    input?: string;
    cached_input?: string;
    output?: string;
    audio_input?: string;
    cached_audio_input?: string;
    audio_output?: string;
    per_audio_minute?: string;
  }>;
}

/** Models OpenAI bills that Tallygate's shipped price list leaves out: the demo's "unpriced model". */
const EXTRA_PRICES: Record<string, SimulatedPrice> = {
  // OpenAI's computer-use model: $3 in / $12 out per 1M tokens (not in Tallygate's list yet).
  'computer-use-preview': { input: '3.00', output: '12.00' },
};

/**
 * The published list prices of one tier (the same data file Tallygate ships): the standard tier plus the
 * models above, or the Batch API's rows (`batch`), which bill a batch's lines.
 */
export function listPrices(tier: 'default' | 'batch' = 'default'): Record<string, SimulatedPrice> {
  const file = JSON.parse(readFileSync(new URL('../pricing/price-list.json', import.meta.url), 'utf8')) as PriceListFile;
  const prices: Record<string, SimulatedPrice> = tier === 'default' ? { ...EXTRA_PRICES } : {};
  for (const p of file.prices) {
    if ((p.service_tier ?? 'default') !== tier) continue;
    prices[p.model] = {
      input: p.input,
      cachedInput: p.cached_input,
      output: p.output,
      audioInput: p.audio_input,
      cachedAudioInput: p.cached_audio_input,
      audioOutput: p.audio_output,
      perAudioMinute: p.per_audio_minute,
    };
  }
  return prices;
}

/** "2.125" → pico-dollars per token (USD per 1M tokens × 1e6). */
function picoPerToken(usdPerMtok: string | undefined): bigint {
  if (usdPerMtok === undefined) return 0n;
  const [whole, fraction = ''] = usdPerMtok.split('.');
  return BigInt(whole + fraction.padEnd(6, '0').slice(0, 6));
}

const ENDPOINT_BY_PATH: Array<[string, UsageEndpoint]> = [
  ['/v1/chat/completions', 'completions'],
  ['/v1/completions', 'completions'],
  ['/v1/responses', 'completions'],
  ['/v1/embeddings', 'embeddings'],
  ['/v1/moderations', 'moderations'],
  ['/v1/images', 'images'],
  ['/v1/audio/speech', 'audio_speeches'],
  ['/v1/audio/transcriptions', 'audio_transcriptions'],
  ['/v1/audio/translations', 'audio_transcriptions'],
];

function endpointOf(url: string): UsageEndpoint {
  for (const [prefix, endpoint] of ENDPOINT_BY_PATH) if (url.startsWith(prefix)) return endpoint;
  return 'completions';
}

interface ScaledPrice {
  input: bigint;
  cached: bigint;
  audio: bigint;
  cachedAudio: bigint;
  output: bigint;
  audioOutput: bigint;
  /** Pico-dollars per minute (a second costs a sixtieth); null: not billed per minute. */
  perMinute: bigint | null;
}

function familyOf(model: string): string {
  return model.replace(/-(\d{4}-\d{2}-\d{2}|\d{4}|latest)$/, '');
}

export class SimulatorBilling {
  /**
   * Summed per minute (the finest bucket OpenAI offers) and group, so a benchmark's millions of calls keep
   * the bill at one entry per minute and group rather than one per call.
   */
  private readonly minutes = new Map<string, BilledCall>();
  readonly charges: BilledCharge[] = [];
  private readonly keyIds = new Map<string, string>();
  /** Unit prices as pico-dollars per token, by tier and model as billed: parsed once, not per call. */
  private readonly scaled = new Map<string, ScaledPrice | null>();

  constructor(
    private readonly prices: Record<string, SimulatedPrice>,
    private readonly batchPrices: Record<string, SimulatedPrice> = {},
  ) {}

  calls(): IterableIterator<BilledCall> {
    return this.minutes.values();
  }

  reset(): void {
    this.minutes.clear();
    this.charges.length = 0;
  }

  keyIdOf(secret: string): string {
    let id = this.keyIds.get(secret);
    if (id === undefined) {
      id = simulatedKeyId(secret);
      this.keyIds.set(secret, id);
    }
    return id;
  }

  /** Bills a call the simulator served; `usage` is what it generated (all of it, or what a cut stream got to). */
  bill(exchange: Exchange, model: string, usage: DeliveredUsage): void {
    const authorization = exchange.request.headers.authorization ?? '';
    this.record({
      at: Date.now(),
      orgId: exchange.org.id,
      apiKeyId: this.keyIdOf(authorization.slice(7).trim()),
      projectId: exchange.project ?? null,
      endpoint: endpointOf(exchange.request.url),
      model: snapshotOf(model),
      requests: 1,
      inputTokens: usage.promptTokens ?? 0,
      cachedTokens: usage.cachedTokens ?? 0,
      outputTokens: usage.completionTokens ?? 0,
      audioInputTokens: usage.audioInputTokens ?? 0,
      cachedAudioTokens: usage.cachedAudioTokens ?? 0,
      audioOutputTokens: usage.audioOutputTokens ?? 0,
      seconds: usage.audioSeconds ?? 0,
    });
  }

  /** Records a billed call (or `requests` identical calls, to seed history), pricing it as OpenAI would. */
  record(call: Omit<BilledCall, 'lines'>): BilledCall {
    const lines = this.price(call);
    const minute = Math.floor(call.at / 60_000) * 60_000;
    const key = `${call.orgId}|${minute}|${call.endpoint}|${call.model}|${call.apiKeyId}|${call.projectId ?? ''}|${call.batch ? 'batch' : ''}`;
    let entry = this.minutes.get(key);
    if (!entry) {
      entry = { ...call, at: minute, requests: 0, inputTokens: 0, cachedTokens: 0, outputTokens: 0, audioInputTokens: 0, cachedAudioTokens: 0, audioOutputTokens: 0, seconds: 0, lines: [] };
      this.minutes.set(key, entry);
    }
    const n = call.requests;
    entry.requests += n;
    entry.inputTokens += call.inputTokens * n;
    entry.cachedTokens += call.cachedTokens * n;
    entry.outputTokens += call.outputTokens * n;
    entry.audioInputTokens += call.audioInputTokens * n;
    entry.cachedAudioTokens = (entry.cachedAudioTokens ?? 0) + (call.cachedAudioTokens ?? 0) * n;
    entry.audioOutputTokens = (entry.audioOutputTokens ?? 0) + (call.audioOutputTokens ?? 0) * n;
    entry.seconds += call.seconds * n;
    for (const line of lines) {
      const same = entry.lines.find((l) => l.lineItem === line.lineItem);
      if (same) same.nanos += line.nanos;
      else entry.lines.push({ ...line });
    }
    return entry;
  }

  /** Spend not metered per call (storage, fine-tuning, containers): a line item on a day's costs. */
  charge(charge: BilledCharge): void {
    this.charges.push(charge);
  }

  /**
   * Each call is priced as a whole and rounded once, half up, to the nano-dollar (as Tallygate's ledger does
   * per event); the input and cached lines take their exact part rounded down and output the remainder, so
   * the lines of a call add up to its cost.
   */
  private scaledPrice(model: string, batch: boolean): ScaledPrice | null {
    const key = batch ? `batch|${model}` : model;
    let scaled = this.scaled.get(key);
    if (scaled === undefined) {
      // A batch line of a model without a batch row is not billed at the standard rate: OpenAI has no such batch.
      const prices = batch ? this.batchPrices : this.prices;
      const price = prices[model] ?? prices[familyOf(model)];
      scaled = price
        ? {
            input: picoPerToken(price.input),
            cached: picoPerToken(price.cachedInput ?? price.input),
            audio: picoPerToken(price.audioInput),
            cachedAudio: picoPerToken(price.cachedAudioInput ?? price.audioInput),
            output: picoPerToken(price.output),
            audioOutput: picoPerToken(price.audioOutput ?? price.output),
            perMinute: price.perAudioMinute ? picoPerToken(price.perAudioMinute) * 1_000_000n : null,
          }
        : null;
      this.scaled.set(key, scaled);
    }
    return scaled;
  }

  private price(call: Omit<BilledCall, 'lines'>): BilledCall['lines'] {
    const price = this.scaledPrice(call.model, call.batch === true);
    if (!price) return [];
    const n = BigInt(call.requests);
    // Realtime: cached audio is part of both the cached and the audio input, audio output part of the output.
    const cachedAudio = call.cachedAudioTokens ?? 0;
    const audioOutput = call.audioOutputTokens ?? 0;
    const textInput = BigInt(Math.max(0, call.inputTokens - call.cachedTokens - (call.audioInputTokens - cachedAudio)));
    const inputPico = textInput * price.input;
    const cachedPico = BigInt(call.cachedTokens - cachedAudio) * price.cached;
    const cachedAudioPico = BigInt(cachedAudio) * price.cachedAudio;
    const audioPico = BigInt(call.audioInputTokens - cachedAudio) * price.audio;
    const audioOutputPico = BigInt(audioOutput) * price.audioOutput;
    const outputPico = BigInt(call.outputTokens - audioOutput) * price.output;
    // Per-minute audio: whole seconds started, at a sixtieth of the minute price (pico-dollars × 60).
    const secondsPicoTimes60 = price.perMinute !== null ? BigInt(Math.ceil(call.seconds - 1e-9)) * price.perMinute : 0n;
    const totalTimes60 = (inputPico + cachedPico + cachedAudioPico + audioPico + audioOutputPico + outputPico) * 60n + secondsPicoTimes60;
    const total = (totalTimes60 + 30_000n) / 60_000n;
    const input = inputPico / 1000n;
    const cached = cachedPico / 1000n;
    const audio = audioPico / 1000n;
    const cachedAudioNanos = cachedAudioPico / 1000n;
    const audioOutputNanos = audioOutputPico / 1000n;
    const lines: BilledCall['lines'] = [];
    const add = (kind: string, nanos: bigint) => {
      if (nanos > 0n) lines.push({ lineItem: `${call.model}, ${kind}`, nanos: nanos * n });
    };
    add('input', input);
    add('cached input', cached);
    add('audio input', audio);
    add('cached audio input', cachedAudioNanos);
    add('audio output', audioOutputNanos);
    add(price.perMinute !== null && outputPico === 0n ? 'audio' : 'output', total - input - cached - audio - cachedAudioNanos - audioOutputNanos);
    return lines;
  }
}

/** Bills a call and counts it as delivered: what every route calls when a response went out whole. */
export function delivered(exchange: Exchange, model: string, usage: DeliveredUsage): void {
  exchange.runtime.stats.delivered(exchange.org.id, model, usage);
  exchange.runtime.billing.bill(exchange, model, usage);
}
