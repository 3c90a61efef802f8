// The batches API's shapes, shared by the server's validation and the dashboard (client/src/pages/batches.ts).
// Money is integer nano-dollars as a decimal string; engineers get the same rows without it.
import { z } from 'zod';
import { defineRoutes } from './route.js';

export const batchListQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(500).default(100),
    status: z.enum(['validating', 'in_progress', 'finalizing', 'completed', 'expired', 'cancelling', 'cancelled', 'failed']).optional(),
  })
  .strict();
export type BatchListQuery = z.infer<typeof batchListQuerySchema>;

/** POST /api/admin/batches/:id/meter: the org is needed only for a batch the gateway never saw created. */
export const meterBatchSchema = z.object({ org: z.string().min(1).max(256).optional() }).strict();
export type MeterBatchInput = z.infer<typeof meterBatchSchema>;

export const batchViewSchema = z.object({
  id: z.string(),
  orgId: z.string(),
  orgName: z.string().nullable(),
  featureId: z.string().nullable(),
  featureSlug: z.string().nullable(),
  endpoint: z.string().nullable(),
  status: z.string(),
  requestTotal: z.number().int(),
  requestCompleted: z.number().int(),
  requestFailed: z.number().int(),
  /** Output and error lines written to the ledger so far. */
  linesMetered: z.number().int(),
  /** Lines whose model has no batch price: cost unknown, never $0. */
  unpricedLines: z.number().int(),
  createdAt: z.string(),
  finalAt: z.string().nullable(),
  meteredAt: z.string().nullable(),
  nextPollAt: z.string(),
  lastError: z.string().nullable(),
  /** Absent for engineers. */
  costNanos: z.string().optional(),
});
export type BatchView = z.infer<typeof batchViewSchema>;

export const batchListSchema = z.object({ batches: z.array(batchViewSchema) });
export type BatchList = z.infer<typeof batchListSchema>;

export const batchRoutes = defineRoutes({
  listBatches: { method: 'GET', path: '/api/batches', summary: 'Batches seen through the gateway, with progress, line counts and (not for engineers) cost', roles: ['finance', 'engineer'], query: batchListQuerySchema, response: batchListSchema },
  meterBatch: { method: 'POST', path: '/api/admin/batches/:id/meter', summary: 'Meter a batch now (idempotent); org needed for a batch the gateway never saw created', roles: [], params: z.strictObject({ id: z.string().min(1).max(256) }), body: meterBatchSchema, response: batchViewSchema },
});
