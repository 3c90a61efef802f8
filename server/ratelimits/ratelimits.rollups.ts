// The headroom and throttling rollups, run by the ledger's batch insert over the rows it just wrote
// (`ins`). Rows of one batch that share a key are folded with GROUP BY first: one upsert per key.
// Rows are sent in key order so concurrent replicas lock conflicting rows in the same order.

/** Latest x-ratelimit-* values per org, model family and minute; an older observation never overwrites a newer one. */
const LATEST_COLUMNS = [
  'limit_requests',
  'remaining_requests',
  'reset_requests_ms',
  'limit_tokens',
  'remaining_tokens',
  'reset_tokens_ms',
  'limit_project_tokens',
  'remaining_project_tokens',
  'reset_project_tokens_ms',
] as const;

// Headers arrive with the first byte, not when the request started: that is when the values were true.
const OBSERVED_AT = `created_at + make_interval(secs => coalesce(ttfb_ms, latency_ms) / 1000.0)`;

const headroom = `ratelimit_minutes_rollup AS (
    INSERT INTO ratelimit_minutes AS r (minute, org_id, model, observed_at, ${LATEST_COLUMNS.join(', ')},
      min_remaining_requests, min_remaining_tokens, observations)
    SELECT date_trunc('minute', observed_at, 'UTC'), org_id, family, max(observed_at),
      ${LATEST_COLUMNS.map((c) => `(array_agg(rl_${c} ORDER BY observed_at DESC))[1]`).join(',\n      ')},
      min(rl_remaining_requests), min(rl_remaining_tokens), count(*)
    FROM (SELECT *, ${OBSERVED_AT} AS observed_at, model_family(model) AS family FROM ins
          WHERE org_id IS NOT NULL AND model IS NOT NULL
            AND (rl_limit_requests IS NOT NULL OR rl_limit_tokens IS NOT NULL)) seen
    GROUP BY 1, 2, 3
    ORDER BY 2, 3, 1
    ON CONFLICT (org_id, model, minute) DO UPDATE SET
      ${LATEST_COLUMNS.map((c) => `${c} = CASE WHEN excluded.observed_at >= r.observed_at THEN excluded.${c} ELSE r.${c} END`).join(',\n      ')},
      observed_at = greatest(r.observed_at, excluded.observed_at),
      min_remaining_requests = least(r.min_remaining_requests, excluded.min_remaining_requests),
      min_remaining_tokens = least(r.min_remaining_tokens, excluded.min_remaining_tokens),
      observations = r.observations + excluded.observations
  )`;

/** 429s by kind, the gateway's own pacing 429s and SDK retries per org, feature, model family and minute. */
const throttling = `throttle_minutes_rollup AS (
    INSERT INTO throttle_minutes AS t (minute, org_id, feature_id, model, requests, rate_limit_requests,
      rate_limit_tokens, request_too_large, quota, paced, retries)
    SELECT date_trunc('minute', created_at, 'UTC'), org_id, feature_id, model_family(model), count(*),
      count(*) FILTER (WHERE error_kind = 'rate_limit_requests'),
      count(*) FILTER (WHERE error_kind = 'rate_limit_tokens'),
      count(*) FILTER (WHERE error_kind = 'request_too_large'),
      count(*) FILTER (WHERE error_kind = 'quota'),
      count(*) FILTER (WHERE error_kind = 'paced'),
      count(*) FILTER (WHERE retry_count > 0)
    FROM ins WHERE org_id IS NOT NULL
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (minute, org_id, feature_id, model) DO UPDATE SET
      requests = t.requests + excluded.requests,
      rate_limit_requests = t.rate_limit_requests + excluded.rate_limit_requests,
      rate_limit_tokens = t.rate_limit_tokens + excluded.rate_limit_tokens,
      request_too_large = t.request_too_large + excluded.request_too_large,
      quota = t.quota + excluded.quota,
      paced = t.paced + excluded.paced,
      retries = t.retries + excluded.retries
  )`;

export const RATELIMIT_ROLLUPS: readonly string[] = [headroom, throttling];
