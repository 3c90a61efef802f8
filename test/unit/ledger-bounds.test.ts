// Values the ledger stores are bounded by design: where upstream numbers are read, and once more
// for every event as it is queued. And which write failures are the data's fault.
import { describe, expect, it } from 'vitest';
import { readJsonBody, usageFrom } from '../../server/gateway/usage-meter.js';
import { AUDIO_SECONDS_MAX, boundUsageEvent, INT4_MAX, saturate, TEXT_MAX } from '../../server/ledger/bounds.js';
import { isTransientWriteError, readUsageEvent } from '../../server/ledger/ledger.writer.js';
import { usageEvent, type UsageEvent } from '../../server/ledger/usage-event.js';
import { parseDurationMs, parseRateLimitHeaders } from '../../server/ratelimits/rate-limit-headers.js';

const at = new Date('2026-11-30T12:00:00Z');

describe('reading upstream numbers', () => {
  it('saturates token counts at the integer column, whatever the upstream sends', () => {
    expect(usageFrom({ prompt_tokens: 3e9, completion_tokens: 5 })).toMatchObject({ inputTokens: INT4_MAX, outputTokens: 5 });
    expect(usageFrom({ prompt_tokens: 1e308, completion_tokens: 1e308, prompt_tokens_details: { cached_tokens: 1e308 } })).toMatchObject({
      inputTokens: INT4_MAX,
      cachedTokens: INT4_MAX,
      outputTokens: INT4_MAX,
    });
    expect(usageFrom({ prompt_tokens: -5, completion_tokens: 'lots', completion_tokens_details: { reasoning_tokens: [1] } })).toMatchObject({
      inputTokens: 0,
      outputTokens: 0,
      reasoningTokens: 0,
    });
    expect(usageFrom({ prompt_tokens: 10.6 })?.inputTokens).toBe(11);
  });

  it('saturates audio durations at numeric(10, 3)', () => {
    expect(readJsonBody('{"text":"x","duration":92508250}').audioDuration).toBe(AUDIO_SECONDS_MAX);
    expect(readJsonBody('{"text":"x","duration":1e308}').audioDuration).toBe(AUDIO_SECONDS_MAX);
    expect(readJsonBody('{"text":"x","duration":3.52}').audioDuration).toBe(3.52);
    expect(readJsonBody('{"text":"x","duration":-1}').audioDuration).toBeUndefined();
    expect(usageFrom({ type: 'duration', seconds: 1e12 })?.audioSeconds).toBe(AUDIO_SECONDS_MAX);
  });

  it('saturates x-ratelimit-* values at their columns and still drops what is not a number', () => {
    expect(
      parseRateLimitHeaders({
        'x-ratelimit-limit-requests': '99999999999',
        'x-ratelimit-remaining-requests': '1e308',
        'x-ratelimit-reset-requests': '999999999h',
        'x-ratelimit-limit-tokens': '1e30',
        'x-ratelimit-remaining-tokens': '-4',
        'x-ratelimit-reset-tokens': 'soon',
        'x-ratelimit-limit-project-tokens': '',
      }),
    ).toEqual({
      limitRequests: INT4_MAX,
      remainingRequests: INT4_MAX,
      resetRequestsMs: INT4_MAX,
      limitTokens: Number.MAX_SAFE_INTEGER,
      remainingTokens: undefined,
      resetTokensMs: undefined,
      limitProjectTokens: undefined,
      remainingProjectTokens: undefined,
      resetProjectTokensMs: undefined,
    });
    expect(parseDurationMs(`${'9'.repeat(400)}s`)).toBe(INT4_MAX);
    expect(parseDurationMs('0s')).toBe(0);
  });

  it('saturate() keeps values in [0, max] and NaN at 0', () => {
    expect([saturate(5, 10), saturate(10, 10), saturate(11, 10), saturate(-1, 10), saturate(Number.NaN, 10), saturate(Infinity, 10)]).toEqual([5, 10, 10, 0, 0, 10]);
  });
});

describe('boundUsageEvent', () => {
  it('leaves an ordinary event as it is, unflagged, and returns the same object', () => {
    const event = usageEvent({ createdAt: at, rateLimits: { limitRequests: 500, remainingRequests: 499, resetRequestsMs: 120, limitTokens: 2e6, remainingTokens: 1e6 }, ttfbMs: 3, audioSeconds: 12.5, priceId: 7 });
    const copy = structuredClone(event);
    expect(boundUsageEvent(event)).toBe(event);
    expect(event).toEqual(copy);
    expect(event.clamped).toBeUndefined();
  });

  it('truncates long text to TEXT_MAX without splitting a surrogate pair, and flags it', () => {
    const event = boundUsageEvent(usageEvent({ createdAt: at, model: 'm'.repeat(3000), errorCode: `${'x'.repeat(TEXT_MAX - 1)}😀tail`, upstreamRequestId: 'req_1' }));
    expect(event.model).toBe('m'.repeat(TEXT_MAX));
    expect(event.errorCode).toBe('x'.repeat(TEXT_MAX - 1)); // the emoji would straddle the cut: dropped whole
    expect(event.upstreamRequestId).toBe('req_1');
    expect(event.clamped).toBe('model,error_code');
  });

  it('clamps every count to its column, flags each field once, and keeps earlier flags', () => {
    const event = boundUsageEvent(
      usageEvent({
        createdAt: at,
        clamped: 'model',
        inputTokens: 3e9,
        outputTokens: -3,
        cachedTokens: Number.NaN,
        reasoningTokens: 2.5,
        status: 70_000,
        retryCount: 100_000,
        latencyMs: Infinity,
        ttfbMs: -1,
        audioSeconds: 92_508_250,
        rateLimits: { limitRequests: 99_999_999_999, resetRequestsMs: 3.6e15, remainingTokens: 1e300 },
      }),
    );
    expect(event).toMatchObject({
      inputTokens: INT4_MAX,
      outputTokens: 0,
      cachedTokens: 0,
      reasoningTokens: 3,
      status: 32_767,
      retryCount: 32_767,
      latencyMs: INT4_MAX,
      ttfbMs: 0,
      audioSeconds: AUDIO_SECONDS_MAX,
      rateLimits: { limitRequests: INT4_MAX, resetRequestsMs: INT4_MAX, remainingTokens: Number.MAX_SAFE_INTEGER },
    });
    expect(event.clamped?.split(',')).toEqual([
      'model', 'status', 'retry_count', 'input_tokens', 'cached_tokens', 'output_tokens', 'reasoning_tokens', 'latency_ms', 'ttfb_ms',
      'audio_seconds', 'rl_limit_requests', 'rl_reset_requests_ms', 'rl_remaining_tokens',
    ]);
    // Bounding again changes nothing more.
    const again = boundUsageEvent(structuredClone(event));
    expect(again).toEqual(event);
  });

  it('keeps cost within bigint, and a cost that is not an integer unknown', () => {
    const cost = (costNanos: unknown) => boundUsageEvent(usageEvent({ createdAt: at, costNanos: costNanos as string })).costNanos;
    expect(cost('45000')).toBe('45000');
    expect(cost('999999999999999999')).toBe('999999999999999999');
    expect(cost('9223372036854775807')).toBe('9223372036854775807');
    expect(cost('9223372036854775808')).toBe('9223372036854775807');
    expect(cost('1' + '0'.repeat(300))).toBe('9223372036854775807');
    expect(cost('-5')).toBe('0');
    expect(cost('1.5')).toBeNull();
    expect(cost(null)).toBeNull();
  });

  it('makes what a damaged file holds writable: wrong types become empty, missing limits an empty set', () => {
    const damaged = { ...usageEvent({ createdAt: at }), model: 42, inputTokens: '7', audioSeconds: 'long', rateLimits: null } as unknown as UsageEvent;
    const event = boundUsageEvent(damaged);
    expect(event).toMatchObject({ model: null, inputTokens: 0, audioSeconds: null, rateLimits: {} });
    expect(event.clamped).toBe('model,input_tokens,audio_seconds');
  });
});

describe('reading a spilled line', () => {
  it('revives an event (dates included) and bounds it', () => {
    const event = usageEvent({ createdAt: at });
    const line = JSON.stringify({ ...event, model: 'm'.repeat(1000) });
    const read = readUsageEvent(line);
    expect(read?.createdAt).toEqual(at);
    expect(read?.model).toHaveLength(TEXT_MAX);
    expect(read?.clamped).toBe('model');
  });

  it.each(['{"id":"cut short', '[1,2]', 'null', '{"id":"not-a-uuid","createdAt":"2026-11-30T12:00:00Z"}', JSON.stringify({ ...usageEvent({ createdAt: at }), createdAt: 'yesterday' })])(
    'is not an event: %s',
    (line) => expect(readUsageEvent(line)).toBeUndefined(),
  );
});

describe('which write failures are the data’s fault', () => {
  const pgError = (code: string) => Object.assign(new Error('x'), { code });
  it.each([
    ['connection refused', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })],
    ['broken pipe', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })],
    ['a timeout without code', new Error('timeout exceeded when trying to connect')],
    ['admin shutdown', pgError('57P01')],
    ['statement timeout', pgError('57014')],
    ['too many connections', pgError('53300')],
    ['disk full', pgError('53100')],
    ['deadlock', pgError('40P01')],
    ['read-only after failover', pgError('25006')],
    ['table missing (before a migration)', pgError('42P01')],
    ['column missing (before a migration)', pgError('42703')],
    ['connection failure', pgError('08006')],
    ['I/O error', pgError('58030')],
  ])('transient: %s', (_name, error) => expect(isTransientWriteError(error)).toBe(true));

  it.each([
    ['out of range', '22003'],
    ['invalid text', '22P02'],
    ['check constraint', '23514'],
    ['not null', '23502'],
    ['index row too large', '54000'],
    ['an unforeseen class', 'P0001'],
  ])('the data: %s (%s)', (_name, code) => expect(isTransientWriteError(pgError(code))).toBe(false));
});
