import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Statement } from '../../server/analytics/statement.types.js';
import { costNanos } from '../../server/pricing/cost.js';
import { PricingService } from '../../server/pricing/pricing.service.js';
import { startStack, type Stack } from '../support/stack.js';
import { api, getJson, usageEvent, writeEvents } from './analytics-fixtures.js';

let stack: Stack;
let pricing: PricingService;

const usage = (i: number) => ({ inputTokens: 1000 + i, cachedTokens: 100, audioInputTokens: 0, outputTokens: 200 + i, reasoningTokens: 0 });

beforeAll(async () => {
  stack = await startStack();
  pricing = stack.app.get(PricingService);
  const events = [];
  // gpt-4o-mini (and a dated snapshot of it) in Feb, March and April; gpt-4o in March; the priority tier in March.
  const cases = [
    ['gpt-4o-mini', '2025-02-27T10:00:00Z', null],
    ['gpt-4o-mini', '2025-02-28T23:59:59Z', null],
    ['gpt-4o-mini', '2025-03-01T00:00:00Z', null],
    ['gpt-4o-mini', '2025-03-15T08:20:00Z', null],
    ['gpt-4o-mini-2024-07-18', '2025-03-20T12:00:00Z', null],
    ['gpt-4o-mini', '2025-03-31T23:59:59Z', null],
    ['gpt-4o-mini', '2025-04-01T00:00:00Z', null],
    ['gpt-4o', '2025-03-10T10:00:00Z', null],
    ['gpt-4o', '2025-03-10T10:30:00Z', 'priority'],
  ] as const;
  for (const [i, [model, at, tier]] of cases.entries()) {
    const createdAt = new Date(at);
    const priced = pricing.price(model, tier ?? undefined, createdAt, usage(i));
    events.push(
      usageEvent({
        createdAt,
        model,
        serviceTier: tier,
        orgId: stack.orgs[0].id,
        featureId: stack.features[0].id,
        ...usage(i),
        costNanos: priced.costNanos!.toString(),
        priceId: priced.priceId,
      }),
    );
  }
  await writeEvents(stack, events);
});
afterAll(() => stack?.close());

const snapshot = async () =>
  new Map(
    (await stack.db.query(`SELECT id, model, created_at, cost_nanos, price_id FROM usage_events`)).rows.map((r) => [r.id as string, r]),
  );

describe('correcting a price for a past period', () => {
  it('re-costs exactly the affected events, rebuilds their rollups, shows on the statement and is audited', async () => {
    const before = await snapshot();
    const statementBefore = await getJson<Statement>(stack, `/api/analytics/statements?org=${stack.orgs[0].id}&month=2025-03`);

    const correction = { model: 'gpt-4o-mini', from: '2025-03-01T00:00:00Z', to: '2025-04-01T00:00:00Z', reason: 'OpenAI invoice shows a promo rate for March', prices: { inputPerMtok: '0.30', cachedInputPerMtok: '0.15', outputPerMtok: '1.20' } };
    const response = await api(stack, '/api/admin/prices/corrections', { method: 'POST', body: JSON.stringify(correction) });
    expect(response.status).toBe(200);
    const result = (await response.json()) as { priceId: number; restoredPriceId: number; eventsRecosted: number; costBeforeNanos: string; costAfterNanos: string };

    const after = await snapshot();
    const changed = [...after.values()].filter((r) => before.get(r.id)!.cost_nanos !== r.cost_nanos || before.get(r.id)!.price_id !== r.price_id);
    expect(changed.map((r) => `${r.model} ${(r.created_at as Date).toISOString()}`).sort()).toEqual([
      'gpt-4o-mini 2025-03-01T00:00:00.000Z',
      'gpt-4o-mini 2025-03-15T08:20:00.000Z',
      'gpt-4o-mini 2025-03-31T23:59:59.000Z',
      'gpt-4o-mini-2024-07-18 2025-03-20T12:00:00.000Z',
    ]);
    expect(result.eventsRecosted).toBe(4);
    const newPrice = { inputPerMtok: '0.30', cachedInputPerMtok: '0.15', outputPerMtok: '1.20', audioInputPerMtok: null, perAudioMinute: null };
    for (const row of changed) {
      const { rows } = await stack.db.query(`SELECT input_tokens, cached_tokens, output_tokens FROM usage_events WHERE id = $1`, [row.id]);
      const u = { inputTokens: rows[0].input_tokens, cachedTokens: rows[0].cached_tokens, audioInputTokens: 0, outputTokens: rows[0].output_tokens, reasoningTokens: 0 };
      expect(row.cost_nanos).toBe(costNanos(newPrice, u)!.toString());
      expect(row.price_id).toBe(result.priceId);
    }
    const sum = (rows: Iterable<{ cost_nanos: string }>) => [...rows].reduce((s, r) => s + BigInt(r.cost_nanos), 0n);
    expect(result.costAfterNanos).toBe(sum(changed).toString());
    expect(result.costBeforeNanos).toBe(sum(changed.map((r) => before.get(r.id)!)).toString());

    // Rollups still agree with the ledger.
    const scan = `SELECT date_trunc('hour', created_at, 'UTC'), org_id, feature_id, model, endpoint, price_id, count(*), coalesce(sum(cost_nanos), 0) FROM usage_events GROUP BY 1, 2, 3, 4, 5, 6`;
    const rollup = `SELECT hour, org_id, feature_id, model, endpoint, price_id, requests, cost_nanos FROM usage_hourly`;
    expect((await stack.db.query(`(${scan} EXCEPT ${rollup}) UNION ALL (${rollup} EXCEPT ${scan})`)).rows).toEqual([]);
    const daily = `SELECT day, org_id, feature_id, model, endpoint, price_id, requests, cost_nanos FROM usage_daily`;
    const dayScan = scan.replace("'hour'", "'day'");
    expect((await stack.db.query(`(${dayScan} EXCEPT ${daily}) UNION ALL (${daily} EXCEPT ${dayScan})`)).rows).toEqual([]);

    const statement = await getJson<Statement>(stack, `/api/analytics/statements?org=${stack.orgs[0].id}&month=2025-03`);
    expect(BigInt(statement.total.costNanos) - BigInt(statementBefore.total.costNanos)).toBe(BigInt(result.costAfterNanos) - BigInt(result.costBeforeNanos));
    const lines = statement.lines.filter((l) => l.model?.startsWith('gpt-4o-mini'));
    expect(lines.every((l) => l.unitPrices?.priceId === result.priceId && l.unitPrices.inputPerMtok === '0.300000')).toBe(true);

    // After the period the old price applies again, for new calls too.
    const april = pricing.priceFor('gpt-4o-mini', undefined, new Date('2025-04-02T00:00:00Z'))!;
    expect(april.id).toBe(result.restoredPriceId);
    expect(april.inputPerMtok).toBe('0.150000');
    expect(pricing.priceFor('gpt-4o-mini', undefined, new Date('2025-03-02T00:00:00Z'))!.id).toBe(result.priceId);

    const [audit] = (await stack.db.query(`SELECT actor, action, details FROM audit_log WHERE action = 'price.correct'`)).rows;
    expect(audit.details).toMatchObject({ model: 'gpt-4o-mini', eventsRecosted: 4, reason: correction.reason, newPrices: { inputPerMtok: '0.30' } });
    expect(audit.details.previousPrices[0]).toMatchObject({ inputPerMtok: '0.150000', outputPerMtok: '0.600000' });
    expect(audit.actor).toBeTruthy();

    const list = (await getJson<Array<{ id: number; retiredAt: string | null }>>(stack, '/api/admin/prices?model=gpt-4o-mini&includeRetired=true'));
    const active = list.filter((p) => p.retiredAt === null).map((p) => p.id);
    // The shipped price started before the period: it still governs February, nothing is retired.
    expect(active).toEqual(expect.arrayContaining([result.priceId, result.restoredPriceId, before.get(changed[0].id)!.price_id]));
    expect(list.filter((p) => p.retiredAt !== null)).toEqual([]);

    // Correcting the same period again retires the first correction.
    const again = await api(stack, '/api/admin/prices/corrections', { method: 'POST', body: JSON.stringify({ ...correction, prices: { ...correction.prices, inputPerMtok: '0.20' } }) });
    const second = (await again.json()) as { priceId: number; retiredPriceIds: number[]; restoredPriceId: number | null; eventsRecosted: number };
    expect(second).toMatchObject({ retiredPriceIds: [result.priceId], restoredPriceId: null, eventsRecosted: 4 });
    expect((await stack.db.query(`SELECT DISTINCT price_id FROM usage_events WHERE id = ANY($1::uuid[])`, [changed.map((r) => r.id)])).rows).toEqual([{ price_id: second.priceId }]);
  });

  it('refuses a correction whose period is backwards, saying so', async () => {
    const response = await api(stack, '/api/admin/prices/corrections', {
      method: 'POST',
      body: JSON.stringify({ model: 'gpt-4o', from: '2025-04-01T00:00:00Z', to: '2025-03-01T00:00:00Z', reason: 'oops', prices: { inputPerMtok: '1' } }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(/from must be before to/);
  });

  it('adds an effective-dated price and refuses a duplicate start', async () => {
    const body = JSON.stringify({ model: 'mystery-model', effectiveFrom: '2026-01-01T00:00:00Z', prices: { inputPerMtok: '1.00', outputPerMtok: '2.00' } });
    expect((await api(stack, '/api/admin/prices', { method: 'POST', body })).status).toBe(201);
    expect((await api(stack, '/api/admin/prices', { method: 'POST', body })).status).toBe(409);
    expect(pricing.priceFor('mystery-model', undefined, new Date('2026-02-01T00:00:00Z'))?.outputPerMtok).toBe('2.000000');
  });
});
