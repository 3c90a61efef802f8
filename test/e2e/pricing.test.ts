// The shipped price list in Postgres: loaded once and idempotently, never over an admin's
// correction, dated changes applied from their date, and calls through the gateway priced by
// model family, fine-tune base and service tier. Expected costs come from the list itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { costNanos, type MeteredUsage } from '../../server/pricing/cost.js';
import { priceFromList, PricingService, shippedPriceList, type PriceListRow } from '../../server/pricing/pricing.service.js';
import { api } from './analytics-fixtures.js';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
let pricing: PricingService;

beforeAll(async () => {
  stack = await startStack();
  pricing = stack.app.get(PricingService);
});
afterAll(() => stack?.close());

const list = shippedPriceList();
const latest = (model: string, tier = 'default'): PriceListRow =>
  list.filter((p) => p.model === model && (p.service_tier ?? 'default') === tier).reduce((a, b) => (a.effective_from > b.effective_from ? a : b));
const chatUsage = (u: { prompt_tokens: number; completion_tokens: number; prompt_tokens_details?: { cached_tokens?: number } | null }): MeteredUsage => ({
  inputTokens: u.prompt_tokens,
  cachedTokens: u.prompt_tokens_details?.cached_tokens ?? 0,
  audioInputTokens: 0,
  outputTokens: u.completion_tokens,
  reasoningTokens: 0,
});
const onlyEvent = async () => {
  const events = await stack.events();
  expect(events).toHaveLength(1);
  return events[0];
};

describe('loading the shipped price list', () => {
  it('loads every row once; loading again changes nothing', async () => {
    const { rows } = await stack.db.query(`SELECT count(*)::int AS n FROM prices`);
    expect(rows[0].n).toBe(list.length);
    expect(await pricing.syncPriceList()).toBe(0);
    expect((await stack.db.query(`SELECT count(*)::int AS n FROM prices`)).rows[0].n).toBe(list.length);
    const [gpt54] = (await stack.db.query(`SELECT source, long_context, per_thousand_calls FROM prices WHERE model = 'gpt-5.4' AND service_tier = 'default'`)).rows;
    expect(gpt54.source).toContain(latest('gpt-5.4').source);
    expect(gpt54.source).toContain(`read ${latest('gpt-5.4').read_on}`);
    expect(gpt54.long_context.aboveInputTokens).toBe(latest('gpt-5.4').long_context!.above_input_tokens);
    expect(gpt54.per_thousand_calls).toEqual(latest('gpt-5.4').per_thousand_calls);
  });

  it("never brings back a shipped price an admin's correction replaced", async () => {
    const shipped = latest('gpt-5-nano');
    // Starting a day earlier, the correction retires the shipped row rather than sitting on its key.
    const from = new Date(new Date(shipped.effective_from).getTime() - 86_400_000).toISOString();
    const correction = { model: 'gpt-5-nano', from, reason: 'our contract rate', prices: { inputPerMtok: '0.04', cachedInputPerMtok: '0.004', outputPerMtok: '0.32' } };
    const response = await api(stack, '/api/admin/prices/corrections', { method: 'POST', body: JSON.stringify(correction) });
    expect(response.status).toBe(200);
    const { priceId, retiredPriceIds } = (await response.json()) as { priceId: number; retiredPriceIds: number[] };
    expect(retiredPriceIds).toHaveLength(1);
    expect(await pricing.syncPriceList()).toBe(0);
    const current = (await stack.db.query(`SELECT id, input_per_mtok FROM prices WHERE model = 'gpt-5-nano' AND service_tier = 'default' AND retired_at IS NULL`)).rows;
    expect(current).toEqual([{ id: priceId, input_per_mtok: '0.040000' }]);
    expect(pricing.priceFor('gpt-5-nano-2025-08-07', undefined, new Date())?.id).toBe(priceId);
  });

  it('adds a newly shipped dated price on upgrade, in effect from its date and not before', async () => {
    // A database loaded before o3's price cut shipped: the cut row is missing.
    const history = list.filter((p) => p.model === 'o3' && !p.service_tier).sort((a, b) => a.effective_from.localeCompare(b.effective_from));
    const [before, cut] = history.slice(-2);
    await stack.db.query(`DELETE FROM prices WHERE model = 'o3' AND effective_from >= $1`, [cut.effective_from]);
    await pricing.reload();
    const change = new Date(cut.effective_from).getTime();
    const usage: MeteredUsage = { inputTokens: 10_000, cachedTokens: 2_000, audioInputTokens: 0, outputTokens: 3_000, reasoningTokens: 1_000 };
    expect(pricing.price('o3', undefined, new Date(change + 86_400_000), usage).costNanos).toBe(costNanos(priceFromList(before), usage));

    expect(await pricing.syncPriceList()).toBeGreaterThanOrEqual(1);
    const dayBefore = pricing.price('o3', undefined, new Date(change - 86_400_000), usage);
    const dayAfter = pricing.price('o3-2025-04-16', undefined, new Date(change + 86_400_000), usage);
    expect(dayBefore.costNanos).toBe(costNanos(priceFromList(before), usage));
    expect(dayAfter.costNanos).toBe(costNanos(priceFromList(cut), usage));
    expect(dayAfter.costNanos).toBeLessThan(dayBefore.costNanos!);
  });
});

describe('admin prices with the new components', () => {
  it('adds a price with per-image, per-call and long-context components and prices with them', async () => {
    const prices = {
      inputPerMtok: '1.00', outputPerMtok: '4.00', imageOutputPerMtok: '20.00',
      perImage: { '1024x1024/high': '0.17' }, perThousandCalls: { web_search: '10.00' },
      longContext: { aboveInputTokens: 100000, inputPerMtok: '2.00', cachedInputPerMtok: null, outputPerMtok: '6.00' },
    };
    const body = JSON.stringify({ model: 'house-model', effectiveFrom: '2026-01-01T00:00:00Z', prices, source: 'our contract' });
    const response = await api(stack, '/api/admin/prices', { method: 'POST', body });
    expect(response.status).toBe(201);
    const listed = (await (await api(stack, '/api/admin/prices?model=house-model')).json()) as Array<Record<string, unknown>>;
    expect(listed[0]).toMatchObject({ imageOutputPerMtok: '20.000000', perImage: prices.perImage, perThousandCalls: prices.perThousandCalls, longContext: prices.longContext });
    const usage: MeteredUsage = { inputTokens: 100_001, cachedTokens: 0, audioInputTokens: 0, outputTokens: 10, reasoningTokens: 0, toolCalls: { web_search: 2 } };
    // Long context: 100,001 × $2/1M + 10 × $6/1M, plus 2 × $10/1,000 = 200,002,000 + 60,000 + 20,000,000 nanos.
    expect(pricing.price('house-model', undefined, new Date(), usage).costNanos).toBe(200_002_000n + 60_000n + 20_000_000n);
    const bad = await api(stack, '/api/admin/prices', { method: 'POST', body: JSON.stringify({ model: 'house-model', effectiveFrom: '2026-02-01T00:00:00Z', prices: { perThousandCalls: { teleport: '1.00' } } }) });
    expect(bad.status).toBe(400);
  });
});

describe('pricing calls through the gateway', () => {
  it('prices a gpt-5 dated snapshot as the gpt-5 family', async () => {
    await stack.resetUsage();
    const result = await stack.client().chat.completions.create({ model: 'gpt-5-2025-08-07', messages: [{ role: 'user', content: 'Summarise the ledger.' }] });
    const event = await onlyEvent();
    expect(event.model).toBe('gpt-5-2025-08-07');
    expect(event.cost_nanos).toBe(costNanos(priceFromList(latest('gpt-5')), chatUsage(result.usage!))!.toString());
    const [price] = (await stack.db.query(`SELECT model FROM prices WHERE id = $1`, [event.price_id])).rows;
    expect(price.model).toBe('gpt-5');
  });

  it('prices a fine-tuned model at the fine-tuned rate of its base, and one without a published rate as unpriced', async () => {
    await stack.resetUsage();
    const model = 'ft:gpt-4o-mini-2024-07-18:acme:support:8Kq2xZ1p';
    const result = await stack.client().chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });
    const event = await onlyEvent();
    expect(event.model).toBe(model);
    expect(event.cost_nanos).toBe(costNanos(priceFromList(latest('ft:gpt-4o-mini-2024-07-18')), chatUsage(result.usage!))!.toString());
    expect(event.cost_nanos).not.toBe(costNanos(priceFromList(latest('gpt-4o-mini')), chatUsage(result.usage!))!.toString());

    await stack.resetUsage();
    await stack.client().chat.completions.create({ model: 'ft:gpt-4.1-nano-2025-04-14:acme::9Zy', messages: [{ role: 'user', content: 'hi' }] });
    const unpriced = await onlyEvent();
    expect(unpriced.input_tokens).toBeGreaterThan(0);
    expect(unpriced.cost_nanos).toBeNull();
  });

  it('prices flex and priority calls at their rows', async () => {
    for (const tier of ['flex', 'priority'] as const) {
      await stack.resetUsage();
      const result = await stack.client().chat.completions.create({ model: 'gpt-5', service_tier: tier, messages: [{ role: 'user', content: 'When you can.' }] });
      expect(result.service_tier).toBe(tier);
      const event = await onlyEvent();
      expect(event.service_tier).toBe(tier);
      expect(event.cost_nanos).toBe(costNanos(priceFromList(latest('gpt-5', tier)), chatUsage(result.usage!))!.toString());
    }
  });
});
