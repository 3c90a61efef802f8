// The pieces of image, speech and tool-call metering that do not need a stack: usage readers, the
// SSE terminal events of image and speech streams, and the bounds of the new ledger fields.
import { describe, expect, it } from 'vitest';
import { imageSpec, IMAGES_METER } from '../../server/gateway/meters/images.js';
import { withToolCalls } from '../../server/gateway/meters/tool-calls.js';
import { EMPTY_USAGE, readJsonBody, SseMeter, usageFrom } from '../../server/gateway/usage-meter.js';
import { boundUsageEvent, INT4_MAX, TEXT_MAX } from '../../server/ledger/bounds.js';
import { usageEvent } from '../../server/ledger/usage-event.js';

describe('image usage', () => {
  it('reads image input and output tokens apart from text, and only when they are reported', () => {
    const u = usageFrom({ input_tokens: 250, input_tokens_details: { text_tokens: 56, image_tokens: 194 }, output_tokens: 272, output_tokens_details: { image_tokens: 272 } });
    expect(u).toMatchObject({ inputTokens: 250, imageInputTokens: 194, outputTokens: 272, imageOutputTokens: 272 });
    expect(Object.keys(usageFrom({ prompt_tokens: 3, completion_tokens: 1 })!)).not.toContain('imageInputTokens');
  });

  it('prices dall-e from the request: n, size, quality (dall-e-3 standard by default, dall-e-2 one quality)', () => {
    const three = IMAGES_METER.finish({ model: 'dall-e-3', n: 2, size: '1024x1792', quality: 'hd' }, {}, { contentType: 'application/json', bytes: 0 });
    expect(three).toMatchObject({ model: 'dall-e-3', usage: { images: [{ size: '1024x1792', quality: 'hd', count: 2 }] } });
    const two = IMAGES_METER.finish({ n: '3', size: '256x256' }, {}, { contentType: 'application/json', bytes: 0 });
    expect(two).toMatchObject({ model: 'dall-e-2', usage: { images: [{ size: '256x256', quality: undefined, count: 3 }] } });
    expect(imageSpec((three as { usage: never }).usage)).toEqual({ count: 2, spec: '1024x1792/hd' });
    expect(imageSpec(EMPTY_USAGE)).toBeUndefined();
  });

  it('ends an image stream at its completed event (no [DONE]) and reads its usage, also when the event is larger than the parse limit', () => {
    const usage = { input_tokens: 10, input_tokens_details: { text_tokens: 10, image_tokens: 0 }, output_tokens: 1156, output_tokens_details: { image_tokens: 1156 } };
    for (const b64 of ['aGk=', 'A'.repeat(3 * 1024 * 1024)]) {
      const meter = new SseMeter(false);
      meter.push(Buffer.from(`event: image_generation.partial_image\ndata: {"type":"image_generation.partial_image","b64_json":"aGk="}\n\n`));
      meter.push(Buffer.from(`event: image_generation.completed\ndata: ${JSON.stringify({ type: 'image_generation.completed', b64_json: b64, usage })}\n\n`));
      meter.end();
      expect(meter.finished).toBe(true);
      expect(meter.reading.usage).toMatchObject({ inputTokens: 10, outputTokens: 1156, imageOutputTokens: 1156 });
    }
  });

  it('ends a speech stream at speech.audio.done with its usage', () => {
    const meter = new SseMeter(false);
    meter.push(Buffer.from(`data: {"type":"speech.audio.delta","audio":"AAAA"}\n\ndata: {"type":"speech.audio.done","usage":{"input_tokens":7,"output_tokens":60,"total_tokens":67}}\n\n`));
    expect(meter.finished).toBe(true);
    expect(meter.reading.usage).toMatchObject({ inputTokens: 7, outputTokens: 60 });
  });
});

describe('tool calls', () => {
  it('counts web and file search call items of a response; the request says which web search it was', () => {
    const reading = readJsonBody(JSON.stringify({ output: [{ type: 'web_search_call' }, { type: 'web_search_call' }, { type: 'file_search_call' }, { type: 'message' }], usage: { input_tokens: 1, output_tokens: 1 } }));
    expect(reading.toolCalls).toEqual({ web_search: 2, file_search: 1 });
    expect(readJsonBody(JSON.stringify({ output: [{ type: 'message' }] })).toolCalls).toBeUndefined();
    expect(withToolCalls(EMPTY_USAGE, reading.toolCalls!, { tools: [{ type: 'web_search_preview' }] }).toolCalls).toEqual({ web_search_preview: 2, file_search: 1 });
    expect(withToolCalls(EMPTY_USAGE, reading.toolCalls!, { tools: [{ type: 'web_search' }, { type: 'web_search_preview' }] }).toolCalls).toEqual({ web_search: 2, file_search: 1 });
  });
});

describe('bounds of the price components', () => {
  it('clamps and flags each new count and the image spec; an ordinary event is unflagged', () => {
    const ok = boundUsageEvent(usageEvent({ createdAt: new Date(), characters: 40, imageCount: 2, imageSpec: '1024x1024/hd', webSearchCalls: 1 }));
    expect(ok.clamped).toBeUndefined();
    const event = boundUsageEvent(
      usageEvent({ createdAt: new Date(), characters: 3e9, imageCount: -1, imageSpec: 'x'.repeat(1000), webSearchCalls: Number.NaN, audioOutputTokens: 1e12, imageOutputTokens: 2.4 }),
    );
    expect(event).toMatchObject({ characters: INT4_MAX, imageCount: 0, webSearchCalls: 0, audioOutputTokens: INT4_MAX, imageOutputTokens: 2 });
    expect(event.imageSpec).toHaveLength(TEXT_MAX);
    expect(event.clamped?.split(',').sort()).toEqual(['audio_output_tokens', 'characters', 'image_count', 'image_output_tokens', 'image_spec', 'web_search_calls'].sort());
  });
});
