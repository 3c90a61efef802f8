// The Realtime activity API (GET /api/analytics/realtime): shared by the server's validation and the client.
// Usage only (sessions, responses, minutes, client secrets), no money: engineers may read it; the
// spend of those sessions is in every spend view under the `realtime` endpoint family.
import { z } from 'zod';
import { defineRoutes } from './route.js';

const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date, YYYY-MM-DD');

export const realtimeActivityQuerySchema = z
  .object({
    /** First day (UTC), inclusive. */
    from: day,
    /** Last day (UTC), exclusive. */
    to: day,
    feature: z.string().uuid().optional(),
  })
  .strict();
export type RealtimeActivityQuery = z.infer<typeof realtimeActivityQuerySchema>;

export const realtimeFeatureActivitySchema = z.object({
  featureId: z.string(),
  featureSlug: z.string(),
  /** WebSocket sessions relayed by the gateway (metered per response). */
  sessions: z.number().int(),
  /** Of those, still open now. */
  openSessions: z.number().int(),
  responses: z.number().int(),
  /** Summed duration of the closed sessions. */
  sessionSeconds: z.number(),
  /** Sessions ended by the gateway's bounds or shutdown rather than by either side. */
  endedByGateway: z.number().int(),
  /**
   * Ephemeral keys issued for browser WebRTC (POST /v1/realtime/client_secrets): their media flows
   * between the browser and OpenAI, so the gateway cannot meter it; reconciliation shows that spend.
   */
  clientSecrets: z.number().int(),
  /** SIP/WebRTC calls accepted through /v1/realtime/calls/{id}/accept: unmetered for the same reason. */
  callsAccepted: z.number().int(),
});

export const realtimeActivitySchema = z.object({
  from: day,
  to: day,
  features: z.array(realtimeFeatureActivitySchema),
});
export type RealtimeActivity = z.infer<typeof realtimeActivitySchema>;
export type RealtimeFeatureActivity = z.infer<typeof realtimeFeatureActivitySchema>;

export const realtimeRoutes = defineRoutes({
  realtimeActivity: { method: 'GET', path: '/api/analytics/realtime', summary: 'Realtime sessions, responses, minutes, WebRTC client secrets and SIP calls per feature (counts, no money)', roles: ['finance', 'engineer'], query: realtimeActivityQuerySchema, response: realtimeActivitySchema },
});
