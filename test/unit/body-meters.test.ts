// The body meters behind one interface, and which one an endpoint's Metering opens for an answer.
import { describe, expect, it } from 'vitest';
import { ENDPOINTS, meteringOf, RESOURCE_ENDPOINTS, type Endpoint } from '../../server/gateway/endpoints.js';
import { BinaryMeter } from '../../server/gateway/meters/binary.js';
import { MEDIA, RELAYED, TOKENS } from '../../server/gateway/meters/index.js';
import { JsonMeter, PARSE_LIMIT } from '../../server/gateway/meters/json.js';
import { SseMeter } from '../../server/gateway/meters/sse.js';

const usage = '"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}';

describe('JsonMeter', () => {
  it('relays every chunk unchanged and reads the usage only once the body ended', () => {
    const meter = new JsonMeter();
    const body = Buffer.from(`{"id":"x","model":"gpt-4o-mini-2024-07-18",${usage}}`);
    const a = body.subarray(0, 10);
    const b = body.subarray(10);
    expect(meter.push(a)).toBe(a);
    expect(meter.push(b)).toBe(b);
    expect(meter.reading).toEqual({});
    expect(meter.end()).toBeNull();
    expect(meter.reading).toMatchObject({ model: 'gpt-4o-mini-2024-07-18', usage: { inputTokens: 11, outputTokens: 7 } });
    expect(meter).toMatchObject({ finished: true, streamed: false, rewrites: false });
  });

  it('reads a body past PARSE_LIMIT from its tail, never holding it whole', () => {
    const meter = new JsonMeter();
    const filler = Buffer.alloc(1024 * 1024, 'a');
    meter.push(Buffer.from('{"object":"list","data":["'));
    for (let i = 0; i * filler.length <= PARSE_LIMIT; i++) meter.push(filler);
    meter.push(Buffer.from(`"],"model":"text-embedding-3-small",${usage}}`));
    meter.end();
    expect(meter.reading).toMatchObject({ model: 'text-embedding-3-small', usage: { inputTokens: 11 } });
  });

  it('a body cut before its end reads as nothing', () => {
    const meter = new JsonMeter();
    meter.push(Buffer.from(`{${usage}`));
    expect(meter.reading).toEqual({});
  });
});

describe('BinaryMeter', () => {
  it('counts the bytes it relays and reads nothing', () => {
    const meter = new BinaryMeter();
    meter.push(Buffer.alloc(1000));
    meter.push(Buffer.alloc(24));
    expect(meter.end()).toBeNull();
    expect(meter).toMatchObject({ bytes: 1024, reading: {}, finished: true, streamed: false });
  });
});

describe('Metering per endpoint', () => {
  const byName = (name: string): Endpoint => [...ENDPOINTS, ...RESOURCE_ENDPOINTS].find((e) => e.name === name)!;

  it('text endpoints read SSE (keeping text for estimates) or whole JSON, and relay anything else', () => {
    expect(meteringOf(byName('chat.completions'))).toBe(TOKENS);
    const sse = TOKENS.open('text/event-stream; charset=utf-8', true)!;
    expect(sse).toBeInstanceOf(SseMeter);
    expect(sse).toMatchObject({ streamed: true, rewrites: true });
    expect(TOKENS.open('application/json', false)).toBeInstanceOf(JsonMeter);
    expect(TOKENS.open('text/plain', false)).toBeUndefined();
  });

  it('media endpoints (images, speech) count binary bodies, and keep no text of their streams', () => {
    expect(meteringOf(byName('audio.speech'))).toBe(MEDIA);
    expect(meteringOf(byName('images.edits'))).toBe(MEDIA);
    expect(MEDIA.open('audio/mpeg', false)).toBeInstanceOf(BinaryMeter);
    const stream = MEDIA.open('text/event-stream', false) as SseMeter;
    stream.push(Buffer.from('data: {"type":"speech.audio.delta","audio":"AAAA"}\n\n'));
    expect(stream.relayedText()).toBe('');
  });

  it('routes not metered per call relay their answers unread (a 512 MB download is never collected)', () => {
    expect(meteringOf(byName('files.content'))).toBe(RELAYED);
    expect(RELAYED.open('application/json', false)).toBeUndefined();
    expect(RELAYED.open('application/octet-stream', false)).toBeUndefined();
    expect(RELAYED.open('text/event-stream', false)).toBeInstanceOf(SseMeter);
    expect(meteringOf(byName('responses.retrieve'))).toBe(TOKENS);
  });

  it('a row that names no metering gets one from what it is', () => {
    const row = (fields: Partial<Endpoint>): Endpoint => ({ name: 'x', method: 'POST', path: '/x', body: 'json', usageOption: false, billable: true, ...fields });
    expect(meteringOf(row({}))).toBe(TOKENS);
    expect(meteringOf(row({ notMetered: true }))).toBe(RELAYED);
    expect(meteringOf(row({ meter: byName('audio.speech').meter }))).toBe(MEDIA);
  });
});
