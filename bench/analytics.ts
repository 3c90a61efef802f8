// `npm run bench:analytics`: seeds a throwaway database with BENCH_EVENTS usage events (default
// 10M) over 13 months, 3 orgs, 10 features and 8 models, builds the rollups with the ledger's own
// rollup SQL, then times each dashboard query through the services the API uses and prints the
// median and p95 of each, plus ingest rates (bulk seeding, rollup build and the live writer path).
// Uses DATABASE_URL's server when set, otherwise an embedded Postgres in a temp dir.
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { AnalyticsService } from '../server/analytics/analytics.service.js';
import { EventsExportService } from '../server/analytics/events-export.service.js';
import { StatementService } from '../server/analytics/statement.service.js';
import { TagStatementService } from '../server/attribution/tag-statement.service.js';
import { createApp } from '../server/app.js';
import { loadConfig } from '../server/config/config.js';
import { ensureDatabase, startScratchPostgres } from '../server/database/embedded-postgres.js';
import { rollupFromLedgerSql } from '../server/ledger/ledger.sql.js';
import { LedgerWriter } from '../server/ledger/ledger.writer.js';
import { ROLLUPS } from '../server/ledger/rollups.js';
import { usageEvent, type UsageEvent } from '../server/ledger/usage-event.js';
import { OrgsService } from '../server/orgs/orgs.service.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 10_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const WRITER_EVENTS = Number(process.env.BENCH_WRITER_EVENTS ?? 50_000);
const MONTHS = 13;
const MODELS = ['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'gpt-4.1-mini', 'gpt-4.1-nano', 'o4-mini', 'text-embedding-3-small', 'whisper-1'];
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const log = (message: string) => process.stdout.write(`${message}\n`);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** One line per step of a long phase: how far, how long so far, and when it should end at this pace. */
function progress(what: string, done: number, total: number, startedAt: number): void {
  const elapsed = performance.now() - startedAt;
  const eta = done > 0 ? (elapsed / done) * (total - done) : 0;
  log(`  ${what}: ${done.toLocaleString('en')} of ${total.toLocaleString('en')} (${Math.round((done / total) * 100)}%), ${seconds(elapsed)} so far, about ${seconds(eta)} left`);
}

function stats(samples: number[]): { median: number; p95: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return { median: at(0.5), p95: at(0.95) };
}

async function time<T>(runs: number, fn: () => Promise<T>): Promise<{ median: number; p95: number; result: T }> {
  let result = await fn(); // warm-up (plan cache, buffers)
  await fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    result = await fn();
    samples.push(performance.now() - start);
  }
  return { ...stats(samples), result };
}

async function main(): Promise<void> {
  const server = await startScratchPostgres();
  const dbName = `tallygate_bench_${Date.now()}`;
  const url = await ensureDatabase(server.serverUrl, dbName);
  log(`database ${dbName} on ${server.serverUrl.replace(/:[^:@/]+@/, ':***@')}; ${EVENTS.toLocaleString('en')} events over ${MONTHS} months`);
  const config = loadConfig({
    MASTER_KEY: randomBytes(32).toString('base64'),
    DATA_DIR: await mkdtemp(join(tmpdir(), 'tallygate-bench-data-')),
    LOG_LEVEL: 'warn',
    LEDGER_FLUSH_INTERVAL_MS: '50',
  });
  const app = await createApp(config, url); // migrates and loads the price list
  const db = app.get(DataSource);
  try {
    const orgsService = app.get(OrgsService);
    const orgs: string[] = [];
    for (const name of ['chatbot-org', 'recommender-org', 'transcripts-org']) {
      orgs.push((await orgsService.createOrg({ name, openaiOrgId: `org-${name}`, baseUrl: 'http://127.0.0.1:9' })).id);
    }
    const features: string[] = [];
    for (let i = 0; i < 10; i++) {
      features.push((await orgsService.createFeature({ slug: `feature-${i}`, name: `Feature ${i}`, defaultOrgId: orgs[i % 3] })).id);
    }

    // 13 whole months ending with the current one.
    const now = new Date();
    const end = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
    const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1 - MONTHS, 1));
    await db.query(`SELECT ensure_usage_partitions($1, $2)`, [start.toISOString(), MONTHS + 1]);

    // Seeding: one INSERT ... SELECT generate_series per month; costs from the loaded prices, like the gateway's.
    const seedStart = performance.now();
    const perMs = EVENTS / (end.getTime() - start.getTime());
    let seeded = 0;
    for (let m = 0; m < MONTHS; m++) {
      const lo = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + m, 1));
      const hi = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + m + 1, 1));
      const count = m === MONTHS - 1 ? EVENTS - seeded : Math.round((hi.getTime() - lo.getTime()) * perMs);
      await db.query(
        `WITH models AS (
           SELECT i - 1 AS n, m AS model, p.id AS price_id, p.input_per_mtok, coalesce(p.cached_input_per_mtok, p.input_per_mtok) AS cached_per_mtok,
             p.output_per_mtok, p.per_audio_minute
           FROM unnest($4::text[]) WITH ORDINALITY AS u(m, i)
           LEFT JOIN prices p ON p.model = u.m AND p.service_tier = 'default' AND p.retired_at IS NULL),
         raw AS (
           SELECT g, $1::timestamptz + (g::float8 / $3) * ($2::timestamptz - $1::timestamptz) AS created_at,
             (hashint4(g) & 2147483647) % 10 AS f, (hashint4(g + 7919) & 2147483647) % 8 AS mi, random() AS r, random() AS r2
           FROM generate_series(0, $3 - 1) AS g),
         shaped AS (
           SELECT raw.*, m.*, (raw.r < 0.03) AS failed, (raw.r2 < 0.02) AS estimated, (raw.r2 > 0.995) AS unpriced,
             CASE WHEN m.model = 'whisper-1' THEN 0 ELSE 200 + (random() * 3000)::int END AS input_tokens,
             CASE WHEN m.model IN ('whisper-1', 'text-embedding-3-small') THEN 0 ELSE (random() * 900)::int END AS output_tokens,
             CASE WHEN m.model = 'whisper-1' THEN round((random() * 120)::numeric, 3) END AS audio_seconds
           FROM raw JOIN models m ON m.n = raw.mi)
         INSERT INTO usage_events (id, created_at, org_id, feature_id, endpoint, model, status, outcome, input_tokens, cached_tokens,
           output_tokens, reasoning_tokens, audio_seconds, usage_source, cost_nanos, price_id, latency_ms, ttfb_ms, tags, end_user)
         SELECT gen_random_uuid(), created_at, ($5::uuid[])[f % 3 + 1], ($6::uuid[])[f + 1],
           CASE model WHEN 'whisper-1' THEN 'audio.transcriptions' WHEN 'text-embedding-3-small' THEN 'embeddings' ELSE 'chat.completions' END,
           model, CASE WHEN failed THEN 500 ELSE 200 END, CASE WHEN failed THEN 'error' ELSE 'ok' END,
           input_tokens, input_tokens / 4, output_tokens, CASE WHEN model = 'o4-mini' THEN output_tokens / 2 ELSE 0 END, audio_seconds,
           CASE WHEN estimated THEN 'estimated' ELSE 'reported' END,
           CASE WHEN unpriced THEN NULL
             ELSE round(((input_tokens - input_tokens / 4) * coalesce(input_per_mtok, 0) + (input_tokens / 4) * coalesce(cached_per_mtok, 0)
               + output_tokens * coalesce(output_per_mtok, 0)) * 1000 + coalesce(ceil(audio_seconds) * per_audio_minute * 1e9 / 60, 0))::bigint END,
           CASE WHEN unpriced THEN NULL ELSE price_id END,
           (150 * exp(random() * 3))::int, CASE WHEN r2 < 0.3 THEN NULL ELSE (40 * exp(random() * 2.5))::int END,
           -- Attribution: 80% of calls tagged with one of 50 customers of their feature (500 in all) and an env; 30% name one of 2,000 end users.
           CASE WHEN r < 0.8 THEN jsonb_build_object('customer', 'cust-' || (f * 50 + (hashint4(g + 104729) & 2147483647) % 50),
             'env', CASE WHEN r < 0.7 THEN 'prod' ELSE 'staging' END) END,
           CASE WHEN r2 > 0.7 THEN 'user-' || (hashint4(g + 1299709) & 2147483647) % 2000 END
         FROM shaped`,
        [lo.toISOString(), hi.toISOString(), count, MODELS, orgs, features],
      );
      seeded += count;
      progress('seeding events', seeded, EVENTS, seedStart);
    }
    const seedMs = performance.now() - seedStart;
    log(`seeded ${seeded.toLocaleString('en')} events in ${seconds(seedMs)}: ${Math.round(seeded / (seedMs / 1000)).toLocaleString('en')} events/s (generate_series)`);

    // Rollups with the ledger's own rollup CTEs over each month of events: the same rows the writer makes.
    const rollupStart = performance.now();
    for (let m = 0; m < MONTHS; m++) {
      const lo = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + m, 1));
      const hi = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + m + 1, 1));
      // One rollup per statement: `ins` is then inlined into an index scan instead of materialised once per month.
      for (const rollup of ROLLUPS) {
        await db.query(rollupFromLedgerSql([rollup], 'created_at >= $1 AND created_at < $2'), [lo.toISOString(), hi.toISOString()]);
      }
      progress('building rollups (months)', m + 1, MONTHS, rollupStart);
    }
    const rollupMs = performance.now() - rollupStart;
    log(`built rollups in ${seconds(rollupMs)}: ${Math.round(seeded / (rollupMs / 1000)).toLocaleString('en')} events/s`);
    await db.query(`VACUUM ANALYZE`);
    const sizes = (await db.query(
      `SELECT relname, n_live_tup FROM pg_stat_user_tables WHERE relname IN ('usage_hourly', 'usage_daily', 'usage_tag_hourly', 'usage_tag_daily', 'usage_latency_hourly', 'usage_latency_daily') ORDER BY 1`,
    )) as Array<{ relname: string; n_live_tup: string }>;
    log(`rollup rows: ${sizes.map((s) => `${s.relname} ${Number(s.n_live_tup).toLocaleString('en')}`).join(', ')}`);
    // Storage per million events: the ledger's partitions (heap and indexes apart) and every rollup.
    const [storage] = (await db.query(
      `SELECT sum(pg_table_size(c.oid))::bigint AS heap, sum(pg_indexes_size(c.oid))::bigint AS indexes,
              (SELECT sum(pg_total_relation_size(r::regclass))::bigint FROM unnest(ARRAY['usage_hourly','usage_daily','usage_latency_hourly','usage_latency_daily','ratelimit_minutes','throttle_minutes']) AS r) AS rollups
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'usage_events'::regclass`,
    )) as Array<{ heap: string; indexes: string; rollups: string }>;
    const perMillion = (bytes: string) => `${(Number(bytes) / (seeded / 1e6) / 1024 / 1024).toFixed(1)} MB`;
    log(`storage per million events: ledger ${perMillion(storage.heap)} + its indexes ${perMillion(storage.indexes)}; all rollups ${perMillion(storage.rollups)} (rollups grow with orgs x features x models x hours, not with events)`);

    // The live path: events through the ledger writer (batched insert + every rollup in one statement).
    const writer = app.get(LedgerWriter);
    const writerStart = performance.now();
    for (let i = 0; i < WRITER_EVENTS; i++) {
      // Half of them attributed (a customer and an env), as the seeded history is.
      writer.record({ ...benchEvent(orgs[i % 3], features[i % 10], MODELS[i % 8]), ...(i % 2 ? { tags: { customer: `cust-${i % 500}`, env: 'prod' } } : {}) });
      if (i % 5_000 === 4_999) await writer.flush();
    }
    await writer.flush();
    const writerMs = performance.now() - writerStart;
    log(`ledger writer: ${WRITER_EVENTS.toLocaleString('en')} events in ${seconds(writerMs)}: ${Math.round(WRITER_EVENTS / (writerMs / 1000)).toLocaleString('en')} events/s with all rollups`);

    const analytics = app.get(AnalyticsService);
    const statements = app.get(StatementService);
    const tagStatements = app.get(TagStatementService);
    const exporter = app.get(EventsExportService);
    const today = new Date(Math.floor(now.getTime() / DAY) * DAY);
    const date = (d: Date) => d.toISOString().slice(0, 10);
    const lastMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
    const month = date(lastMonth).slice(0, 7);
    const rangeRows = async (from: Date, to: Date) =>
      Number(((await db.query(`SELECT count(*) AS n FROM usage_events WHERE created_at >= $1 AND created_at < $2`, [from, to])) as [{ n: string }])[0].n);

    const queries: Array<[string, number, () => Promise<unknown>]> = [
      ['spend by feature by day, 90 days (UTC)', await rangeRows(new Date(today.getTime() - 90 * DAY), today), () =>
        analytics.usage({ from: date(new Date(today.getTime() - 90 * DAY)), to: date(today), tz: 'UTC', interval: 'day', groupBy: ['feature'] }, { latency: false })],
      ['spend by feature by day, 90 days (America/New_York)', await rangeRows(new Date(today.getTime() - 90 * DAY), today), () =>
        analytics.usage({ from: date(new Date(today.getTime() - 90 * DAY)), to: date(today), tz: 'America/New_York', interval: 'day', groupBy: ['feature'] }, { latency: false })],
      ['spend by org by month, 13 months', seeded, () =>
        analytics.usage({ from: date(start), to: date(end), tz: 'UTC', interval: 'month', groupBy: ['org'] }, { latency: false })],
      ['spend by org by month, 13 months (Europe/Paris)', seeded, () =>
        analytics.usage({ from: date(start), to: date(end), tz: 'Europe/Paris', interval: 'month', groupBy: ['org'] }, { latency: false })],
      ['latency + ttfb percentiles per feature, 30 days', await rangeRows(new Date(today.getTime() - 30 * DAY), today), () =>
        analytics.usage({ from: date(new Date(today.getTime() - 30 * DAY)), to: date(today), tz: 'UTC', groupBy: ['feature'] })],
      ['spend by customer tag by day, 90 days (top 10 + other + untagged)', await rangeRows(new Date(today.getTime() - 90 * DAY), today), () =>
        analytics.usage({ from: date(new Date(today.getTime() - 90 * DAY)), to: date(today), tz: 'UTC', interval: 'day', groupBy: ['tag'], tag: 'customer' }, { latency: false })],
      ['spend by customer tag, 90 days (America/New_York, no buckets)', await rangeRows(new Date(today.getTime() - 90 * DAY), today), () =>
        analytics.usage({ from: date(new Date(today.getTime() - 90 * DAY)), to: date(today), tz: 'America/New_York', groupBy: ['tag'], tag: 'customer' }, { latency: false })],
      ['spend of one customer by model, 90 days', await rangeRows(new Date(today.getTime() - 90 * DAY), today), () =>
        analytics.usage({ from: date(new Date(today.getTime() - 90 * DAY)), to: date(today), tz: 'UTC', groupBy: ['model'], tag: 'customer', tagValue: ['cust-7'] }, { latency: false })],
      ['month statement per customer, one feature', Math.round(seeded / MONTHS / 10), () =>
        tagStatements.statement({ feature: features[0], month, tag: 'customer', tz: 'UTC', format: 'json' })],
      ['month to date per feature (3 range reads)', 0, () => analytics.monthToDate({ tz: 'UTC', groupBy: 'feature' })],
      ['monthly statement, one org', Math.round(seeded / MONTHS / 3), () => statements.statement({ org: orgs[0], month, tz: 'UTC', format: 'json' })],
    ];
    log('');
    log(`query (each run ${RUNS}x after 2 warm-ups)                     events in range   median      p95`);
    for (const [name, events, fn] of queries) {
      const { median, p95 } = await time(RUNS, fn);
      log(`${name.padEnd(58)} ${events.toLocaleString('en').padStart(12)} ${median.toFixed(1).padStart(8)} ms ${p95.toFixed(1).padStart(8)} ms`);
    }

    // A month of raw events as CSV, drained as fast as the consumer reads; RSS shows it is streamed.
    const exportRuns: number[] = [];
    let rows = 0;
    let bytes = 0;
    let peakRss = process.memoryUsage().rss;
    const rssBefore = peakRss;
    for (let i = 0; i < 3; i++) {
      rows = 0;
      bytes = 0;
      const started = performance.now();
      const { body } = await exporter.stream({ from: `${month}-01`, to: date(new Date(Date.UTC(lastMonth.getUTCFullYear(), lastMonth.getUTCMonth() + 1, 1))), tz: 'UTC' });
      await pipeline(
        body,
        new Writable({
          write(chunk: Buffer, _encoding, done) {
            bytes += chunk.length;
            for (let j = 0; j < chunk.length; j++) if (chunk[j] === 10) rows++;
            if ((rows & 0x3fff) === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
            done();
          },
        }),
      );
      exportRuns.push(performance.now() - started);
    }
    const exportStats = stats(exportRuns);
    log(
      `CSV export of one month: ${(rows - 1).toLocaleString('en')} rows, ${(bytes / 1e6).toFixed(0)} MB; median ${seconds(exportStats.median)}, ` +
        `${Math.round((rows - 1) / (exportStats.median / 1000)).toLocaleString('en')} rows/s; RSS ${(rssBefore / 1e6).toFixed(0)} → peak ${(peakRss / 1e6).toFixed(0)} MB`,
    );
  } finally {
    await app.close();
    if (!process.env.KEEP_BENCH_DB) {
      const admin = new pg.Client({ connectionString: `${server.serverUrl}/postgres` });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
      await admin.end();
    }
    await server.stop();
  }
}

function benchEvent(orgId: string, featureId: string, model: string): UsageEvent {
  return usageEvent({
    createdAt: new Date(),
    orgId,
    featureId,
    model,
    inputTokens: 500,
    cachedTokens: 100,
    outputTokens: 200,
    costNanos: '195000',
    latencyMs: 100 + Math.floor(Math.random() * 2000),
    ttfbMs: 50 + Math.floor(Math.random() * 500),
  });
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
