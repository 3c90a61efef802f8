// Budgets: where each stands in its period (spent, forecast, when it runs out). The hard ones'
// verdicts for the gateway are kept in memory by HardBudgets (./hard-budgets.ts).
import { Injectable } from '@nestjs/common';
import { notFound } from '../http/openai-error.js';
import type { BudgetStatus, CreateBudget, FeatureForecastList, UpdateBudget } from '../contract/budgets.js';
import { decimalToScaled } from '../pricing/cost.js';
import { BudgetsRepository, type BudgetRow } from './budgets.repository.js';
import { HardBudgets } from './hard-budgets.js';

const DAY_MS = 86_400_000;

/** Budgets for finance and admins: where each stands in its period, its forecast, and changes (enforced by HardBudgets). */
@Injectable()
export class BudgetsService {
  constructor(
    private readonly repository: BudgetsRepository,
    private readonly hard: HardBudgets,
  ) {}

  async list(): Promise<BudgetStatus[]> {
    return (await this.repository.status()).map(toStatus);
  }

  /** Per feature: month to date in `tz`, the month-end forecast and its method, and its budget. */
  async featureForecasts(tz: string): Promise<FeatureForecastList> {
    const [rows, budgets] = await Promise.all([this.repository.featureMonths(tz), this.list()]);
    return {
      tz,
      features: rows.map((r) => {
        const p = pace(r, null);
        const own = budgets.filter((b) => b.featureId === r.id && b.period === 'monthly' && !b.scope);
        return {
          featureId: r.id,
          featureSlug: r.slug,
          featureName: r.name,
          orgName: r.org_name,
          monthStart: new Date(r.period_start).toISOString(),
          monthEnd: new Date(r.period_end).toISOString(),
          monthToDateNanos: r.spent_nanos,
          forecastNanos: p.forecast.toString(),
          forecastMethod: p.method,
          budget: own.find((b) => b.origin === 'feature') ?? own[0] ?? null,
        };
      }),
    };
  }

  async get(id: string): Promise<BudgetStatus> {
    const [row] = await this.repository.status([id]);
    if (!row) throw notFound(`No budget ${id}.`);
    return toStatus(row);
  }

  async create(input: CreateBudget): Promise<BudgetStatus> {
    const id = await this.repository.create({
      name: input.name,
      orgId: input.orgId ?? null,
      featureId: input.featureId ?? null,
      scope: input.scope ?? null,
      period: input.period,
      timeZone: input.timeZone,
      startsAt: input.period === 'custom' ? input.startsAt! : null,
      endsAt: input.period === 'custom' ? input.endsAt! : null,
      amountNanos: decimalToScaled(input.amountUsd, 9),
      thresholds: [...new Set(input.thresholds)].sort((a, b) => a - b),
      forecastPercent: input.forecastPercent,
      enforcement: input.enforcement,
    });
    await this.hard.changed();
    return this.get(id);
  }

  async update(id: string, patch: UpdateBudget): Promise<BudgetStatus> {
    const found = await this.repository.update(id, {
      name: patch.name,
      timeZone: patch.timeZone,
      amountNanos: patch.amountUsd === undefined ? undefined : decimalToScaled(patch.amountUsd, 9),
      thresholds: patch.thresholds && [...new Set(patch.thresholds)].sort((a, b) => a - b),
      forecastPercent: patch.forecastPercent,
      enforcement: patch.enforcement,
    });
    if (!found) throw notFound(`No budget ${id}.`);
    await this.hard.changed();
    return this.get(id);
  }

  async remove(id: string): Promise<void> {
    if (!(await this.repository.remove(id))) throw notFound(`No budget ${id}.`);
    await this.hard.changed();
  }
}

/**
 * The forecast: what was spent, plus the recent pace (spend over the last 7 days, or since the first
 * spend when the history is shorter) for the rest of the period; and, given an amount, when it runs out at that pace. Integer nano-dollars.
 */
function pace(r: { spent_nanos: string; recent_nanos: string; recent_ms: string; now: Date; period_end: Date }, amount: bigint | null) {
  const spent = BigInt(r.spent_nanos);
  const recent = BigInt(r.recent_nanos);
  const recentMs = BigInt(r.recent_ms);
  const now = new Date(r.now).getTime();
  const left = BigInt(Math.max(0, new Date(r.period_end).getTime() - now));
  const forecast = recentMs > 0n ? spent + (recent * left) / recentMs : spent;
  const days = Number(recentMs) / DAY_MS;
  const method =
    days >= 6.99 ? 'linear on the last 7 days' : days >= 1 ? `linear on the last ${Math.floor(days)} days (all the history there is)` : 'linear on the last hours (all the history there is)';
  let runsOutAt: string | null = null;
  if (amount !== null) {
    if (spent >= amount) runsOutAt = 'exhausted';
    else if (recent > 0n && recentMs > 0n) {
      const msLeft = ((amount - spent) * recentMs) / recent;
      if (msLeft <= left) runsOutAt = new Date(now + Number(msLeft)).toISOString();
    }
  }
  return { spent, forecast, method, runsOutAt };
}

/** Spent, forecast (linear on the recent pace) and when it runs out, all in integer nano-dollars. */
export function toStatus(r: BudgetRow): BudgetStatus {
  const amount = BigInt(r.amount_nanos);
  const { spent, forecast, method, runsOutAt } = pace(r, amount);
  return {
    id: r.id,
    name: r.name,
    orgId: r.org_id,
    orgName: r.org_name,
    featureId: r.feature_id,
    featureSlug: r.feature_slug,
    featureName: r.feature_name,
    scope: r.scope,
    period: r.period,
    timeZone: r.time_zone,
    origin: r.origin,
    amountNanos: amount.toString(),
    thresholds: r.thresholds.map(Number),
    forecastPercent: r.forecast_percent,
    enforcement: r.enforcement,
    periodStart: new Date(r.period_start).toISOString(),
    periodEnd: new Date(r.period_end).toISOString(),
    spentNanos: spent.toString(),
    percent: amount === 0n ? null : Number((spent * 1000n) / amount) / 10,
    forecastNanos: forecast.toString(),
    forecastMethod: method,
    runsOutAt,
    exhausted: spent >= amount,
  };
}
