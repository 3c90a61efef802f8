// The budget forecast and run-out time: integer nano-dollars, linear on the recent pace, method stated.
import { describe, expect, it } from 'vitest';
import type { BudgetRow } from '../../server/budgets/budgets.repository.js';
import { toStatus } from '../../server/budgets/budgets.service.js';

const DAY = 86_400_000;
function row(fields: Partial<BudgetRow> & { nowOffsetDays: number }): BudgetRow {
  const start = Date.parse('2026-11-01T00:00:00Z');
  const now = new Date(start + fields.nowOffsetDays * DAY);
  return {
    id: '00000000-0000-4000-8000-000000000001',
    name: 'b',
    org_id: null,
    org_name: null,
    feature_id: '00000000-0000-4000-8000-000000000002',
    feature_slug: 'f',
    feature_name: 'F',
    scope: null,
    period: 'monthly',
    time_zone: 'UTC',
    origin: null,
    amount_nanos: '30000000000', // $30
    thresholds: [50, 80, 100],
    forecast_percent: 100,
    enforcement: 'soft',
    period_start: new Date(start),
    period_end: new Date(start + 30 * DAY),
    now,
    spent_nanos: '0',
    open_from: now,
    spent_closed_nanos: '0',
    hour_start: now,
    spent_hour_nanos: '0',
    recent_nanos: '0',
    recent_ms: String(Math.min(7, fields.nowOffsetDays) * DAY),
    ...fields,
  };
}

describe('budget forecast', () => {
  it('extends the last 7 days linearly to the period end and says so', () => {
    // Day 10 of 30: $10 spent, $7 in the last 7 days ($1/day): $10 + 20 days × $1 = $30.
    const s = toStatus(row({ nowOffsetDays: 10, spent_nanos: '10000000000', recent_nanos: '7000000000' }));
    expect(s.forecastNanos).toBe('30000000000');
    expect(s.forecastMethod).toBe('linear on the last 7 days');
    expect(s.percent).toBe(33.3);
    // $20 left at $1/day: runs out 20 days on, at the period end exactly.
    expect(s.runsOutAt).toBe(new Date(Date.parse('2026-11-01T00:00:00Z') + 30 * DAY).toISOString());
    expect(s.exhausted).toBe(false);
  });

  it('with less history than 7 days uses what there is and says so; no spend means no run-out', () => {
    const s = toStatus(row({ nowOffsetDays: 3, spent_nanos: '3000000000', recent_nanos: '3000000000' }));
    expect(s.forecastMethod).toBe('linear on the last 3 days (all the history there is)');
    expect(s.forecastNanos).toBe('30000000000');
    expect(toStatus(row({ nowOffsetDays: 3 })).runsOutAt).toBeNull();
  });

  it('is exact in nano-dollars (no float) and marks an exhausted budget', () => {
    const s = toStatus(row({ nowOffsetDays: 7, amount_nanos: '1', spent_nanos: '3', recent_nanos: '3' }));
    expect(s.exhausted).toBe(true);
    expect(s.runsOutAt).toBe('exhausted');
    expect(s.percent).toBe(300);
    const big = toStatus(row({ nowOffsetDays: 7, amount_nanos: '9007199254740993000', spent_nanos: '9007199254740993', recent_nanos: '9007199254740993' }));
    expect(big.forecastNanos).toBe((9007199254740993n + (9007199254740993n * BigInt(23 * DAY)) / BigInt(7 * DAY)).toString());
  });
});
