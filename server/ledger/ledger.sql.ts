// The ledger's write statement: one round trip inserts a batch of usage events (idempotently:
// a batch written again after a failed attempt adds nothing) and folds exactly the rows that
// were inserted into the rollups (server/ledger/rollups.ts), so rollups and ledger cannot drift apart.
import { NO_ORG } from './no-org.js';
import { rollupCtes, ROLLUPS, type Rollup } from './rollups.js';
import type { UsageEvent } from './usage-event.js';

type Column = readonly [name: string, pgType: string, value: (e: UsageEvent) => unknown];

const COLUMNS: readonly Column[] = [
  ['id', 'uuid', (e) => e.id],
  ['created_at', 'timestamptz', (e) => e.createdAt.toISOString()],
  ['org_id', 'uuid', (e) => e.orgId ?? NO_ORG],
  ['feature_id', 'uuid', (e) => e.featureId],
  ['gateway_key_id', 'uuid', (e) => e.gatewayKeyId],
  ['endpoint', 'text', (e) => e.endpoint],
  ['model', 'text', (e) => e.model],
  ['service_tier', 'text', (e) => e.serviceTier],
  ['streamed', 'boolean', (e) => e.streamed],
  ['status', 'smallint', (e) => e.status],
  ['outcome', 'text', (e) => e.outcome],
  ['error_kind', 'text', (e) => e.errorKind],
  ['error_type', 'text', (e) => e.errorType],
  ['error_code', 'text', (e) => e.errorCode],
  ['input_tokens', 'integer', (e) => e.inputTokens],
  ['cached_tokens', 'integer', (e) => e.cachedTokens],
  ['output_tokens', 'integer', (e) => e.outputTokens],
  ['reasoning_tokens', 'integer', (e) => e.reasoningTokens],
  ['audio_input_tokens', 'integer', (e) => e.audioInputTokens],
  ['audio_seconds', 'numeric', (e) => e.audioSeconds],
  ['audio_source', 'text', (e) => e.audioSource],
  ['usage_source', 'text', (e) => e.usageSource],
  ['cost_nanos', 'bigint', (e) => e.costNanos],
  ['price_id', 'integer', (e) => e.priceId],
  ['latency_ms', 'integer', (e) => e.latencyMs],
  ['ttfb_ms', 'integer', (e) => e.ttfbMs],
  ['upstream_request_id', 'text', (e) => e.upstreamRequestId],
  ['retry_count', 'smallint', (e) => e.retryCount],
  ['rl_limit_requests', 'integer', (e) => e.rateLimits.limitRequests ?? null],
  ['rl_remaining_requests', 'integer', (e) => e.rateLimits.remainingRequests ?? null],
  ['rl_reset_requests_ms', 'integer', (e) => e.rateLimits.resetRequestsMs ?? null],
  ['rl_limit_tokens', 'bigint', (e) => e.rateLimits.limitTokens ?? null],
  ['rl_remaining_tokens', 'bigint', (e) => e.rateLimits.remainingTokens ?? null],
  ['rl_reset_tokens_ms', 'integer', (e) => e.rateLimits.resetTokensMs ?? null],
  ['rl_limit_project_tokens', 'bigint', (e) => e.rateLimits.limitProjectTokens ?? null],
  ['rl_remaining_project_tokens', 'bigint', (e) => e.rateLimits.remainingProjectTokens ?? null],
  ['rl_reset_project_tokens_ms', 'integer', (e) => e.rateLimits.resetProjectTokensMs ?? null],
  ['clamped', 'text', (e) => e.clamped ?? null],
  ['audio_output_tokens', 'integer', (e) => e.audioOutputTokens ?? 0],
  ['image_input_tokens', 'integer', (e) => e.imageInputTokens ?? 0],
  ['image_output_tokens', 'integer', (e) => e.imageOutputTokens ?? 0],
  ['characters', 'integer', (e) => e.characters ?? null],
  ['image_count', 'integer', (e) => e.imageCount ?? null],
  ['image_spec', 'text', (e) => e.imageSpec ?? null],
  ['web_search_calls', 'integer', (e) => e.webSearchCalls ?? 0],
  ['web_search_preview_calls', 'integer', (e) => e.webSearchPreviewCalls ?? 0],
  ['file_search_calls', 'integer', (e) => e.fileSearchCalls ?? 0],
  ['moderation_flagged', 'boolean', (e) => e.moderation?.flaggedDefault ?? null],
  ['moderation_policy_flagged', 'boolean', (e) => e.moderation?.flaggedPolicy ?? null],
  ['moderation_categories', 'text', (e) => (e.moderation ? e.moderation.categories.join(',') : null)],
  ['moderation_scores', 'text', (e) => (e.moderation ? scoresText(e.moderation.scores) : null)],
  ['moderation_input', 'text', (e) => e.moderation?.input ?? null],
  ['guardrail', 'text', (e) => e.guardrail ?? null],
  ['linked_event_id', 'uuid', (e) => e.linkedEventId ?? null],
  ['end_user', 'text', (e) => e.endUser ?? null],
  ['tags', 'jsonb', (e) => (e.tags ? JSON.stringify(e.tags) : null)],
];

/** `violence=0.9312,hate=0.51`: the policy's flagged categories with their scores (4 decimals). */
function scoresText(scores: Record<string, number>): string {
  return Object.entries(scores)
    .map(([category, score]) => `${category}=${score.toFixed(4)}`)
    .join(',');
}

/**
 * The columns written, which are also what the rollups read of a ledger row (`ins`): org_id as
 * stored (NO_ORG for no org), so the rollups key "no org" by the sentinel too and can be
 * distributed by org with the ledger; the analytics queries read it back as NULL
 * (server/analytics/rollups.repository.ts).
 */
const NAMES = COLUMNS.map(([name]) => name).join(', ');

// ON CONFLICT without a target: a retried event has the same id, time and org as its first write
// (the primary key, org_id first), so it adds nothing.
export const INSERT_BATCH_SQL = `
WITH ins AS (
  INSERT INTO usage_events (${NAMES})
  SELECT * FROM unnest(${COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ')})
  ON CONFLICT DO NOTHING
  RETURNING ${NAMES}
)${rollupCtes(ROLLUPS)}
SELECT count(*)::int AS inserted FROM ins`;

/** Folds the ledger rows matching `where` (a condition on usage_events, with parameters) into these rollups, read as the insert's are. */
export function rollupFromLedgerSql(rollups: readonly Rollup[], where: string): string {
  return `WITH ins AS (SELECT ${NAMES} FROM usage_events WHERE ${where})${rollupCtes(rollups)} SELECT 1`;
}

/**
 * One array literal per column, in COLUMNS order: a fixed number of parameters whatever the batch
 * size. Written here rather than by pg, which escapes every element of every array (~4 µs of
 * gateway CPU per event, measured): only text needs quoting; numbers, uuids, booleans and ISO
 * timestamps cannot contain a quote, comma, brace or space.
 */
export function batchParameters(events: readonly UsageEvent[]): string[] {
  return COLUMNS.map(([, type, value]) => arrayLiteral(events.map(value), type === 'text' || type === 'jsonb'));
}

/** A Postgres array literal: `{a,NULL,"b \"c\""}`. Text is always quoted, so "NULL" stays text. */
export function arrayLiteral(values: readonly unknown[], text: boolean): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (i > 0) out += ',';
    if (v === null || v === undefined) out += 'NULL';
    // Postgres text cannot hold NUL: one in a model name would fail every batch it is in.
    else if (text) out += `"${String(v).replace(/\0/g, '\uFFFD').replace(/[\\"]/g, '\\$&')}"`;
    else out += String(v);
  }
  return out + '}';
}
