// /api/analytics/reconciliation: the ledger beside OpenAI's usage and costs per org × day, the per-key
// drill-down and sync status (finance); an on-demand sync (admins). Money is nano-dollar strings.
import { z } from 'zod';
import { count, instant, nanos } from './common.js';
import { defineRoutes } from './route.js';
import { gapKind } from './statements.js';

const isoDay = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a UTC day, YYYY-MM-DD');

export const reportQuerySchema = z.strictObject({
  from: isoDay,
  /** Inclusive. */
  to: isoDay,
  org: z.string().uuid().optional(),
});
export type ReportQuery = z.infer<typeof reportQuerySchema>;

export const syncRequestSchema = z.strictObject({ orgId: z.string().uuid().optional() });

/** One side's numbers for an org × day (or × model, or × key). */
export const sideFiguresSchema = z.object({
  requests: count,
  inputTokens: count,
  cachedTokens: count,
  outputTokens: count,
  /** Nano-dollars as a decimal string. */
  costNanos: nanos,
});
export type SideFigures = z.infer<typeof sideFiguresSchema>;

export const ledgerFiguresSchema = sideFiguresSchema.extend({ estimatedRequests: count, estimatedCostNanos: nanos, unpricedRequests: count });
export type LedgerFigures = z.infer<typeof ledgerFiguresSchema>;

export type GapKind = z.infer<typeof gapKind>;

export const gapSchema = z.object({
  kind: gapKind,
  /** OpenAI minus ledger, in nano-dollars, that this cause accounts for. */
  nanos,
  model: z.string().optional(),
  detail: z.string(),
  /** outside_tallygate: the OpenAI key ids and what each spent. */
  keys: z.array(z.object({ apiKeyId: z.string(), requests: count, costNanos: nanos })).optional(),
  /** unmetered: the line item. */
  lineItem: z.string().optional(),
  /** price: USD per 1M tokens OpenAI's bill implies, beside Tallygate's (null: none). */
  impliedPrice: z.object({ input: z.string().nullable(), output: z.string().nullable() }).optional(),
});
export type Gap = z.infer<typeof gapSchema>;

export const modelLineSchema = z.object({
  model: z.string(),
  ledger: ledgerFiguresSchema,
  /** OpenAI's figures for calls made with the org's upstream keys in Tallygate. */
  openai: sideFiguresSchema,
  differenceNanos: nanos,
});
export type ModelLine = z.infer<typeof modelLineSchema>;

export const orgDayLineSchema = z.object({
  day: z.string(),
  orgId: z.string(),
  orgName: z.string(),
  ledger: ledgerFiguresSchema,
  /** Everything OpenAI billed the org that day: through Tallygate, outside it, and not metered per call. */
  openai: sideFiguresSchema,
  /** OpenAI minus ledger. */
  differenceNanos: nanos,
  /** Difference as a percentage of OpenAI's cost, two decimals; null when OpenAI's cost is 0. */
  differencePercent: z.string().nullable(),
  gaps: z.array(gapSchema),
  models: z.array(modelLineSchema),
  /** OpenAI's numbers for this day were last synced before it ended: calls after the sync are only in the ledger yet. */
  partial: z.boolean(),
});
export type OrgDayLine = z.infer<typeof orgDayLineSchema>;

export const syncStatusSchema = z.object({
  running: z.boolean(),
  bucketsDone: count,
  bucketsTotal: count,
  /** ISO time the running sync is expected to end, from its pace so far; null when idle or unknown. */
  eta: instant.nullable(),
  lastSuccessAt: instant.nullable(),
  lastError: z.string().nullable(),
  lastErrorAt: instant.nullable(),
  /** Oldest watermark across endpoints: OpenAI's numbers are complete up to here. */
  syncedUntil: instant.nullable(),
});
export type SyncStatus = z.infer<typeof syncStatusSchema>;

export const orgReconciliationStateSchema = z.object({
  orgId: z.string(),
  orgName: z.string(),
  /** false: no admin key, reconciliation is off for this org. */
  enabled: z.boolean(),
  /** Upstream keys without OpenAI's key id: their traffic cannot be told from traffic outside Tallygate. */
  keysWithoutOpenaiId: count,
  sync: syncStatusSchema,
});
export type OrgReconciliationState = z.infer<typeof orgReconciliationStateSchema>;

export const reconciliationReportSchema = z.object({
  from: z.string(),
  to: z.string(),
  orgs: z.array(orgReconciliationStateSchema),
  days: z.array(orgDayLineSchema),
  totals: z.object({ ledgerCostNanos: nanos, openaiCostNanos: nanos, differenceNanos: nanos }),
});
export type ReconciliationReport = z.infer<typeof reconciliationReportSchema>;

export const keyLineSchema = z.object({
  apiKeyId: z.string(),
  /** The Tallygate upstream key with this OpenAI id (masked), or null: outside Tallygate. */
  upstreamKey: z.object({ id: z.string(), masked: z.string(), label: z.string() }).nullable(),
  requests: count,
  inputTokens: count,
  outputTokens: count,
  costNanos: nanos,
});
export type KeyLine = z.infer<typeof keyLineSchema>;

export const syncStartedSchema = z.object({ started: z.literal(true), status: z.array(orgReconciliationStateSchema) });

export const reconciliationRoutes = defineRoutes({
  report: { method: 'GET', path: '/api/analytics/reconciliation', summary: "Per org × day (and model) the ledger beside OpenAI's usage and costs, the difference and its causes", roles: ['finance'], query: reportQuerySchema, response: reconciliationReportSchema },
  exportCsv: { method: 'GET', path: '/api/analytics/reconciliation/export.csv', summary: 'The report as CSV', roles: ['finance'], query: reportQuerySchema, response: z.string(), csv: 'only' },
  keys: { method: 'GET', path: '/api/analytics/reconciliation/keys', summary: "OpenAI's figures per API key id, with the Tallygate upstream key each is (org required)", roles: ['finance'], query: reportQuerySchema, response: z.array(keyLineSchema) },
  status: { method: 'GET', path: '/api/analytics/reconciliation/status', summary: "Per org: reconciliation on or off, and the sync's progress", roles: ['finance'], response: z.array(orgReconciliationStateSchema) },
  sync: { method: 'POST', path: '/api/admin/reconciliation/sync', summary: 'Start a sync now (one org or all); progress is in status', roles: ['admin'], body: syncRequestSchema, response: syncStartedSchema, status: 202 },
});
