// The verdict a policy gives on OpenAI's scores, and the text a guardrail moderates.
import { describe, expect, it } from 'vitest';
import { inputText } from '../../server/moderation/input-text.js';
import { thresholdOf, verdictHeader, verdictOf } from '../../server/moderation/policy.js';

const result = (scores: Record<string, number>, flags: Record<string, boolean> = {}) => ({
  flagged: Object.values(flags).some(Boolean),
  categories: flags,
  category_scores: scores,
});

describe('verdictOf', () => {
  it("defers to OpenAI's own flags under the default preset, and applies thresholds otherwise", () => {
    const results = [result({ violence: 0.34, harassment: 0.57 }, { harassment: true })];
    expect(verdictOf(results)).toMatchObject({ flaggedDefault: true, flaggedPolicy: true, categories: ['harassment'] });
    expect(verdictOf(results, { preset: 'strict', thresholds: {} })?.categories).toEqual(['harassment', 'violence']);
    expect(verdictOf(results, { preset: 'lenient', thresholds: {} })).toMatchObject({ flaggedDefault: true, flaggedPolicy: false, categories: [] });
    expect(verdictOf(results, { preset: 'lenient', thresholds: { violence: 0.3 } })?.categories).toEqual(['violence']);
  });

  it('takes the union over every input, with the highest score per category', () => {
    const verdict = verdictOf([result({ violence: 0.4 }), result({ violence: 0.7 })], { preset: 'strict', thresholds: {} });
    expect(verdict?.scores).toEqual({ violence: 0.7 });
    expect(verdictHeader(verdict!)).toBe('flagged; categories=violence');
  });

  it('ignores what is not a moderation answer and clamps hostile scores', () => {
    expect(verdictOf(undefined)).toBeUndefined();
    expect(verdictOf([])).toBeUndefined();
    const verdict = verdictOf([{ category_scores: { violence: 1e308, hate: 'x', 'made-up': 0.99 } }], { preset: 'strict', thresholds: {} });
    expect(verdict).toMatchObject({ categories: ['violence'], scores: { violence: 1 } });
    expect(verdictHeader(verdictOf([result({ violence: 0.01 })], { preset: 'default', thresholds: {} })!)).toBe('clean');
  });

  it('has a stricter bar for minors and self-harm in the strict preset', () => {
    expect(thresholdOf({ preset: 'strict', thresholds: {} }, 'sexual/minors')).toBe(0.01);
    expect(thresholdOf({ preset: 'strict', thresholds: {} }, 'violence')).toBe(0.2);
    expect(thresholdOf({ preset: 'default', thresholds: {} }, 'violence')).toBeUndefined();
  });
});

describe('inputText', () => {
  it('reads chat messages (strings and text parts), completion prompts and responses input', () => {
    expect(inputText('chat.completions', { messages: [{ role: 'system', content: 'Be kind' }, { role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'image_url', image_url: { url: 'x' } }] }] })).toBe('Be kind\nhi');
    expect(inputText('completions', { prompt: ['a', 'b'] })).toBe('a\nb');
    expect(inputText('responses', { instructions: 'Be brief', input: [{ role: 'user', content: [{ type: 'input_text', text: 'go' }] }] })).toBe('Be brief\ngo');
    expect(inputText('embeddings', { input: 'no' })).toBe('');
    expect(inputText('responses', { input: 'x'.repeat(200_000) })).toHaveLength(100_000);
  });
});
