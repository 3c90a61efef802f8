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
