// Fault injection: a test asks for a failure with the `x-sim-fault` header or a `[[sim:<fault>]]` marker in the prompt.

export const FAULT_NAMES = [
  'cut',
  'error-mid-stream',
  'stall',
  'slow-first-byte',
  '500',
  '503',
  '429-requests',
  '429-tokens',
  'quota',
  // One chat stream content event of HUGE_EVENT_BYTES: what a gateway must relay without stalling.
  'huge-event',
  // Hostile upstream values (npm run bench:faults): a 200 whose numbers no real OpenAI sends.
  'usage-huge',
  'usage-negative',
  'usage-nonnumeric',
  'ratelimit-garbage',
] as const;

export type FaultName = (typeof FAULT_NAMES)[number];

/** Size of the one content event `huge-event` adds to a chat stream. */
export const HUGE_EVENT_BYTES = 8 * 1024 * 1024;

/** How long `slow-first-byte` holds the response back. */
export const SLOW_FIRST_BYTE_MS = 2_000;

const MARKER = /\[\[sim:([a-z0-9-]+)\]\]/;

function isFaultName(value: string): value is FaultName {
  return (FAULT_NAMES as readonly string[]).includes(value);
}

export function faultFor(header: string | string[] | undefined, promptText: string): FaultName | undefined {
  const fromHeader = Array.isArray(header) ? header[0] : header;
  if (fromHeader !== undefined) {
    const name = fromHeader.trim().toLowerCase();
    if (isFaultName(name)) return name;
  }
  if (!promptText.includes('[[sim:')) return undefined;
  const match = MARKER.exec(promptText);
  const name = match?.[1];
  return name !== undefined && isFaultName(name) ? name : undefined;
}

/**
 * The usage object a `usage-*` fault answers instead of the real one (chat and legacy completions,
 * plain and streamed): numbers past int32 and past any sane bound, negative counts, and values that
 * are not numbers at all. The gateway must still record the 200 call as one row.
 */
export function faultyUsage(fault: FaultName | undefined, usage: Record<string, unknown>): Record<string, unknown> {
  if (fault === 'usage-huge') {
    return {
      ...usage,
      prompt_tokens: 3e9,
      completion_tokens: 1e308,
      total_tokens: 1e308,
      prompt_tokens_details: { cached_tokens: 2 ** 53, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 9_999_999_999, audio_tokens: 0 },
    };
  }
  if (fault === 'usage-negative') {
    return { ...usage, prompt_tokens: -5, completion_tokens: -1_000_000, total_tokens: -1_000_005, prompt_tokens_details: { cached_tokens: -1 } };
  }
  if (fault === 'usage-nonnumeric') {
    return { ...usage, prompt_tokens: '12abc', completion_tokens: null, total_tokens: {}, prompt_tokens_details: { cached_tokens: 'x' }, completion_tokens_details: [] };
  }
  return usage;
}

/** Rate-limit headers a `ratelimit-garbage` fault sends: out of every column's range, negative, or not numbers. */
export const GARBAGE_RATE_LIMIT_HEADERS: Readonly<Record<string, string>> = {
  'x-ratelimit-limit-requests': '99999999999',
  'x-ratelimit-remaining-requests': '-3',
  'x-ratelimit-reset-requests': '999999999h',
  'x-ratelimit-limit-tokens': 'abc',
  'x-ratelimit-remaining-tokens': '1e308',
  'x-ratelimit-reset-tokens': 'soon',
};
