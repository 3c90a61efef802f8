// A Realtime response.done read into a ledger row, priced by the gateway's cost arithmetic, and the
// simulator's own bill for the same usage (an independent implementation): they must agree.
import { describe, expect, it } from 'vitest';
import { costNanos } from '../../server/pricing/cost.js';
import { priceFromList, shippedPriceList } from '../../server/pricing/pricing.service.js';
import { meteredUsage, responseEvent, type RealtimeUsage } from '../../server/realtime/realtime-usage.js';
import { listPrices, SimulatorBilling } from '../../server/simulator/billing.js';

const usage: RealtimeUsage = {
  input_tokens: 1_234,
  output_tokens: 567,
  input_token_details: { text_tokens: 400, audio_tokens: 800, image_tokens: 34, cached_tokens: 640, cached_tokens_details: { text_tokens: 128, audio_tokens: 512, image_tokens: 0 } },
  output_token_details: { text_tokens: 67, audio_tokens: 500 },
};
const price = (model: string) => priceFromList(shippedPriceList().find((p) => p.model === model && !p.service_tier)!);

describe('realtime usage', () => {
  it('reads every part of response.usage', () => {
    expect(meteredUsage(usage)).toEqual({
      inputTokens: 1_234,
      cachedTokens: 640,
      audioInputTokens: 800,
      imageInputTokens: 34,
      cachedAudioTokens: 512,
      cachedImageTokens: 0,
      outputTokens: 567,
      audioOutputTokens: 500,
      reasoningTokens: 0,
    });
  });

  it('prices gpt-realtime part by part: the hand sum, rounded once', () => {
    // text in 1234-800-34-128 = 272 × $4, cached text 128 × $0.40, audio 288 × $32, cached audio 512 × $0.40,
    // image 34 × $5, text out 67 × $16, audio out 500 × $64 (per 1M tokens)
    const picos = 272n * 4_000_000n + 128n * 400_000n + 288n * 32_000_000n + 512n * 400_000n + 34n * 5_000_000n + 67n * 16_000_000n + 500n * 64_000_000n;
    expect(costNanos(price('gpt-realtime'), meteredUsage(usage))).toBe((picos + 500n) / 1000n);
  });

  it('builds the ledger row: cancelled by the gateway for a leaving client is client_aborted, failed is an error, no usage is unknown cost', () => {
    const context = { orgId: 'o', featureId: 'f', gatewayKeyId: 'k', model: 'gpt-realtime', startedAt: new Date('2026-12-01T10:00:00Z'), ttfbMs: 40, latencyMs: 900 };
    const priced = (model: string, _at: Date, u: Parameters<typeof costNanos>[1]) => ({ costNanos: costNanos(price(model), u), priceId: 7 });
    const ok = responseEvent({ type: 'response.done', response: { id: 'resp_1', status: 'completed', usage } }, context, priced);
    expect(ok).toMatchObject({ endpoint: 'realtime', outcome: 'ok', status: 200, usageSource: 'reported', upstreamRequestId: 'resp_1', priceId: 7, audioOutputTokens: 500, imageInputTokens: 34 });
    expect(ok.costNanos).toBe(costNanos(price('gpt-realtime'), meteredUsage(usage))!.toString());
    const cancelled = responseEvent({ type: 'response.done', response: { status: 'cancelled', usage } }, { ...context, cancelledBy: 'client_aborted' }, priced);
    expect(cancelled).toMatchObject({ outcome: 'client_aborted', errorKind: 'client_aborted', usageSource: 'reported' });
    // A barge-in the client asked for itself is an ordinary response.
    expect(responseEvent({ type: 'response.done', response: { status: 'cancelled', usage } }, context, priced).outcome).toBe('ok');
    const failed = responseEvent({ type: 'response.done', response: { status: 'failed', status_details: { type: 'failed', error: { type: 'server_error', code: 'boom' } }, usage } }, context, priced);
    expect(failed).toMatchObject({ outcome: 'error', status: 500, errorType: 'server_error', errorCode: 'boom' });
    const noUsage = responseEvent({ type: 'response.done', response: { status: 'completed' } }, context, priced);
    expect(noUsage).toMatchObject({ costNanos: null, usageSource: 'none' });
  });

  it('hostile numbers are saturated, never negative or fractional', () => {
    const hostile = meteredUsage({ input_tokens: -5, output_tokens: 1e30, input_token_details: { audio_tokens: 1.5 } });
    expect(hostile).toMatchObject({ inputTokens: 0, outputTokens: 2_147_483_647, audioInputTokens: 1 });
  });

  it('the simulator bills the same usage to the same nano-dollar (reconciliation sees realtime spend)', () => {
    for (const model of ['gpt-realtime', 'gpt-realtime-mini', 'gpt-4o-realtime-preview']) {
      const billing = new SimulatorBilling(listPrices());
      const text = { ...usage, input_tokens: 1_200, input_token_details: { ...usage.input_token_details!, image_tokens: 0 } };
      const d = text.input_token_details;
      const entry = billing.record({
        at: Date.now(), orgId: 'org-a', apiKeyId: 'key_1', projectId: null, endpoint: 'completions', model, requests: 1,
        inputTokens: text.input_tokens, cachedTokens: d.cached_tokens!, audioInputTokens: d.audio_tokens!, cachedAudioTokens: d.cached_tokens_details!.audio_tokens,
        outputTokens: text.output_tokens!, audioOutputTokens: text.output_token_details!.audio_tokens, seconds: 0,
      });
      const billed = entry.lines.reduce((sum, line) => sum + line.nanos, 0n);
      expect(billed, model).toBe(costNanos(price(model), meteredUsage(text)));
    }
  });
});
