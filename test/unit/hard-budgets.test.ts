// Which hours the replicas count in Redis for a hard budget (the rest come from the rollup).
import { describe, expect, it } from 'vitest';
import { openFromOf } from '../../server/budgets/hard-budgets.js';

const at = (iso: string) => new Date(iso);

describe('a hard budget’s open hours', () => {
  it('are the current hour, and the one before during its first two minutes', () => {
    expect(openFromOf({ open_from: at('2026-12-02T09:00:00Z'), period_start: at('2026-12-01T00:00:00Z') })).toBe(Date.parse('2026-12-02T09:00:00Z'));
  });

  it('never reach into the previous period: at 00:01 on the 1st, last month’s last hour is not this month’s', () => {
    // now() = 2027-01-01T00:01Z: the rollup's first open hour is 2026-12-31T23:00Z.
    expect(openFromOf({ open_from: at('2026-12-31T23:00:00Z'), period_start: at('2027-01-01T00:00:00Z') })).toBe(Date.parse('2027-01-01T00:00:00Z'));
  });

  it('start at the first whole UTC hour of a period that begins mid-hour, as the rollup counts it', () => {
    // Midnight in Asia/Kolkata is 18:30 UTC.
    expect(openFromOf({ open_from: at('2026-11-30T18:00:00Z'), period_start: at('2026-11-30T18:30:00Z') })).toBe(Date.parse('2026-11-30T19:00:00Z'));
  });
});
