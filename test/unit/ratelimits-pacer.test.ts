import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PaceRefusedError, Pacer, type PacingTicket } from '../../server/ratelimits/pacer.js';
import { estimateTokens } from '../../server/ratelimits/pacing.service.js';

const KEY = 'org-1|gpt-4o-mini';

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
});
afterEach(() => vi.useRealTimers());

const pacer = (maxWaitMs = 10_000, maxQueue = 100) => new Pacer({ maxWaitMs, maxQueue, now: () => Date.now() });

/** Settled state of a promise without awaiting it forever. */
async function state<T>(promise: Promise<T>): Promise<'pending' | 'resolved' | 'rejected'> {
  let result: 'pending' | 'resolved' | 'rejected' = 'pending';
  promise.then(() => (result = 'resolved'), () => (result = 'rejected'));
  await vi.advanceTimersByTimeAsync(0);
  return result;
}

/** A response with these x-ratelimit-* values (10 RPM: one request back every 6 s). */
const seen = (remainingRequests: number, resetRequestsMs: number, extra: object = {}) => ({
  limitRequests: 10,
  remainingRequests,
  resetRequestsMs,
  ...extra,
});

describe('Pacer', () => {
  it('sends one probe while the org is unknown, then lets the rest go once headers show room', async () => {
    const p = pacer();
    const probe = await p.acquire(KEY, 10);
    const second = p.acquire(KEY, 10);
    expect(await state(second)).toBe('pending');
    p.release(probe, seen(9, 6_000), Date.now(), true);
    expect(await state(second)).toBe('resolved');
  });

  it('holds a request while no requests are left, and sends it when the window has refilled one', async () => {
    const p = pacer();
    const first = await p.acquire(KEY, 10);
    // 0 left; full again in 60 s, so one request comes back every 6 s.
    p.release(first, seen(0, 60_000), Date.now(), true);
    const held = p.acquire(KEY, 10);
    await vi.advanceTimersByTimeAsync(5_900);
    expect(await state(held)).toBe('pending');
    await vi.advanceTimersByTimeAsync(200);
    expect(await state(held)).toBe('resolved');
    expect((await held).waitedMs).toBeGreaterThanOrEqual(6_000);
  });

  it('counts what it sent since the last headers, and what is still in flight', async () => {
    const p = pacer(60_000);
    const probe = await p.acquire(KEY, 1);
    p.release(probe, seen(3, 42_000), Date.now(), true);
    const sent = [await p.acquire(KEY, 1), await p.acquire(KEY, 1), await p.acquire(KEY, 1)];
    expect(await state(p.acquire(KEY, 1))).toBe('pending');
    // One answer says 1 left, but two others are still in flight: still no room.
    p.release(sent[0], seen(1, 54_000), Date.now(), true);
    const next = p.acquire(KEY, 1);
    expect(await state(next)).toBe('pending');
    // 1 - 2 in flight = -1 now, and one request queued ahead: room for this one in 3 x 6 s.
    await vi.advanceTimersByTimeAsync(17_900);
    expect(await state(next)).toBe('pending');
    await vi.advanceTimersByTimeAsync(200);
    expect(await state(next)).toBe('resolved');
  });

  it('refuses at once, with the estimated wait, when room comes later than the bound', async () => {
    const p = pacer(5_000);
    const first = await p.acquire(KEY, 10);
    p.release(first, seen(0, 60_000), Date.now(), true);
    const error = await p.acquire(KEY, 10).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PaceRefusedError);
    const refusal = (error as PaceRefusedError).refusal;
    expect(refusal).toMatchObject({ resource: 'requests', reason: 'wait_too_long' });
    expect(refusal.retryAfterMs).toBeGreaterThanOrEqual(6_000);
    expect(refusal.retryAfterMs).toBeLessThan(6_100);
  });

  it('refuses past the queue bound', async () => {
    const p = pacer(60_000, 2);
    const first = await p.acquire(KEY, 10);
    p.release(first, seen(0, 60_000), Date.now(), true);
    const queued = [p.acquire(KEY, 10), p.acquire(KEY, 10)];
    await expect(p.acquire(KEY, 10)).rejects.toMatchObject({ refusal: { reason: 'queue_full' } });
    expect(p.queued()).toBe(2);
    await vi.advanceTimersByTimeAsync(12_100);
    expect(await Promise.all(queued.map(state))).toEqual(['resolved', 'resolved']);
  });

  it('waits for tokens too, but never holds a request larger than the whole limit (OpenAI refuses it anyway)', async () => {
    const p = pacer(60_000);
    const first = await p.acquire(KEY, 100);
    p.release(first, seen(9, 6_000, { limitTokens: 1_000, remainingTokens: 100, resetTokensMs: 54_000 }), Date.now(), true);
    expect(await state(p.acquire(KEY, 2_000))).toBe('resolved');
    const needsTokens = p.acquire(KEY, 500);
    expect(await state(needsTokens)).toBe('pending');
    // 100 left, 900 back over 54 s: 400 more take 24 s.
    await vi.advanceTimersByTimeAsync(23_900);
    expect(await state(needsTokens)).toBe('pending');
    await vi.advanceTimersByTimeAsync(200);
    expect(await state(needsTokens)).toBe('resolved');
  });

  it('ignores headers older than the ones it already applied (a long stream ending late)', async () => {
    const p = pacer(60_000);
    const probe = await p.acquire(KEY, 1);
    p.release(probe, seen(5, 30_000), Date.now(), true);
    const long = await p.acquire(KEY, 1);
    const short = await p.acquire(KEY, 1);
    p.release(short, seen(0, 60_000), Date.now(), true);
    // The long call's headers were received before the short call's, and said 4 were left.
    p.release(long, seen(4, 36_000), Date.now() - 1_000, true);
    const next = p.acquire(KEY, 1);
    // Still 0 - 1 = -1 from the short call's headers: two refills of 6 s, not room at once.
    await vi.advanceTimersByTimeAsync(11_900);
    expect(await state(next)).toBe('pending');
    await vi.advanceTimersByTimeAsync(200);
    expect(await state(next)).toBe('resolved');
  });

  it('does not pace an org whose responses carry no rate-limit headers', async () => {
    const p = pacer();
    const probe: PacingTicket = await p.acquire(KEY, 1);
    p.release(probe, undefined, Date.now(), true);
    const all = await Promise.all(Array.from({ length: 50 }, () => state(p.acquire(KEY, 1))));
    expect(all.every((s) => s === 'resolved')).toBe(true);
  });
});

describe('estimateTokens', () => {
  it('is a token per 4 bytes of body plus the output limit the request sets, times n', () => {
    const json = { model: 'gpt-4o-mini', max_tokens: 100, n: 2 };
    expect(estimateTokens({ bytes: Buffer.alloc(400), json })).toBe(100 + 200);
    expect(estimateTokens({ bytes: Buffer.alloc(10), json: { max_output_tokens: 7 } })).toBe(3 + 7);
    expect(estimateTokens({ bytes: undefined, json: undefined })).toBe(0);
  });
});
