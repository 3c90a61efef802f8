// Raw usage events as CSV, streamed from a Postgres cursor: rows are fetched in batches as the
// client reads, so a year of events never sits in memory (backpressure all the way to the socket).
import { Readable, Transform, pipeline } from 'node:stream';
import { Injectable } from '@nestjs/common';
import { nanosToUsd } from '../pricing/cost.js';
import type { EventsExportQueryInput } from './analytics.dto.js';
import { AnalyticsService, taggedQuery } from './analytics.service.js';
import { csvRow } from '../contract/csv.js';
import { ATTRIBUTION, CLAMPED, COLUMNS, COMPONENTS, EventsRepository } from './events.repository.js';

export const EVENTS_CSV_HEADER = [...COLUMNS.map(([name]) => name), 'cost_usd', CLAMPED[0], ...COMPONENTS.map(([name]) => name), ...ATTRIBUTION.map(([name]) => name)];

@Injectable()
export class EventsExportService {
  constructor(
    private readonly events: EventsRepository,
    private readonly analytics: AnalyticsService,
  ) {}

  /** Validates the range first (a 400 must come before any byte), then returns the CSV stream. */
  async stream(input: EventsExportQueryInput): Promise<{ body: Readable; filename: string }> {
    const range = await this.analytics.resolveRange(input.from, input.to, input.tz, { wholeHours: false });
    const filters = await this.analytics.resolveFilters(input);
    const { rows, release } = await this.events.cursor(range.from, range.to, input.tz, filters, taggedQuery(input, []));
    let header = true;
    const toCsv = new Transform({
      writableObjectMode: true,
      transform(row: Record<string, unknown>, _encoding, done) {
        const line = csvRow([...COLUMNS.map(([name]) => row[name]), row.cost_nanos === null ? null : nanosToUsd(row.cost_nanos as string), row.clamped, ...COMPONENTS.map(([name]) => row[name]), ...ATTRIBUTION.map(([name]) => row[name])]);
        if (header) {
          header = false;
          done(null, csvRow(EVENTS_CSV_HEADER) + line);
        } else done(null, line);
      },
      flush(done) {
        done(null, header ? csvRow(EVENTS_CSV_HEADER) : undefined);
      },
    });
    // Ends on completion, error or the client going away; a connection that failed mid-cursor is discarded.
    pipeline(rows, toCsv, (error) => release(error ?? undefined));
    const stamp = (d: Date) => d.toISOString().slice(0, 19).replace(/[-:]/g, '');
    return { body: toCsv, filename: `usage-events-${stamp(range.from)}-${stamp(range.to)}.csv` };
  }
}
