// Token counting and the deterministic "model output" the simulator produces: same prompt, same answer and usage.
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import type { DeliveredUsage } from './stats.js';

/** Above this length the BPE is too slow for a benchmark hot path; chars/4 is OpenAI's own rule of thumb. */
const EXACT_COUNT_MAX_CHARS = 20_000;
const COUNT_CACHE_MAX = 10_000;
const countCache = new Map<string, number>();
// Prompts may contain `<|endoftext|>` and friends as plain text; the tokenizer would throw on them by default.
const AS_PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

export function countTextTokens(text: string): number {
  if (text.length === 0) return 0;
  if (text.length > EXACT_COUNT_MAX_CHARS) return Math.ceil(text.length / 4);
  const cached = countCache.get(text);
  if (cached !== undefined) return cached;
  const count = countTokens(text, AS_PLAIN_TEXT);
  if (countCache.size >= COUNT_CACHE_MAX) countCache.clear();
  countCache.set(text, count);
  return count;
}

/** FNV-1a, 32-bit: cheap and stable across runs. */
export function hash32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** mulberry32: a tiny seeded PRNG returning floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

// Every " word" here is exactly one o200k token, so the text's token count equals the reported usage.
const WORDS = (
  'the of and to in is that for it with as on was be by this are or from at an which but not have we you can ' +
  'all one will there their more about when your what some time like into them only other new could these may ' +
  'then than also after first well way many most over such make through just any where much before good know ' +
  'same back water people work world life day part system place case point group number under'
).split(' ');

/** `count` one-token pieces: "The", " cat", " sat", … */
export function pseudoTextPieces(seed: number, count: number): string[] {
  const random = seededRandom(seed);
  const pieces: string[] = [];
  for (let i = 0; i < count; i++) {
    const word = WORDS[Math.floor(random() * WORDS.length)] ?? 'the';
    pieces.push(i === 0 ? word.charAt(0).toUpperCase() + word.slice(1) : ` ${word}`);
  }
  return pieces;
}

/** o-series and gpt-5 (not its chat variant) think before answering: reasoning tokens inside the output. */
export function isReasoningModel(model: string): boolean {
  return /^(o\d|gpt-5(?!-chat|\.\d+-chat))/.test(model);
}

function supportsPromptCaching(model: string): boolean {
  return !model.startsWith('gpt-3.5') && !model.startsWith('babbage') && !model.startsWith('davinci');
}

/**
 * OpenAI caches prompt prefixes from 1024 tokens in 128-token steps. The simulator pretends half of what is
 * above 1024 tokens hit the cache, every time, so tests can exercise cached pricing deterministically.
 */
export function cachedPromptTokens(model: string, promptTokens: number): number {
  if (promptTokens < 1024 || !supportsPromptCaching(model)) return 0;
  return 1024 + Math.floor((promptTokens - 1024) / 2 / 128) * 128;
}

export interface CompletionPlan {
  promptTokens: number;
  cachedTokens: number;
  /** The visible answer, one token per piece. */
  pieces: string[];
  text: string;
  /** Visible plus reasoning tokens. */
  completionTokens: number;
  reasoningTokens: number;
  finishReason: 'stop' | 'length';
}

/** Completion tokens OpenAI reserves against TPM when the request sets no maximum. */
export const DEFAULT_RESERVED_COMPLETION_TOKENS = 64;

export function planCompletion(
  model: string,
  promptText: string,
  promptTokens: number,
  maxTokens: number | undefined,
  caching = true,
): CompletionPlan {
  const seed = hash32(`${model}\u0000${promptText}`);
  let visible = 8 + (seed % 53);
  let reasoning = isReasoningModel(model) ? 64 + ((seed >>> 8) % 192) : 0;
  let finishReason: 'stop' | 'length' = 'stop';
  if (maxTokens !== undefined && maxTokens >= 0 && reasoning + visible > maxTokens) {
    finishReason = 'length';
    reasoning = Math.min(reasoning, Math.max(0, maxTokens - 1));
    visible = Math.max(0, maxTokens - reasoning);
  }
  const pieces = pseudoTextPieces(seed, visible);
  return {
    promptTokens,
    cachedTokens: caching ? cachedPromptTokens(model, promptTokens) : 0,
    pieces,
    text: pieces.join(''),
    completionTokens: visible + reasoning,
    reasoningTokens: reasoning,
    finishReason,
  };
}

/** What a plan bills, in the stats' terms. */
export function deliveredUsage(plan: CompletionPlan): DeliveredUsage {
  return {
    promptTokens: plan.promptTokens,
    cachedTokens: plan.cachedTokens,
    completionTokens: plan.completionTokens,
    reasoningTokens: plan.reasoningTokens,
  };
}
