// Query parameters of the analytics API. Strict: an unknown parameter is a 400 naming it.
import { z } from 'zod';
import { tagName, tagValue } from '../contract/attribution.js';
import { ENDPOINT_FAMILIES } from './endpoint-family.js';

/** `family`: the endpoint's family (chat, responses, embeddings, images, speech, transcription, other). */
/** `tag`: the values of the tag named by `tag=` (top `top` + other + untagged); `endUser`: the request's `user` / `safety_identifier`. */
export const DIMENSIONS = ['org', 'feature', 'model', 'endpoint', 'family', 'tag', 'endUser'] as const;
export type Dimension = (typeof DIMENSIONS)[number];
export const INTERVALS = ['hour', 'day', 'month'] as const;
export type Interval = (typeof INTERVALS)[number];

/** A date (2025-03-01) or local date-time (2025-03-01T08:00) read in `tz`, or an instant with Z or an offset. */
const TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}:?\d{2})?$/;
export const timeParam = z
  .string()
  .regex(TIME, 'expected a date (2025-03-01), a local date-time (2025-03-01T08:00) or an instant (2025-03-01T08:00:00Z)');

/** Repeated (?org=a&org=b) or comma-separated (?org=a,b). */
const list = <T extends z.ZodType<string, string>>(item: T) =>
  z
    .union([z.string(), z.array(z.string())])
    .transform((v) => (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean))
    .pipe(z.array(item).max(100));

const tz = z.string().min(1).max(64).default('UTC');

/**
 * Orgs and features by id or by a name people type and share in URLs: a feature's slug
 * (customer-service-chatbot), an org's name or OpenAI org id. AnalyticsService.resolveFilters turns
 * them into ids; an unknown one is a 400 naming it.
 */
const ref = z.string().min(1).max(200);
export const filterParams = {
  org: list(ref).optional(),
  feature: list(ref).optional(),
  model: list(z.string().min(1).max(200)).optional(),
  endpoint: list(z.string().min(1).max(100)).optional(),
  family: list(z.enum(ENDPOINT_FAMILIES)).optional(),
};

/**
 * Attribution (docs/attribution.md): `tag` names the tag that `groupBy=tag` groups by and
 * `tagValue` filters on; `endUser` filters on end users. One of the two per query.
 */
export const attributionParams = {
  tag: tagName.optional(),
  tagValue: list(tagValue).optional(),
  endUser: list(tagValue).optional(),
  /** Grouped by a tag or end user: the `top` values by spend (by requests without money), the rest as "(other)". */
  top: z.coerce.number().int().min(1).max(100).optional(),
};

export const usageQuerySchema = z.strictObject({
  from: timeParam,
  to: timeParam,
  tz,
  interval: z.enum(INTERVALS).optional(),
  groupBy: list(z.enum(DIMENSIONS)).pipe(z.array(z.enum(DIMENSIONS)).max(3)).optional(),
  ...filterParams,
  ...attributionParams,
});
export type UsageQueryInput = z.infer<typeof usageQuerySchema>;

export const monthToDateQuerySchema = z.strictObject({
  tz,
  groupBy: z.enum(['org', 'feature']).default('feature'),
  /** The instant "now" is taken to be (default: now); must be an instant with Z or an offset. */
  asOf: z.iso.datetime({ offset: true, message: 'expected an instant such as 2025-03-14T12:00:00Z' }).optional(),
  org: filterParams.org,
  feature: filterParams.feature,
});
export type MonthToDateQueryInput = z.infer<typeof monthToDateQuerySchema>;

export const statementQuerySchema = z.strictObject({
  org: z.uuid({ message: 'expected an org id (uuid)' }),
  month: z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'expected a month such as 2025-03'),
  tz,
  format: z.enum(['json', 'csv']).default('json'),
});
export type StatementQueryInput = z.infer<typeof statementQuerySchema>;

export const eventsExportQuerySchema = z.strictObject({
  from: timeParam,
  to: timeParam,
  tz,
  ...filterParams,
  tag: attributionParams.tag,
  tagValue: attributionParams.tagValue,
  endUser: attributionParams.endUser,
});
export type EventsExportQueryInput = z.infer<typeof eventsExportQuerySchema>;
