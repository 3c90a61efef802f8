// A batch's output and error files, line by line: split from the streamed body with bounded memory, and
// each line turned into its usage event (idempotent id, batch price, attributed to the batch's creator).
import { createHash } from 'node:crypto';
import type { UsageEvent } from '../ledger/usage-event.js';
import type { MeteredUsage } from '../pricing/cost.js';
import { classifyError } from '../ratelimits/rate-limit-headers.js';
import { usageFrom } from '../pricing/usage-reading.js';
import type { BatchRow } from './batches.repository.js';

/** A line too long to read: counted and recorded failed, never held. */
export const OVERSIZED = Symbol('oversized line');

/**
 * The lines of a body, as they arrive: only the current line is held (plus one chunk), so a 200 MB file
 * costs what its longest line does. A line over `maxBytes` yields OVERSIZED and is skipped to its end.
 * Blank lines are skipped; a last line without a newline counts.
 */
export async function* splitLines(body: AsyncIterable<Buffer | string>, maxBytes: number): AsyncGenerator<string | typeof OVERSIZED> {
  let parts: Buffer[] = [];
  let held = 0;
  let oversized = false;
  for await (const piece of body) {
    const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece;
    let from = 0;
    for (let nl = chunk.indexOf(0x0a, from); nl !== -1; nl = chunk.indexOf(0x0a, from)) {
      if (!oversized && held + (nl - from) <= maxBytes) {
        parts.push(chunk.subarray(from, nl));
        const line = Buffer.concat(parts).toString('utf8');
        if (line.trim() !== '') yield line;
      } else yield OVERSIZED;
      parts = [];
      held = 0;
      oversized = false;
      from = nl + 1;
    }
    if (from < chunk.length && !oversized) {
      held += chunk.length - from;
      if (held > maxBytes) {
        oversized = true;
        parts = [];
      } else parts.push(Buffer.from(chunk.subarray(from))); // copied: the chunk is not kept alive by its tail
    }
  }
  if (oversized) yield OVERSIZED;
  else if (held > 0) {
    const line = Buffer.concat(parts).toString('utf8');
    if (line.trim() !== '') yield line;
  }
}

/**
 * The event id of a batch line: a UUID (version 5 layout) from the SHA-256 of the batch id and the line's
 * custom_id, so the same line metered twice (another replica, a restart) is the same ledger row.
 */
export function lineEventId(batchId: string, customId: string): string {
  const hex = createHash('sha256').update(batchId).update('\0').update(customId).digest('hex');
  const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown) => (typeof v === 'string' ? v : null);

export interface PriceLine {
  (model: string | undefined, at: Date, usage: MeteredUsage): { costNanos: bigint | null; priceId: number | null };
}

/**
 * One line of the output file (`fromErrorFile` false) or error file (true) as its usage event. A line that
 * succeeded is priced at the batch tier from its own usage; a failed one (any line of the error file, a
 * non-2xx status, an error) costs 0. `ordinal` names a line without a custom_id (`#<file>:<n>`).
 */
export function lineEvent(batch: BatchRow, at: Date, text: string | typeof OVERSIZED, fromErrorFile: boolean, ordinal: number, price: PriceLine): UsageEvent {
  let line: Json | undefined;
  if (text !== OVERSIZED) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (isObject(parsed)) line = parsed;
    } catch {
      line = undefined;
    }
  }
  const customId = str(line?.custom_id) ?? `#${fromErrorFile ? 'error' : 'output'}:${ordinal}`;
  const response = isObject(line?.response) ? line.response : undefined;
  const body = isObject(response?.body) ? response.body : undefined;
  const status = typeof response?.status_code === 'number' ? response.status_code : 400;
  const lineError = isObject(line?.error) ? line.error : isObject(body?.error) ? body.error : undefined;
  const succeeded = !fromErrorFile && line !== undefined && !lineError && status >= 200 && status < 300;
  const model = str(body?.model);
  const usage = succeeded ? usageFrom(body?.usage) : undefined;
  // A moderation line is free; any other success without usage has an unknown cost, never $0.
  const moderation = batch.endpoint === '/v1/moderations';
  const priced = !succeeded || moderation ? { costNanos: 0n, priceId: null } : usage ? price(model ?? undefined, at, usage) : { costNanos: null, priceId: null };
  const errorType = succeeded ? null : (str(lineError?.type) ?? 'batch_line_failed');
  const errorCode = succeeded ? null : text === OVERSIZED ? 'line_too_large' : line === undefined ? 'unreadable_line' : str(lineError?.code);
  return {
    id: lineEventId(batch.id, customId),
    createdAt: at,
    orgId: batch.orgId,
    featureId: batch.featureId,
    gatewayKeyId: batch.gatewayKeyId,
    endpoint: 'batch',
    model,
    serviceTier: 'batch',
    streamed: false,
    status: succeeded ? status : status >= 400 ? status : 400,
    outcome: succeeded ? 'ok' : 'error',
    errorKind: succeeded ? null : classifyError(status >= 400 ? status : 400, errorType, errorCode, str(lineError?.message)),
    errorType,
    errorCode,
    inputTokens: usage?.inputTokens ?? 0,
    cachedTokens: usage?.cachedTokens ?? 0,
    outputTokens: usage?.outputTokens ?? 0,
    reasoningTokens: usage?.reasoningTokens ?? 0,
    audioInputTokens: usage?.audioInputTokens ?? 0,
    audioSeconds: null,
    audioSource: null,
    usageSource: usage ? 'reported' : 'none',
    costNanos: priced.costNanos === null ? null : priced.costNanos.toString(),
    priceId: priced.priceId,
    latencyMs: 0,
    ttfbMs: null,
    upstreamRequestId: str(response?.request_id),
    retryCount: 0,
    rateLimits: {},
  };
}
