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
