// One /api route as data: its method and path (Nest's `:param` form), the zod schemas of what it takes
// and what it answers. Controllers validate with these schemas, /api/docs is generated from them
// (openapi.ts) and the dashboard types its calls with z.infer of them. Only zod here: client/ imports it.
import type { z } from 'zod';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface ApiRoute {
  method: HttpMethod;
  /** Full path as Nest registers it, `:id` for path parameters: `/api/admin/orgs/:id`. */
  path: string;
  summary: string;
  /** Who may call it, as the controller's @Roles says (admin always may); `public` for @Public routes. */
  roles: ReadonlyArray<'admin' | 'finance' | 'engineer'> | 'public';
  params?: z.ZodObject;
  query?: z.ZodType;
  body?: z.ZodType;
  /** The JSON answer; null: the route answers 204 with no body. */
  response: z.ZodType | null;
  /** Success status (default 200). */
  status?: number;
  /** The route (also, or only) answers text/csv. */
  csv?: 'only' | 'also';
}

/** Keeps each route's own schema types (for z.infer at call sites) while checking it is an ApiRoute. */
export const defineRoutes = <const T extends Record<string, ApiRoute>>(routes: T): T => routes;

/** What the client sends for a route (before parsing: dates as strings, numbers maybe as strings in a query). */
export type RequestBody<R extends ApiRoute> = R['body'] extends z.ZodType ? z.input<R['body']> : never;
export type QueryOf<R extends ApiRoute> = R['query'] extends z.ZodType ? z.input<R['query']> : never;
/** What the route answers, as JSON. */
export type ResponseOf<R extends ApiRoute> = R['response'] extends z.ZodType ? z.output<R['response']> : void;
