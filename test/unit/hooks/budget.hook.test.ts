import { describe, expect, it } from 'vitest';
import { BudgetHook } from '../../../server/gateway/hooks/budget.hook.js';
import { OpenAIError } from '../../../server/http/openai-error.js';
import type { MonthToDateSpend } from '../../../server/ledger/month-to-date.service.js';
import { hookedCall, route } from '../../support/calls.js';

function hook(spent: () => Promise<bigint>) {
  const asked: string[] = [];
  const spend = { featureNanos: (featureId: string) => (asked.push(featureId), spent()) } as unknown as MonthToDateSpend;
  return { hook: new BudgetHook(spend), asked };
}

describe('BudgetHook', () => {
  it('does not look anything up, nor return a promise, for a feature without a budget', () => {
    const { hook: budget, asked } = hook(async () => 0n);
    expect(budget.beforeForward(hookedCall())).toBeUndefined();
    expect(asked).toEqual([]);
  });

  it('lets a feature under its budget through', async () => {
    const { hook: budget, asked } = hook(async () => 999_999_999n);
    await expect(budget.beforeForward(hookedCall({ route: route({ monthlyBudgetNanos: 1_000_000_000 }) }))).resolves.toBeUndefined();
    expect(asked).toEqual(['feature-1']);
  });

  it('refuses a feature that spent its budget with 429 feature_budget_exceeded', async () => {
    const { hook: budget } = hook(async () => 1_500_000_000n);
    const refusal = await Promise.resolve(budget.beforeForward(hookedCall({ route: route({ monthlyBudgetNanos: 1_000_000_000 }) }))).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(OpenAIError);
    expect(refusal).toMatchObject({ status: 429, type: 'insufficient_quota', code: 'feature_budget_exceeded' });
    expect((refusal as Error).message).toContain('$1.50 of $1.00');
  });

  it('fails open when the spend cannot be read', async () => {
    const { hook: budget } = hook(async () => {
      throw new Error('Postgres is down');
    });
    await expect(budget.beforeForward(hookedCall({ route: route({ monthlyBudgetNanos: 1 }) }))).resolves.toBeUndefined();
  });
});
