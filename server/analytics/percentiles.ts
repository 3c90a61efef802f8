// Percentiles from the latency histograms: fixed log-spaced buckets, 8 per doubling, matching the
// SQL function latency_bucket(). An estimate is the bucket's geometric interpolation by rank, so it
// is within one bucket width (~9%) of the exact value.

export const BUCKETS_PER_DOUBLING = 8;

/** [lower, upper) milliseconds of a bucket; bucket 0 holds sub-millisecond values. */
export function bucketBounds(bucket: number): [number, number] {
  if (bucket <= 0) return [0, 1];
  return [2 ** ((bucket - 1) / BUCKETS_PER_DOUBLING), 2 ** (bucket / BUCKETS_PER_DOUBLING)];
}

/** Same rule as latency_bucket() in SQL (used by tests and the benchmark to check bucketing). */
export function latencyBucket(ms: number): number {
  return ms < 1 ? 0 : Math.min(250, 1 + Math.floor((BUCKETS_PER_DOUBLING * Math.log(ms)) / Math.log(2)));
}

/** bucket → count */
export type Histogram = Map<number, number>;

export function mergeInto(target: Histogram, source: Histogram): void {
  for (const [bucket, count] of source) target.set(bucket, (target.get(bucket) ?? 0) + count);
}

/** The q-quantile (0 < q < 1) in whole milliseconds, or null for an empty histogram. */
export function percentile(histogram: Histogram, q: number): number | null {
  const buckets = [...histogram.entries()].filter(([, c]) => c > 0).sort((a, b) => a[0] - b[0]);
  const total = buckets.reduce((sum, [, c]) => sum + c, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let before = 0;
  for (const [bucket, count] of buckets) {
    if (before + count >= rank) {
      const [lo, hi] = bucketBounds(bucket);
      const position = (rank - before - 0.5) / count;
      return Math.round(bucket === 0 ? position : lo * (hi / lo) ** position);
    }
    before += count;
  }
  return null;
}

export interface Percentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export const percentiles = (histogram: Histogram): Percentiles => ({
  p50: percentile(histogram, 0.5),
  p95: percentile(histogram, 0.95),
  p99: percentile(histogram, 0.99),
});
