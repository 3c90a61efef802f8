import { describe, expect, it } from 'vitest';
import { classifyError, parseDurationMs, parseRateLimitHeaders } from '../../server/ratelimits/rate-limit-headers.js';

describe('Go-style durations', () => {
  it.each([
    ['1s', 1000],
    ['6m0s', 360_000],
    ['17ms', 17],
    ['1h2m3.5s', 3_723_500],
    ['0.5s', 500],
    ['120ms', 120],
    ['2.0001s', 2001],
  ])('%s = %d ms', (text, ms) => expect(parseDurationMs(text)).toBe(ms));

  it.each(['', 'soon', '5', '1x', 's', '1s2'])('rejects %j', (text) => expect(parseDurationMs(text)).toBeUndefined());
});

describe('x-ratelimit-* headers', () => {
  it('parses all six, and project tokens when present', () => {
    expect(
      parseRateLimitHeaders({
        'x-ratelimit-limit-requests': '60',
        'x-ratelimit-remaining-requests': '59',
        'x-ratelimit-reset-requests': '1s',
        'x-ratelimit-limit-tokens': '150000',
        'x-ratelimit-remaining-tokens': '149984',
        'x-ratelimit-reset-tokens': '6m0s',
        'x-ratelimit-limit-project-tokens': '60000',
      }),
    ).toEqual({
      limitRequests: 60,
      remainingRequests: 59,
      resetRequestsMs: 1000,
      limitTokens: 150000,
      remainingTokens: 149984,
      resetTokensMs: 360000,
      limitProjectTokens: 60000,
      remainingProjectTokens: undefined,
      resetProjectTokensMs: undefined,
    });
  });

  it('drops malformed values instead of guessing', () => {
    const parsed = parseRateLimitHeaders({ 'x-ratelimit-limit-requests': 'lots', 'x-ratelimit-reset-tokens': 'later' });
    expect(parsed.limitRequests).toBeUndefined();
    expect(parsed.resetTokensMs).toBeUndefined();
  });
});

describe('429 classification', () => {
  it('tells billing from throttling by type and code, not status', () => {
    expect(classifyError(429, 'insufficient_quota', 'insufficient_quota')).toBe('quota');
    expect(classifyError(429, 'insufficient_quota', 'credit_balance_exhausted')).toBe('quota');
    expect(classifyError(429, 'requests', 'rate_limit_exceeded', 'Rate limit reached for gpt-4o on requests per min (RPM)')).toBe('rate_limit_requests');
    expect(classifyError(429, 'tokens', 'rate_limit_exceeded', 'Rate limit reached … on tokens per min (TPM)')).toBe('rate_limit_tokens');
    expect(classifyError(429, 'tokens', 'rate_limit_exceeded', 'Request too large for gpt-4o on tokens per min (TPM): Limit 30000')).toBe('request_too_large');
    expect(classifyError(401, 'invalid_request_error', 'invalid_api_key')).toBe('auth');
    expect(classifyError(503, 'server_error', null)).toBe('upstream_server_error');
  });
});
