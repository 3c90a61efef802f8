// Token estimates for calls that were sent but cut short before OpenAI reported usage, and the
// tokenizer the speech meter counts input with.
import type { MeteredUsage } from '../../pricing/cost.js';
import { EMPTY_USAGE, isObject, type Json } from './reading.js';

/** Text of a request's prompt, for estimating input tokens when the upstream never reported them. */
export function promptText(body: Json): { text: string; messages: number } {
  const parts: string[] = [];
  const collect = (v: unknown): void => {
    if (typeof v === 'string') parts.push(v);
    else if (Array.isArray(v)) v.forEach(collect);
    else if (isObject(v)) {
      if (typeof v.text === 'string') parts.push(v.text);
      if (v.content !== undefined) collect(v.content);
    }
  };
  const messages = Array.isArray(body.messages) ? body.messages : [];
  collect(messages);
  collect(body.prompt);
  collect(body.input);
  collect(body.instructions);
  return { text: parts.join('\n'), messages: messages.length };
}

/**
 * Estimated usage for a stream that ended before OpenAI reported usage: prompt from the request,
 * completion from what was relayed, counted with the o200k tokenizer (chat framing adds about
 * 3 tokens per message plus 3, as OpenAI's cookbook counts it).
 */
export async function estimateUsage(requestBody: Json, relayedText: string): Promise<MeteredUsage> {
  const countTokens = await tokenizer();
  const prompt = promptText(requestBody);
  const framing = prompt.messages ? prompt.messages * 3 + 3 : 0;
  return {
    ...EMPTY_USAGE,
    inputTokens: countTokens(prompt.text) + framing,
    outputTokens: relayedText ? countTokens(relayedText) : 0,
  };
}

// The o200k tables cost ~70 MB of memory: loaded the first time a stream is cut short, not at boot.
let loading: Promise<(text: string) => number> | undefined;
// Text that looks like a special token (<|endoftext|>) is counted as plain text, as OpenAI does for
// user content, instead of making the tokenizer throw.
export const countTokens = (): Promise<(text: string) => number> => tokenizer();
const tokenizer = () =>
  (loading ??= import('gpt-tokenizer').then((m) => (text: string) => m.countTokens(text, { disallowedSpecial: new Set() })));
