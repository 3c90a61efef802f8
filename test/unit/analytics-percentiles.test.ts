import { describe, expect, it } from 'vitest';
import { csvRow } from '../../server/analytics/csv.js';
import { bucketBounds, latencyBucket, percentile } from '../../server/analytics/percentiles.js';
import { nanosToUsd } from '../../server/pricing/cost.js';

describe('latency histograms', () => {
  it('put every value inside its bucket bounds', () => {
    for (const ms of [0, 1, 2, 3, 7, 8, 99, 100, 1234, 60_000, 599_999]) {
      const [lo, hi] = bucketBounds(latencyBucket(ms));
      expect(ms >= Math.floor(lo) && ms < Math.ceil(hi)).toBe(true);
    }
  });

  it('estimate percentiles within ~9% of the exact value', () => {
    const values = Array.from({ length: 5000 }, (_, i) => Math.round(50 * Math.exp((i % 997) / 200)));
    const histogram = new Map<number, number>();
    for (const v of values) histogram.set(latencyBucket(v), (histogram.get(latencyBucket(v)) ?? 0) + 1);
    const sorted = [...values].sort((a, b) => a - b);
    for (const q of [0.5, 0.95, 0.99]) {
      const exact = sorted[Math.ceil(q * sorted.length) - 1];
      expect(Math.abs(percentile(histogram, q)! - exact) / exact).toBeLessThan(0.09);
    }
    expect(percentile(new Map(), 0.5)).toBeNull();
  });
});

describe('CSV and money formatting', () => {
  it('quotes, doubles quotes and defuses formulas', () => {
    // A plain negative number stays a number (a money difference); anything else starting with - is defused.
    expect(csvRow(['a,b', 'say "hi"', 'x\ny', '=1+1', '-2', '-2+3', 3, null, 10n])).toBe('"a,b","say ""hi""","x\ny",\'=1+1,-2,\'-2+3,3,,10\r\n');
  });

  it('prints nano-dollars as exact USD', () => {
    expect(nanosToUsd(1_234_567_890n)).toBe('1.234567890');
    expect(nanosToUsd('5')).toBe('0.000000005');
    expect(nanosToUsd(123_456_789_012_345_678_901n)).toBe('123456789012.345678901');
  });
});
