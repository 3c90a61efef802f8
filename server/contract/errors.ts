// GET /api/throttling/errors: failed calls by kind per org and feature, with the episodes they
// came in (a run of minutes with failures; a quiet spell of EPISODE_GAP_MINUTES ends one).
// Shared by the server (validation, docs) and the dashboard (types).
import { z } from 'zod';

/** Who has to act: billing (credit), the upstream key, OpenAI's servers, the gateway, limits, the caller. */
export const ERROR_CLASSES = ['billing', 'upstream_auth', 'upstream_5xx', 'gateway', 'rate_limit', 'request'] as const;
export const errorClassSchema = z.enum(ERROR_CLASSES);
export type ErrorClass = z.infer<typeof errorClassSchema>;

/** A quiet spell this long (minutes without a failure of the kind) ends an episode. */
export const EPISODE_GAP_MINUTES = 5;

export const errorEpisodeSchema = z.object({
  /** The first minute with a failure (UTC, to the minute). */
  start: z.iso.datetime(),
  /** The last minute with a failure, plus one minute. */
  end: z.iso.datetime(),
  failures: z.number().int(),
  /** Still going: its last failure is within EPISODE_GAP_MINUTES of the range's end. */
  ongoing: z.boolean(),
});

export const errorGroupSchema = z.object({
  org: z.object({ id: z.string(), name: z.string(), openaiOrgId: z.string() }),
  feature: z.object({ id: z.string().nullable(), slug: z.string().nullable(), name: z.string().nullable() }),
  kind: errorClassSchema,
  failures: z.number().int(),
  /** All calls of this org and feature in the range (ok or not): the share's denominator. */
  requests: z.number().int(),
  /** The most frequent upstream status, error type and code of these failures. */
  status: z.number().int(),
  errorType: z.string().nullable(),
  errorCode: z.string().nullable(),
  /** What it means and what to do, in a sentence. */
  explanation: z.string(),
  episodes: z.array(errorEpisodeSchema),
});

export const errorsResponseSchema = z.object({
  from: z.iso.datetime(),
  to: z.iso.datetime(),
  episodeGapMinutes: z.number().int(),
  data: z.array(errorGroupSchema),
});

export type ErrorEpisode = z.infer<typeof errorEpisodeSchema>;
export type ErrorGroup = z.infer<typeof errorGroupSchema>;
export type ErrorsResponse = z.infer<typeof errorsResponseSchema>;

/** Recent failures of one org (the headroom table's "state"): the last RECENT_MINUTES. */
export const RECENT_MINUTES = 15;
export const orgStateSchema = z.object({
  state: z.enum(['ok', 'billing', 'upstream_auth', 'upstream_5xx', 'idle']),
  requests: z.number().int(),
  failures: z.number().int(),
  /** When the current failing state's first failure in the window was seen. */
  since: z.iso.datetime().nullable(),
});
export type OrgState = z.infer<typeof orgStateSchema>;
