// The budgets API's shapes (/api/budgets): validated by the server, imported by the dashboard.
// Money is integer nano-dollars as decimal strings; amounts come in as exact decimal USD strings.
import { z } from 'zod';
import { defineRoutes } from './route.js';

const uuid = z.string().uuid();
/** An exact amount in USD: "250", "12.5", "0.000000001" (at most 9 decimals, at most $1e12). */
export const usdAmount = z
  .union([z.string(), z.number()])
  .transform((v) => String(v).trim())
  .pipe(z.string().regex(/^\d{1,12}(\.\d{1,9})?$/, 'must be a dollar amount with at most 9 decimals, e.g. 250 or 12.50'));
const timeZone = z
  .string()
  .max(64)
  .refine((tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  }, 'must be an IANA time zone such as UTC or Europe/Paris');
const thresholds = z.array(z.number().int().min(1).max(1000)).min(1).max(10);

export const createBudgetSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(100),
    orgId: uuid.optional(),
    featureId: uuid.optional(),
    scope: z.string().max(300).nullable().optional(),
    period: z.enum(['monthly', 'custom']).default('monthly'),
    timeZone: timeZone.default('UTC'),
    startsAt: z.string().datetime({ offset: true }).optional(),
    endsAt: z.string().datetime({ offset: true }).optional(),
    amountUsd: usdAmount,
    thresholds: thresholds.default([50, 80, 100]),
    forecastPercent: z.number().int().min(1).max(1000).nullable().default(100),
    enforcement: z.enum(['soft', 'hard']).default('soft'),
  })
  .refine((b) => b.orgId || b.featureId, { message: 'give orgId or featureId (what the budget is for)', path: ['orgId'] })
  .refine((b) => b.period === 'monthly' || (b.startsAt && b.endsAt && Date.parse(b.endsAt) > Date.parse(b.startsAt)), {
    message: 'a custom period needs startsAt and a later endsAt',
    path: ['startsAt'],
  });
export type CreateBudget = z.infer<typeof createBudgetSchema>;

export const updateBudgetSchema = z.strictObject({
  name: z.string().trim().min(1).max(100).optional(),
  timeZone: timeZone.optional(),
  amountUsd: usdAmount.optional(),
  thresholds: thresholds.optional(),
  forecastPercent: z.number().int().min(1).max(1000).nullable().optional(),
  enforcement: z.enum(['soft', 'hard']).optional(),
});
export type UpdateBudget = z.infer<typeof updateBudgetSchema>;

/** One budget with where it stands in its current period. */
export const budgetStatusSchema = z.object({
  id: uuid,
  name: z.string(),
  orgId: uuid.nullable(),
  orgName: z.string().nullable(),
  featureId: uuid.nullable(),
  featureSlug: z.string().nullable(),
  featureName: z.string().nullable(),
  scope: z.string().nullable(),
  period: z.enum(['monthly', 'custom']),
  timeZone: z.string(),
  /** 'feature': the feature's own monthly budget (admin UI, CLI --budget-usd), mirrored here. */
  origin: z.enum(['feature']).nullable(),
  amountNanos: z.string(),
  thresholds: z.array(z.number()),
  forecastPercent: z.number().nullable(),
  enforcement: z.enum(['soft', 'hard']),
  periodStart: z.string(),
  periodEnd: z.string(),
  spentNanos: z.string(),
  /** Spent as a percentage of the amount (one decimal); null for a zero amount. */
  percent: z.number().nullable(),
  forecastNanos: z.string(),
  /** How the forecast was made, in words ("linear on the last 7 days"). */
  forecastMethod: z.string(),
  /** When it runs out at the current pace: an ISO time, 'exhausted', or null (not within the period, or no spend). */
  runsOutAt: z.string().nullable(),
  exhausted: z.boolean(),
});
export type BudgetStatus = z.infer<typeof budgetStatusSchema>;
export const budgetListSchema = z.object({ budgets: z.array(budgetStatusSchema) });
export type BudgetList = z.infer<typeof budgetListSchema>;

export const featureForecastQuerySchema = z.strictObject({ tz: timeZone.default('UTC') });

/** Per feature, for finance: this month to date in the chosen zone, the month-end forecast (method stated), its budget. */
export const featureForecastSchema = z.object({
  featureId: z.string(),
  featureSlug: z.string(),
  featureName: z.string(),
  orgName: z.string(),
  monthStart: z.string(),
  monthEnd: z.string(),
  monthToDateNanos: z.string(),
  forecastNanos: z.string(),
  forecastMethod: z.string(),
  /** The feature's monthly budget (its own or the first feature-scoped one), with where it stands in its own period and zone. */
  budget: budgetStatusSchema.nullable(),
});
export type FeatureForecast = z.infer<typeof featureForecastSchema>;
export const featureForecastListSchema = z.object({ tz: z.string(), features: z.array(featureForecastSchema) });
export type FeatureForecastList = z.infer<typeof featureForecastListSchema>;

const budgetParams = z.strictObject({ id: uuid });

export const budgetRoutes = defineRoutes({
  listBudgets: { method: 'GET', path: '/api/budgets', summary: 'Every budget with its spend, forecast and run-out time in its current period', roles: ['finance'], response: budgetListSchema },
  budgetFeatures: { method: 'GET', path: '/api/budgets/features', summary: 'Per feature: month to date in ?tz=, the month-end forecast with its method, its budget', roles: ['finance'], query: featureForecastQuerySchema, response: featureForecastListSchema },
  createBudget: { method: 'POST', path: '/api/budgets', summary: 'Create a budget for an org or a feature (audited)', roles: [], body: createBudgetSchema, response: budgetStatusSchema, status: 201 },
  updateBudget: { method: 'PATCH', path: '/api/budgets/:id', summary: "Change a budget's name, amount, thresholds, forecast bound or enforcement (audited)", roles: [], params: budgetParams, body: updateBudgetSchema, response: budgetStatusSchema },
  deleteBudget: { method: 'DELETE', path: '/api/budgets/:id', summary: 'Delete a budget (audited)', roles: [], params: budgetParams, response: null, status: 204 },
});
