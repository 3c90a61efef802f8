// The raw usage events an export streams: one SQL statement read through a Postgres cursor, in
// batches as the client reads (a year of events never sits in memory).
import type { Readable } from 'node:stream';
import { Injectable } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';
import QueryStream from 'pg-query-stream';
import { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver.js';
import { orgIdSql } from '../ledger/no-org.js';
import { endpointFamilySql } from './endpoint-family.js';
import type { RollupFilters } from './rollups.repository.js';

const BATCH_ROWS = 2_000;

/** CSV column → SQL expression (e alias: usage_events, o: orgs, f: features). */
export const COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ['created_at', 'e.created_at'],
  ['created_at_local', `to_char(e.created_at AT TIME ZONE $3, 'YYYY-MM-DD"T"HH24:MI:SS.MS')`],
  ['id', 'e.id'],
  ['org_id', orgIdSql('e.org_id')],
  ['org', 'o.name'],
  ['feature_id', 'e.feature_id'],
  ['feature', 'f.slug'],
  ['endpoint', 'e.endpoint'],
  ['model', 'e.model'],
  ['service_tier', 'e.service_tier'],
  ['streamed', 'e.streamed'],
  ['status', 'e.status'],
  ['outcome', 'e.outcome'],
  ['error_kind', 'e.error_kind'],
  ['error_code', 'e.error_code'],
  ['input_tokens', 'e.input_tokens'],
  ['cached_input_tokens', 'e.cached_tokens'],
  ['audio_input_tokens', 'e.audio_input_tokens'],
  ['output_tokens', 'e.output_tokens'],
  ['reasoning_tokens', 'e.reasoning_tokens'],
  ['audio_seconds', 'e.audio_seconds'],
  ['usage_source', 'e.usage_source'],
  ['price_id', 'e.price_id'],
  ['cost_nanos', 'e.cost_nanos'],
  ['latency_ms', 'e.latency_ms'],
  ['ttfb_ms', 'e.ttfb_ms'],
  ['retry_count', 'e.retry_count'],
  ['upstream_request_id', 'e.upstream_request_id'],
];
/** Fields the ledger stored truncated or clamped (server/ledger/bounds.ts); last, so existing columns keep their places. */
export const CLAMPED = ['clamped', 'e.clamped'] as const;
/** What each event was priced on beyond text tokens (images, speech, tool calls); after `clamped`, for the same reason. */
export const COMPONENTS: ReadonlyArray<readonly [string, string]> = [
  ['audio_output_tokens', 'e.audio_output_tokens'],
  ['image_input_tokens', 'e.image_input_tokens'],
  ['image_output_tokens', 'e.image_output_tokens'],
  ['characters', 'e.characters'],
  ['image_count', 'e.image_count'],
  ['image_spec', 'e.image_spec'],
  ['web_search_calls', 'e.web_search_calls'],
  ['web_search_preview_calls', 'e.web_search_preview_calls'],
  ['file_search_calls', 'e.file_search_calls'],
];
/** Attribution (docs/attribution.md): the end user ('' is "other") and the tags as JSON (a null value is "other"); last, same reason. */
export const ATTRIBUTION: ReadonlyArray<readonly [string, string]> = [
  ['end_user', 'e.end_user'],
  ['tags', 'e.tags::text'],
];

const FILTERS = {
  org: 'e.org_id = ANY($?::uuid[])',
  feature: 'e.feature_id = ANY($?::uuid[])',
  model: 'e.model = ANY($?::text[])',
  endpoint: 'e.endpoint = ANY($?::text[])',
  family: `${endpointFamilySql('e.endpoint')} = ANY($?::text[])`,
} as const;

export interface EventsCursor {
  /** Rows keyed by the column names above. */
  rows: Readable;
  /** Gives the connection back (discarded when `error`): call once the rows are done or failed. */
  release(error?: Error): void;
}

@Injectable()
export class EventsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Events of [from, to) matching the filters, oldest first; `tz` is the time zone of created_at_local. */
  /** `tagged`: only events with one of these values of a tag ('' is the end user). */
  async cursor(from: Date, to: Date, tz: string, filters: RollupFilters, tagged?: { tag: string; values?: string[] }): Promise<EventsCursor> {
    const params: unknown[] = [from.toISOString(), to.toISOString(), tz];
    let where = '';
    for (const key of Object.keys(FILTERS) as (keyof typeof FILTERS)[]) {
      const values = filters[key];
      if (!values?.length) continue;
      params.push(values);
      where += ` AND ${FILTERS[key].replace('$?', `$${params.length}`)}`;
    }
    if (tagged?.tag === '') {
      params.push(tagged.values);
      where += ` AND e.end_user = ANY($${params.length}::text[])`;
    } else if (tagged) {
      params.push(tagged.tag, tagged.values);
      where += ` AND e.tags->>$${params.length - 1} = ANY($${params.length}::text[])`;
    }
    const sql = `SELECT ${[...COLUMNS, CLAMPED, ...COMPONENTS, ...ATTRIBUTION].map(([name, expr]) => `${expr} AS ${name}`).join(', ')}
      FROM usage_events e LEFT JOIN orgs o ON o.id = e.org_id LEFT JOIN features f ON f.id = e.feature_id
      WHERE e.created_at >= $1 AND e.created_at < $2${where}
      ORDER BY e.created_at, e.id`;
    const pool = (this.dataSource.driver as PostgresDriver).master as Pool;
    const client: PoolClient = await pool.connect();
    const rows = client.query(new QueryStream(sql, params, { batchSize: BATCH_ROWS, highWaterMark: BATCH_ROWS }));
    return { rows, release: (error) => client.release(error) };
  }
}
