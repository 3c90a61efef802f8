import { z } from 'zod';

const MAX_RANGE_MS = 31 * 24 * 3_600_000;
const DEFAULT_RANGE_MS = 3_600_000;

const time = z.iso.datetime({ offset: true }).transform((v) => new Date(v));

/** A time range (default: the last hour, at most 31 days) and optional filters. */
export const rangeQuerySchema = z
  .strictObject({
    from: time.optional(),
    to: time.optional(),
    /** Tallygate org id (uuid) or OpenAI org id (`org-…`). */
    org: z.string().min(1).max(100).optional(),
    /** Feature id (uuid) or slug. */
    feature: z.string().min(1).max(100).optional(),
    /** Model or model family (`gpt-4o-2024-08-06` is read as `gpt-4o`). */
    model: z.string().min(1).max(200).optional(),
  })
  .transform((q) => {
    const to = q.to ?? new Date();
    const from = q.from ?? new Date(to.getTime() - DEFAULT_RANGE_MS);
    return { ...q, from, to };
  })
  .refine((q) => q.from < q.to, { message: 'from must be before to', path: ['from'] })
  .refine((q) => q.to.getTime() - q.from.getTime() <= MAX_RANGE_MS, { message: 'the range may span at most 31 days', path: ['from'] });

export const latestQuerySchema = z.strictObject({
  org: z.string().min(1).max(100).optional(),
  feature: z.string().min(1).max(100).optional(),
  model: z.string().min(1).max(200).optional(),
  /** For "closest to the limit": how many to return. */
  limit: z.coerce.number().int().min(1).max(500).default(10),
});

export type RangeQuery = z.infer<typeof rangeQuerySchema>;
export type LatestQuery = z.infer<typeof latestQuerySchema>;
