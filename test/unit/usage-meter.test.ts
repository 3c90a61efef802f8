import { describe, expect, it } from 'vitest';
import { estimateUsage, readJsonBody, SseMeter, usageFrom } from '../../server/gateway/usage-meter.js';

const chunk = (content: string) =>
  `data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":${JSON.stringify(content)}},"finish_reason":null}],"usage":null}\n\n`;
const usageChunk =
  'data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}\n\n';

function run(meter: SseMeter, parts: string[]): string {
  let out = '';
  for (const part of parts) out += meter.push(Buffer.from(part))?.toString() ?? '';
  return out + (meter.end()?.toString() ?? '');
}

describe('usage from every response shape', () => {
  it('reads chat, responses and audio usage', () => {
    expect(usageFrom({ prompt_tokens: 10, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 4 }, completion_tokens_details: { reasoning_tokens: 2 } })).toEqual({
      inputTokens: 10, cachedTokens: 4, audioInputTokens: 0, outputTokens: 5, reasoningTokens: 2,
    });
    expect(usageFrom({ input_tokens: 8, input_tokens_details: { cached_tokens: 0 }, output_tokens: 3, output_tokens_details: { reasoning_tokens: 1 } })?.reasoningTokens).toBe(1);
    expect(usageFrom({ type: 'tokens', input_tokens: 50, input_token_details: { text_tokens: 10, audio_tokens: 40 }, output_tokens: 9 })?.audioInputTokens).toBe(40);
    expect(usageFrom({ type: 'duration', seconds: 9 })?.audioSeconds).toBe(9);
  });

  it('reads verbose_json duration and error bodies', () => {
    expect(readJsonBody('{"text":"hi","duration":3.52}').audioDuration).toBe(3.52);
    expect(readJsonBody('{"error":{"message":"x","type":"tokens","param":null,"code":"rate_limit_exceeded"}}').error?.code).toBe('rate_limit_exceeded');
    expect(readJsonBody('not json')).toEqual({});
  });
});

describe('SSE metering', () => {
  it('removes the usage chunk the gateway asked for, even when split across reads', () => {
    const meter = new SseMeter(true);
    const stream = chunk('Hel') + chunk('lo') + usageChunk + 'data: [DONE]\n\n';
    const parts = [stream.slice(0, 37), stream.slice(37, 190), stream.slice(190, 300), stream.slice(300)];
    const out = run(meter, parts);
    expect(out).toBe(chunk('Hel') + chunk('lo') + 'data: [DONE]\n\n');
    expect(meter.reading.usage?.inputTokens).toBe(12);
    expect(meter.finished).toBe(true);
  });

  it('passes every byte through unchanged when the client asked for usage', () => {
    const meter = new SseMeter(false);
    const stream = chunk('a') + usageChunk + 'data: [DONE]\n\n';
    expect(run(meter, [stream.slice(0, 10), stream.slice(10)])).toBe(stream);
    expect(meter.reading.usage?.outputTokens).toBe(3);
  });

  it('reads usage from a Responses stream and notices response.failed', () => {
    const meter = new SseMeter(false);
    run(meter, [
      'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"Hi"}\n\n',
      'event: response.failed\ndata: {"type":"response.failed","response":{"model":"gpt-4.1","usage":{"input_tokens":5,"output_tokens":1},"error":{"code":"server_error","message":"boom"}}}\n\n',
    ]);
    expect(meter.reading.usage?.inputTokens).toBe(5);
    expect(meter.reading.error?.code).toBe('server_error');
    expect(meter.relayedText()).toBe('Hi');
  });

  it('flags an error event inside a 200 stream', () => {
    const meter = new SseMeter(true);
    run(meter, [chunk('x'), 'data: {"error":{"message":"oops","type":"server_error","param":null,"code":"server_error"}}\n\n']);
    expect(meter.reading.error?.type).toBe('server_error');
  });

  it('keeps the relayed text of a cut stream for estimation', () => {
    const meter = new SseMeter(true);
    run(meter, [chunk('The quick '), chunk('brown fox')]);
    expect(meter.finished).toBe(false);
    expect(meter.relayedText()).toBe('The quick brown fox');
  });
});

describe('estimates for streams cut short', () => {
  it('counts prompt and relayed text with a real tokenizer', async () => {
    const estimate = await estimateUsage({ messages: [{ role: 'user', content: 'Hello world' }] }, 'The quick brown fox');
    // "Hello world" is 2 o200k tokens plus chat framing (3 per message + 3); the reply is 4 tokens.
    expect(estimate.inputTokens).toBe(2 + 6);
    expect(estimate.outputTokens).toBe(4);
  });
});

describe('SSE metering on any chunk boundary, linear in bytes', () => {
  const stream = chunk('Hel') + chunk('lo ü€') + usageChunk + 'data: [DONE]\n\n';
  const crlf = stream.replaceAll('\n', '\r\n');

  it('gives the same bytes and reading for every split of the stream into two and three reads', () => {
    for (const [text, hide] of [[stream, true], [stream, false], [crlf, true], [crlf, false]] as const) {
      const bytes = Buffer.from(text);
      const whole = new SseMeter(hide);
      const expected = run(whole, [text]);
      expect(whole.reading.usage?.inputTokens).toBe(12);
      for (let i = 0; i <= bytes.length; i++) {
        for (const j of [i, Math.min(bytes.length, i + 1), Math.min(bytes.length, i + 2), Math.min(bytes.length, i + 7)]) {
          const meter = new SseMeter(hide);
          const out = Buffer.concat([bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)].map((b) => meter.push(b) ?? Buffer.alloc(0)).concat(meter.end() ?? Buffer.alloc(0)));
          expect(out.toString(), `split at ${i}/${j}`).toBe(expected);
          expect(meter.reading.usage?.inputTokens).toBe(12);
          expect(meter.finished).toBe(true);
          expect(meter.relayedText()).toBe('Hello ü€');
        }
      }
      expect(expected).toBe(hide ? text.replace(hide && text === crlf ? usageChunk.replaceAll('\n', '\r\n') : usageChunk, '') : text);
    }
  });

  it('relays one 8 MB event unparsed in linear time, and still reads the usage and [DONE] after it', () => {
    for (const hide of [true, false]) {
      const big = chunk('x'.repeat(8 * 1024 * 1024));
      const text = chunk('a') + big + usageChunk + 'data: [DONE]\n\n';
      const bytes = Buffer.from(text);
      const meter = new SseMeter(hide);
      const started = performance.now();
      const out: Buffer[] = [];
      // 16 KB reads, as a socket delivers them: the old meter rescanned all pending text on each.
      for (let i = 0; i < bytes.length; i += 16 * 1024) out.push(meter.push(bytes.subarray(i, i + 16 * 1024)) ?? Buffer.alloc(0));
      out.push(meter.end() ?? Buffer.alloc(0));
      const elapsed = performance.now() - started;
      expect(elapsed).toBeLessThan(500);
      expect(Buffer.concat(out).equals(Buffer.from(hide ? chunk('a') + big + 'data: [DONE]\n\n' : text))).toBe(true);
      expect(meter.unparsedEvents).toBe(1);
      expect(meter.reading.usage?.outputTokens).toBe(3);
      expect(meter.finished).toBe(true);
      expect(meter.relayedText()).toBe('a');
    }
  });

  it('reads usage from the end of a Responses response.completed too large to parse, and a cut one is not finished', () => {
    const completed = `event: response.completed\ndata: {"type":"response.completed","response":{"model":"gpt-4.1","output":[{"content":"${'y'.repeat(3 * 1024 * 1024)}"}],"usage":{"input_tokens":7,"output_tokens":900000}}}\n\n`;
    const bytes = Buffer.from(completed);
    const meter = new SseMeter(false);
    for (let i = 0; i < bytes.length; i += 65536) meter.push(bytes.subarray(i, i + 65536));
    meter.end();
    expect(meter.finished).toBe(true);
    expect(meter.reading.usage).toMatchObject({ inputTokens: 7, outputTokens: 900000 });

    const cut = new SseMeter(true);
    const relayed = cut.push(bytes.subarray(0, 2 * 1024 * 1024));
    expect(relayed?.length).toBe(2 * 1024 * 1024); // past the bound it is passed on, not held
    cut.end();
    expect(cut.finished).toBe(false);
    expect(cut.reading.usage).toBeUndefined();
  });
});
