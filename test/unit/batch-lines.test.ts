import { describe, expect, it } from 'vitest';
import { lineEvent, lineEventId, OVERSIZED, splitLines } from '../../server/batches/batch-lines.js';
import type { BatchRow } from '../../server/batches/batches.repository.js';

async function collect(chunks: string[], max = 1024) {
  const out: Array<string | typeof OVERSIZED> = [];
  for await (const line of splitLines((async function* () { for (const c of chunks) yield Buffer.from(c); })(), max)) out.push(line);
  return out;
}

describe('splitLines', () => {
  it('splits lines across chunk boundaries, skips blanks, keeps a last line without newline', async () => {
    expect(await collect(['{"a":', '1}\n\n{"b"', ':2}\r\n', '{"c":3}'])).toEqual(['{"a":1}', '{"b":2}\r', '{"c":3}']);
  });
  it('never holds a line over the bound: it is reported oversized and the next line is read', async () => {
    expect(await collect(['x'.repeat(600), 'y'.repeat(600), '\nshort\n', 'z'.repeat(2000)], 1000)).toEqual([OVERSIZED, 'short', OVERSIZED]);
  });
  it('keeps multi-byte characters split between chunks whole', async () => {
    const bytes = Buffer.from('{"t":"€uro"}\n');
    const out: string[] = [];
    for await (const line of splitLines((async function* () { yield bytes.subarray(0, 7); yield bytes.subarray(7); })(), 100)) out.push(line as string);
    expect(out).toEqual(['{"t":"€uro"}']);
  });
});

describe('lineEventId', () => {
  it('is a stable v5-layout UUID per (batch, custom_id), different for any other pair', () => {
    const id = lineEventId('batch_1', 'req-1');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(lineEventId('batch_1', 'req-1')).toBe(id);
    expect(lineEventId('batch_1', 'req-2')).not.toBe(id);
    expect(lineEventId('batch_1r', 'eq-1')).not.toBe(id);
  });
});

describe('lineEvent', () => {
  const batch = { id: 'batch_1', orgId: 'o', featureId: 'f', gatewayKeyId: 'k', endpoint: '/v1/chat/completions' } as BatchRow;
  const at = new Date('2026-12-01T00:00:00Z');
  const price = () => ({ costNanos: 1234n, priceId: 7 });
  it('prices a completed line at the batch tier, attributed to the batch creator', () => {
    const line = JSON.stringify({ custom_id: 'c1', response: { status_code: 200, request_id: 'req_x', body: { model: 'gpt-4o-mini', usage: { prompt_tokens: 10, completion_tokens: 5 } } }, error: null });
    expect(lineEvent(batch, at, line, false, 1, price)).toMatchObject({
      endpoint: 'batch', serviceTier: 'batch', featureId: 'f', status: 200, outcome: 'ok', inputTokens: 10, outputTokens: 5, costNanos: '1234', priceId: 7, upstreamRequestId: 'req_x', usageSource: 'reported',
    });
  });
  it('records error-file lines, errors and unreadable lines as failed at no cost', () => {
    const failed = JSON.stringify({ custom_id: 'c2', response: null, error: { code: 'invalid_url', message: 'nope' } });
    expect(lineEvent(batch, at, failed, true, 2, price)).toMatchObject({ outcome: 'error', costNanos: '0', errorCode: 'invalid_url', status: 400 });
    expect(lineEvent(batch, at, 'not json', false, 3, price)).toMatchObject({ outcome: 'error', costNanos: '0', errorCode: 'unreadable_line', id: lineEventId('batch_1', '#output:3') });
    expect(lineEvent(batch, at, OVERSIZED, false, 4, price)).toMatchObject({ outcome: 'error', costNanos: '0', errorCode: 'line_too_large' });
  });
  it('a success without usage has an unknown cost, never $0', () => {
    const line = JSON.stringify({ custom_id: 'c3', response: { status_code: 200, body: { model: 'gpt-4o-mini' } } });
    expect(lineEvent(batch, at, line, false, 5, price).costNanos).toBeNull();
  });
});
