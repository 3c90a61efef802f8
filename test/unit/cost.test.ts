import { describe, expect, it } from 'vitest';
import { costNanos, decimalToScaled, modelFamily, type UnitPrices } from '../../server/pricing/cost.js';

const prices = (p: Partial<UnitPrices>): UnitPrices => ({
  inputPerMtok: null,
  cachedInputPerMtok: null,
  outputPerMtok: null,
  audioInputPerMtok: null,
  perAudioMinute: null,
  ...p,
});
const usage = (u: Partial<Parameters<typeof costNanos>[1]>) => ({ inputTokens: 0, cachedTokens: 0, audioInputTokens: 0, outputTokens: 0, reasoningTokens: 0, ...u });
const gpt4oMini = prices({ inputPerMtok: '0.15', cachedInputPerMtok: '0.075', outputPerMtok: '0.60' });

describe('cost', () => {
  it('follows (input - cached) * in + cached * cached_in + output * out exactly', () => {
    // 1,000,000 tokens at $0.15 = $0.15 = 150,000,000 nanos, etc.
    expect(costNanos(gpt4oMini, usage({ inputTokens: 3000, cachedTokens: 1024, outputTokens: 500, reasoningTokens: 100 }))).toBe(
      BigInt((3000 - 1024) * 150 + 1024 * 75 + 500 * 600),
    );
  });

  it('charges cached tokens at the input price when a model has no cache discount', () => {
    expect(costNanos(prices({ inputPerMtok: '0.50', outputPerMtok: '1.50' }), usage({ inputTokens: 10, cachedTokens: 4 }))).toBe(5000n);
  });

  it('keeps sub-nano prices exact until one final half-up rounding', () => {
    // gpt-4.1-nano cached input: $0.025 / 1M = 25 nanos a token; 3 tokens at $0.0125/1M = 37.5 nanos → 38.
    expect(costNanos(prices({ inputPerMtok: '0.0125' }), usage({ inputTokens: 3 }))).toBe(38n);
    expect(costNanos(prices({ inputPerMtok: '0.0125' }), usage({ inputTokens: 2 }))).toBe(25n);
  });

  it('bills whisper per started second at the per-minute price', () => {
    const whisper = prices({ perAudioMinute: '0.006' });
    expect(costNanos(whisper, usage({ audioSeconds: 60 }))).toBe(6_000_000n);
    expect(costNanos(whisper, usage({ audioSeconds: 3.2 }))).toBe(400_000n);
    expect(costNanos(whisper, usage({ audioSeconds: 3 }))).toBe(300_000n);
  });

  it('prices audio input tokens apart from text input tokens', () => {
    const transcribe = prices({ inputPerMtok: '2.50', audioInputPerMtok: '6.00', outputPerMtok: '10.00' });
    expect(costNanos(transcribe, usage({ inputTokens: 120, audioInputTokens: 100, outputTokens: 30 }))).toBe(BigInt(20 * 2500 + 100 * 6000 + 30 * 10000));
  });

  it('is unknown (null), never $0, when the price lacks a component the usage needs', () => {
    expect(costNanos(prices({ inputPerMtok: '0.02' }), usage({ inputTokens: 10, outputTokens: 5 }))).toBeNull();
    expect(costNanos(prices({ perAudioMinute: '0.006' }), usage({}))).toBeNull();
  });

  it('parses only plain decimals', () => {
    expect(decimalToScaled('2.125', 6)).toBe(2_125_000n);
    expect(decimalToScaled('10', 6)).toBe(10_000_000n);
    expect(() => decimalToScaled('1e-3', 6)).toThrow();
    expect(() => decimalToScaled('-1', 6)).toThrow();
  });

  it('maps dated snapshots and aliases to their family', () => {
    expect(modelFamily('gpt-4o-2024-08-06')).toBe('gpt-4o');
    expect(modelFamily('gpt-4o-mini-2024-07-18')).toBe('gpt-4o-mini');
    expect(modelFamily('gpt-3.5-turbo-0125')).toBe('gpt-3.5-turbo');
    expect(modelFamily('omni-moderation-latest')).toBe('omni-moderation');
    expect(modelFamily('gpt-4.1-mini')).toBe('gpt-4.1-mini');
  });
});
