// GET /api/admin/key-usage: which key carries each org's and feature's traffic, and when each key
// was last used (read from the ledger, looking back at most KEY_USAGE_LOOKBACK_HOURS).
import { z } from 'zod';
import { defineRoutes } from './route.js';

export const KEY_USAGE_LOOKBACK_HOURS = 24;

export const keyUsageSchema = z.object({
  id: z.string(),
  /** Calls go out (or come in) with this key now. */
  carrying: z.boolean(),
  /** The newest ledger row made with it in the lookback window; null: none seen. */
  lastUsedAt: z.iso.datetime().nullable(),
  /** A newer live key replaced this one (at that time): revoking it is safe once its traffic stopped. */
  supersededAt: z.iso.datetime().nullable(),
});

export const keyUsageResponseSchema = z.object({
  lookbackHours: z.number().int(),
  upstreamKeys: z.array(keyUsageSchema.extend({ orgId: z.string() })),
  gatewayKeys: z.array(keyUsageSchema.extend({ featureId: z.string() })),
});

export type KeyUsage = z.infer<typeof keyUsageSchema>;
export type KeyUsageResponse = z.infer<typeof keyUsageResponseSchema>;

export const keyUsageRoutes = defineRoutes({
  keyUsage: { method: 'GET', path: '/api/admin/key-usage', summary: "Which key carries each org's and feature's traffic, and when each key was last used", roles: ['admin'], response: keyUsageResponseSchema },
});
