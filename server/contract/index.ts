// The API contract: every /api route's request and response schemas, one file per area. The server
// validates with them, /api/docs is generated from them and client/ types its calls with them.
// Adding a route: docs/architecture.md, "API contract".
import type { ApiRoute } from './route.js';
import { analyticsRoutes } from './analytics.js';
import { attributionAdminRoutes, attributionAnalyticsRoutes } from './attribution.js';
import { authRoutes } from './auth.js';
import { alertRoutes } from './alerts.js';
import { batchRoutes } from './batches.js';
import { budgetRoutes } from './budgets.js';
import { keyUsageRoutes } from './key-usage.js';
import { realtimeRoutes } from './realtime.js';
import { moderationRoutes } from './moderation.js';
import { orgRoutes } from './orgs.js';
import { priceRoutes } from './prices.js';
import { rateLimitRoutes } from './ratelimits.js';
import { reconciliationRoutes } from './reconciliation.js';
import { statementRoutes } from './statements.js';
import { userRoutes } from './users.js';

export * from './alerts.js';
export * from './analytics.js';
export * from './attribution.js';
export * from './auth.js';
export * from './common.js';
export * from './csv.js';
export * from './errors.js';
export * from './key-usage.js';
export * from './batches.js';
export * from './budgets.js';
export * from './realtime.js';
export * from './moderation.js';
export * from './orgs.js';
export * from './prices.js';
export * from './ratelimits.js';
export * from './reconciliation.js';
export * from './route.js';
export * from './statements.js';
export * from './users.js';

/** Every /api route, by area (the tag /api/docs groups them under). A new area adds its line here. */
export const API_AREAS: Record<string, Record<string, ApiRoute>> = {
  auth: authRoutes,
  admin: { ...orgRoutes, ...keyUsageRoutes, ...userRoutes, ...priceRoutes, ...attributionAdminRoutes },
  analytics: { ...analyticsRoutes, ...statementRoutes, ...attributionAnalyticsRoutes },
  reconciliation: reconciliationRoutes,
  'rate limits': rateLimitRoutes,
  moderation: moderationRoutes,
  batches: batchRoutes,
  realtime: realtimeRoutes,
  budgets: budgetRoutes,
  alerts: alertRoutes,
};

export const API_ROUTES: ReadonlyArray<ApiRoute & { tag: string; name: string }> = Object.entries(API_AREAS).flatMap(([tag, routes]) =>
  Object.entries(routes).map(([name, route]) => ({ ...route, tag, name })),
);
