// The usage event of a finished call, built by a pure function: every outcome on its own, no
// server, no Postgres. What the e2e tests prove through the SDK, this proves per branch.
import { describe, expect, it } from 'vitest';
import { RESOURCE_ENDPOINTS } from '../../server/gateway/endpoints.js';
import { buildUsageEvent, type PriceFn } from '../../server/gateway/usage-event.builder.js';
import { OpenAIError } from '../../server/http/openai-error.js';
import type { MeteredUsage } from '../../server/pricing/cost.js';
import { endpoint, finishedCall, route } from '../support/calls.js';

const usage = (inputTokens: number, outputTokens: number): MeteredUsage => ({ inputTokens, outputTokens, cachedTokens: 0, audioInputTokens: 0, reasoningTokens: 0 });

/** 10 nano-dollars per input token, 20 per output token, 1,000 per image; null for a model it does not know. */
function priceBook() {
  const seen: Array<{ model?: string; usage: MeteredUsage }> = [];
  const price: PriceFn = (model, _tier, _at, u) => {
    seen.push({ model, usage: u });
    if (model === 'unknown-model') return { costNanos: null, priceId: null };
    const images = (u.images ?? []).reduce((n, i) => n + i.count, 0);
    return { costNanos: BigInt(u.inputTokens * 10 + u.outputTokens * 20 + images * 1000), priceId: 7 };
  };
  return { price, seen };
}

describe('buildUsageEvent', () => {
  it('prices an answered call from its reported usage, with its timings and upstream request id', () => {
    const { price } = priceBook();
    const event = buildUsageEvent(finishedCall({ reading: { usage: usage(100, 50), model: 'gpt-4o-mini-2024-07-18', serviceTier: 'default' } }), price);
    expect(event).toMatchObject({
      id: 'call-1',
      orgId: 'org-1',
      featureId: 'feature-1',
      gatewayKeyId: 'key-1',
      endpoint: 'chat.completions',
      model: 'gpt-4o-mini',
      serviceTier: 'default',
      status: 200,
      outcome: 'ok',
      errorKind: null,
      inputTokens: 100,
      outputTokens: 50,
      usageSource: 'reported',
      costNanos: '2000',
      priceId: 7,
      latencyMs: 120,
      ttfbMs: 100,
      upstreamRequestId: 'req-1',
    });
  });

  it('is pure: the same call gives the same event, and the call is not changed', () => {
    const { price } = priceBook();
    const call = finishedCall({ status: 500, upstream: { statusCode: 500, headers: {} }, reading: { error: { type: 'server_error', code: null, message: 'boom' } } });
    const before = JSON.stringify(call);
    const a = buildUsageEvent(call, price);
    const b = buildUsageEvent(call, price);
    expect(a).toEqual(b);
    expect(a.outcome).toBe('error');
    expect(JSON.stringify(call)).toBe(before);
    expect(call.outcome).toBe('ok');
  });

  it('a call never sent (the client left while it was looked up or paced) costs nothing and has no usage', () => {
    const { price, seen } = priceBook();
    const event = buildUsageEvent(finishedCall({ status: 0, upstream: undefined, outcome: 'not_sent', errorKind: 'not_sent', ttfbMs: null }), price);
    expect(event).toMatchObject({ outcome: 'not_sent', errorKind: 'not_sent', status: 0, costNanos: '0', usageSource: 'none', inputTokens: 0, upstreamRequestId: null });
    expect(seen).toEqual([]);
  });

  it('a call the client cut short after it was sent is priced from its estimate', () => {
    const { price } = priceBook();
    const event = buildUsageEvent(finishedCall({ streamed: true, outcome: 'client_aborted', errorKind: 'client_aborted', estimated: usage(30, 12) }), price);
    expect(event).toMatchObject({ outcome: 'client_aborted', errorKind: 'client_aborted', usageSource: 'estimated', inputTokens: 30, outputTokens: 12, costNanos: '540' });
  });

  it('reported usage wins over an estimate', () => {
    const { price } = priceBook();
    const event = buildUsageEvent(finishedCall({ outcome: 'client_aborted', errorKind: 'client_aborted', reading: { usage: usage(5, 5) }, estimated: usage(30, 12) }), price);
    expect(event).toMatchObject({ usageSource: 'reported', inputTokens: 5, costNanos: '150' });
  });

  it('a stream the upstream closed without its end is upstream_aborted', () => {
    const { price } = priceBook();
    const event = buildUsageEvent(finishedCall({ streamed: true, outcome: 'upstream_aborted', estimated: usage(10, 10) }), price);
    expect(event).toMatchObject({ outcome: 'upstream_aborted', errorKind: 'upstream_aborted', usageSource: 'estimated', costNanos: '300' });
  });

  it('names the kind of each error the gateway answered itself', () => {
    const { price } = priceBook();
    const refused = (error: OpenAIError, upstream = false) =>
      buildUsageEvent(finishedCall({ status: error.status, outcome: 'error', gatewayError: error, upstream: upstream ? { statusCode: 200, headers: {} } : undefined }), price);
    const budget = refused(new OpenAIError(429, 'spent', 'insufficient_quota', 'feature_budget_exceeded'));
    expect(budget).toMatchObject({ status: 429, outcome: 'error', errorKind: 'budget', errorType: 'insufficient_quota', errorCode: 'feature_budget_exceeded', costNanos: '0' });
    expect(refused(new OpenAIError(429, 'paced', 'tokens', 'gateway_paced')).errorKind).toBe('paced');
    expect(refused(new OpenAIError(429, 'cap', 'requests', 'gateway_concurrency_limit')).errorKind).toBe('gateway');
    expect(refused(new OpenAIError(503, 'down', 'server_error', 'gateway_store_unavailable')).errorKind).toBe('store_unavailable');
    expect(refused(new OpenAIError(502, 'gone', 'server_error', 'upstream_unreachable')).errorKind).toBe('upstream_unreachable');
    expect(refused(new OpenAIError(504, 'slow', 'server_error', 'upstream_timeout')).errorKind).toBe('upstream_timeout');
    expect(refused(new OpenAIError(400, 'bad', 'invalid_request_error', 'invalid_json')).errorKind).toBe('invalid_request');
    expect(refused(new OpenAIError(500, 'bug', 'server_error', 'internal_error')).errorKind).toBe('gateway');
  });

  it("classifies the upstream's own errors, and an error event inside a 200 stream", () => {
    const { price } = priceBook();
    const limited = buildUsageEvent(
      finishedCall({ status: 429, upstream: { statusCode: 429, headers: { 'x-ratelimit-limit-requests': '500', 'x-ratelimit-remaining-requests': '0' } }, reading: { error: { type: 'requests', code: 'rate_limit_exceeded', message: 'Rate limit reached for requests' } } }),
      price,
    );
    expect(limited).toMatchObject({ outcome: 'error', errorKind: 'rate_limit_requests', errorCode: 'rate_limit_exceeded', costNanos: '0' });
    expect(limited.rateLimits).toMatchObject({ limitRequests: 500, remainingRequests: 0 });
    const inStream = buildUsageEvent(finishedCall({ streamed: true, reading: { error: { type: 'server_error', code: null, message: 'x' } } }), price);
    expect(inStream).toMatchObject({ status: 200, outcome: 'error', errorKind: 'stream_error' });
  });

  it('a refused key that Tallygate issued names its key, feature and org', () => {
    const { price } = priceBook();
    const event = buildUsageEvent(
      finishedCall({ route: undefined, upstream: undefined, status: 401, outcome: 'error', refusedKey: { gatewayKeyId: 'key-9', featureId: 'feature-9', orgId: null }, gatewayError: new OpenAIError(401, 'revoked', 'invalid_request_error', 'invalid_api_key') }),
      price,
    );
    expect(event).toMatchObject({ gatewayKeyId: 'key-9', featureId: 'feature-9', orgId: null, errorKind: 'auth', costNanos: '0' });
  });

  it('background responses: billed once, to their creator; pending, already billed and unknown claims apart', () => {
    const { price } = priceBook();
    const byId = RESOURCE_ENDPOINTS.find((e) => e.name === 'responses.retrieve')!;
    const shown = { usage: usage(100, 100) };
    const billed = buildUsageEvent(finishedCall({ endpoint: byId, reading: shown, background: 'billed', billedTo: { orgId: 'org-c', featureId: 'feature-c', gatewayKeyId: 'key-c' } }), price);
    expect(billed).toMatchObject({ orgId: 'org-c', featureId: 'feature-c', gatewayKeyId: 'key-c', usageSource: 'reported', costNanos: '3000' });
    const already = buildUsageEvent(finishedCall({ endpoint: byId, reading: shown, background: 'already' }), price);
    expect(already).toMatchObject({ orgId: 'org-1', usageSource: 'none', costNanos: '0', inputTokens: 0 });
    const plainRetrieve = buildUsageEvent(finishedCall({ endpoint: byId, reading: shown }), price);
    expect(plainRetrieve).toMatchObject({ usageSource: 'none', costNanos: '0' });
    const pending = buildUsageEvent(finishedCall({ endpoint: endpoint('responses'), background: 'pending' }), price);
    expect(pending).toMatchObject({ usageSource: 'none', costNanos: '0' });
    const unknown = buildUsageEvent(finishedCall({ endpoint: byId, reading: shown, background: 'unknown' }), price);
    expect(unknown.costNanos).toBeNull();
  });

  it('carries the price components of a metered call (images, speech characters, tool calls)', () => {
    const { price } = priceBook();
    const images = buildUsageEvent(
      finishedCall({ endpoint: endpoint('images.generations'), model: null, metered: { usage: { ...usage(0, 0), images: [{ size: '1024x1024', quality: 'hd', count: 2 }] }, model: 'dall-e-3' } }),
      price,
    );
    expect(images).toMatchObject({ model: 'dall-e-3', imageCount: 2, imageSpec: '1024x1024/hd', costNanos: '2000', usageSource: 'reported', webSearchCalls: 0 });
    const speech = buildUsageEvent(finishedCall({ endpoint: endpoint('audio.speech'), model: 'tts-1', metered: { usage: { ...usage(0, 0), characters: 42 } } }), price);
    expect(speech).toMatchObject({ characters: 42, imageCount: null });
    const search = buildUsageEvent(finishedCall({ endpoint: endpoint('responses'), metered: { usage: { ...usage(10, 10), toolCalls: { web_search_preview: 2, file_search: 1 } } } }), price);
    expect(search).toMatchObject({ webSearchCalls: 0, webSearchPreviewCalls: 2, fileSearchCalls: 1 });
    const estimated = buildUsageEvent(finishedCall({ endpoint: endpoint('audio.speech'), metered: { usage: usage(10, 100), estimated: true } }), price);
    expect(estimated.usageSource).toBe('estimated');
  });

  it('unpriced is NULL, never $0: a billable success without usage, an uncountable part, an unknown model', () => {
    const { price } = priceBook();
    expect(buildUsageEvent(finishedCall(), price)).toMatchObject({ costNanos: null, usageSource: 'none' });
    expect(buildUsageEvent(finishedCall({ endpoint: endpoint('audio.speech'), metered: { usage: usage(10, 0), estimated: true, unpriced: true } }), price).costNanos).toBeNull();
    expect(buildUsageEvent(finishedCall({ model: 'unknown-model', reading: { usage: usage(1, 1) } }), price).costNanos).toBeNull();
    // Free endpoints and failed calls cost 0.
    expect(buildUsageEvent(finishedCall({ endpoint: endpoint('moderations') }), price).costNanos).toBe('0');
    expect(buildUsageEvent(finishedCall({ status: 400, upstream: { statusCode: 400, headers: {} } }), price).costNanos).toBe('0');
  });

  it('a resource route not billed per call is not_metered (cost NULL) when it succeeds, 0 when it fails', () => {
    const { price } = priceBook();
    const files = RESOURCE_ENDPOINTS.find((e) => e.name === 'files.list')!;
    expect(buildUsageEvent(finishedCall({ endpoint: files, model: null }), price)).toMatchObject({ usageSource: 'not_metered', costNanos: null });
    expect(buildUsageEvent(finishedCall({ endpoint: files, model: null, status: 404, upstream: { statusCode: 404, headers: {} } }), price)).toMatchObject({ usageSource: 'none', costNanos: '0' });
  });

  it('audio: the exact reported duration, else the measured one, for successful uploads only', () => {
    const { price } = priceBook();
    const transcription = endpoint('audio.transcriptions');
    const reported = buildUsageEvent(finishedCall({ endpoint: transcription, model: 'whisper-1', audio: {}, measuredAudioSeconds: 9, reading: { audioDuration: 8.5 } }), price);
    expect(reported).toMatchObject({ audioSeconds: 8.5, audioSource: 'reported', usageSource: 'reported' });
    const measured = buildUsageEvent(finishedCall({ endpoint: transcription, model: 'whisper-1', audio: {}, measuredAudioSeconds: 9 }), price);
    expect(measured).toMatchObject({ audioSeconds: 9, audioSource: 'measured' });
    const failed = buildUsageEvent(finishedCall({ endpoint: transcription, audio: {}, measuredAudioSeconds: 9, status: 400, upstream: { statusCode: 400, headers: {} } }), price);
    expect(failed).toMatchObject({ audioSeconds: null, audioSource: null });
  });

  it('attributes to the route, and the refused key only without one', () => {
    const { price } = priceBook();
    const event = buildUsageEvent(finishedCall({ route: route({ featureId: 'feature-2' }, { orgId: 'org-2' }), refusedKey: { gatewayKeyId: 'x', featureId: 'y', orgId: 'z' } }), price);
    expect(event).toMatchObject({ orgId: 'org-2', featureId: 'feature-2', gatewayKeyId: 'key-1' });
  });
});
