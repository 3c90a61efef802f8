// Prometheus metrics for engineers: rate-limit gauges per org and model, request/token/429
// counters per org, model and feature, and the latency the gateway adds. No money: engineers see
// usage, not spend (finance reads it from /api/analytics; docs/security.md). The hot path only bumps
// numbers in a Map; prom-client reads them at scrape time. Labels are bounded: orgs x model
// families x features, never per request (unknown model names past a cap share the label "other").
import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { LedgerWriter } from '../ledger/ledger.writer.js';
import { SharedState } from '../shared-state/shared-state.js';
import { ANONYMOUS_REASONS, AnonymousRequests } from './anonymous-requests.service.js';
import { HeadroomSnapshot, type LiveHeadroom } from './headroom.snapshot.js';
import { PacingService } from './pacing.service.js';
import type { ErrorKind } from '../ledger/error-kind.js';

export type ThrottleLabel = 'rate_limit_requests' | 'rate_limit_tokens' | 'request_too_large' | 'quota' | 'paced';
const THROTTLE_LABELS: readonly ThrottleLabel[] = ['rate_limit_requests', 'rate_limit_tokens', 'request_too_large', 'quota', 'paced'];

/**
 * Who a failure is on: the gateway itself (its store down, its shutdown, its own limits), the
 * upstream (OpenAI's errors, limits and outages), or the client (bad key or input, left early).
 */
export type ErrorCause = 'gateway' | 'upstream' | 'client';
const ERROR_CAUSES: readonly ErrorCause[] = ['gateway', 'upstream', 'client'];
const CAUSES: Record<ErrorKind, ErrorCause> = {
  rate_limit_requests: 'upstream',
  rate_limit_tokens: 'upstream',
  request_too_large: 'client',
  quota: 'upstream',
  auth: 'client',
  invalid_request: 'client',
  not_found: 'client',
  upstream_server_error: 'upstream',
  upstream_unreachable: 'upstream',
  upstream_timeout: 'upstream',
  stream_error: 'upstream',
  client_aborted: 'client',
  upstream_aborted: 'upstream',
  paced: 'gateway',
  budget: 'client',
  not_sent: 'client',
  shutdown: 'gateway',
  store_unavailable: 'gateway',
  gateway: 'gateway',
};
export const errorCause = (kind: ErrorKind | null): ErrorCause => (kind ? CAUSES[kind] : 'gateway');

interface Tally {
  labels: { org: string; model: string; feature: string };
  requests: number;
  errors: Record<ErrorCause, number>;
  inputTokens: number;
  outputTokens: number;
  retries: number;
  throttled: Record<ThrottleLabel, number>;
}

export interface RequestSample {
  openaiOrgId: string;
  /** Model family, or null when the request named none. */
  model: string | null;
  feature: string;
  failed: boolean;
  /** Who the failure is on (see errorCause); only read when failed. */
  cause?: ErrorCause;
  inputTokens: number;
  outputTokens: number;
  retried: boolean;
  throttle: ThrottleLabel | null;
}

const MAX_MODEL_LABELS = 100;
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private readonly tallies = new Map<string, Tally>();
  private readonly models = new Set<string>();
  private readonly addedLatency: Histogram;
  private readonly pacingWait: Histogram;

  constructor(snapshot: HeadroomSnapshot, pacing: PacingService, ledger: LedgerWriter, anonymous: AnonymousRequests, shared: SharedState) {
    const registers = [this.registry];
    new Gauge({
      name: 'tallygate_shared_state_up',
      help: 'Redis shared by the replicas (REDIS_URL): 1 connected, 0 unreachable (this replica runs on its own state); absent without REDIS_URL.',
      registers,
      collect() {
        this.reset();
        if (shared.status !== 'off') this.set(shared.status === 'connected' ? 1 : 0);
      },
    });
    const tallies = this.tallies;
    const modelLabel = (model: string) => this.modelLabel(model);
    const resources = ['requests', 'tokens', 'project_tokens'] as const;
    const headroomGauge = (name: string, help: string, read: (e: LiveHeadroom, r: (typeof resources)[number], now: number) => number | undefined) =>
      new Gauge({
        name,
        help,
        labelNames: ['org', 'model', 'resource'],
        registers,
        collect() {
          this.reset();
          const now = Date.now();
          for (const entry of snapshot.all()) {
            for (const resource of resources) {
              const value = read(entry, resource, now);
              if (value !== undefined) this.set({ org: entry.openaiOrgId, model: modelLabel(entry.model), resource }, value);
            }
          }
        },
      });
    headroomGauge('tallygate_ratelimit_limit', 'Rate limit from the last x-ratelimit-limit-* header seen (by any replica, when they share state through Redis).', (e, r) =>
      r === 'requests' ? e.limits.limitRequests : r === 'tokens' ? e.limits.limitTokens : e.limits.limitProjectTokens,
    );
    headroomGauge('tallygate_ratelimit_remaining', 'Remaining from the last x-ratelimit-remaining-* header seen (by any replica, when they share state through Redis).', (e, r) =>
      r === 'requests' ? e.limits.remainingRequests : r === 'tokens' ? e.limits.remainingTokens : e.limits.remainingProjectTokens,
    );
    headroomGauge('tallygate_ratelimit_reset_seconds', 'Seconds from now until the window is full again, from the last x-ratelimit-reset-* header.', (e, r, now) => {
      const ms = r === 'requests' ? e.limits.resetRequestsMs : r === 'tokens' ? e.limits.resetTokensMs : e.limits.resetProjectTokensMs;
      return ms === undefined ? undefined : Math.max(0, e.observedAt + ms - now) / 1000;
    });
    new Gauge({
      name: 'tallygate_ratelimit_observed_timestamp_seconds',
      help: 'When rate-limit headers were last seen for the org and model (by any replica, with Redis).',
      labelNames: ['org', 'model'],
      registers,
      collect() {
        this.reset();
        for (const e of snapshot.all()) this.set({ org: e.openaiOrgId, model: modelLabel(e.model) }, e.observedAt / 1000);
      },
    });

    const labelNames = ['org', 'model', 'feature'] as const;
    const counter = (name: string, help: string, value: (t: Tally) => number) =>
      new Counter({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          for (const t of tallies.values()) this.inc(t.labels, value(t));
        },
      });
    counter('tallygate_requests_total', 'Requests through the gateway with a known org.', (t) => t.requests);
    new Counter({
      name: 'tallygate_errors_total',
      help: 'Of those, requests that failed (any error, 429s included), by cause: gateway (its own store, shutdown, limits), upstream (OpenAI), client (bad key or input, left early).',
      labelNames: [...labelNames, 'cause'],
      registers,
      collect() {
        this.reset();
        for (const t of tallies.values()) {
          for (const cause of ERROR_CAUSES) if (t.errors[cause] > 0) this.inc({ ...t.labels, cause }, t.errors[cause]);
        }
      },
    });
    counter('tallygate_retries_total', 'Requests the OpenAI SDK sent as a retry (X-Stainless-Retry-Count > 0).', (t) => t.retries);
    new Counter({
      name: 'tallygate_tokens_total',
      help: 'Tokens reported (or estimated) for the requests, by direction.',
      labelNames: [...labelNames, 'type'],
      registers,
      collect() {
        this.reset();
        for (const t of tallies.values()) {
          this.inc({ ...t.labels, type: 'input' }, t.inputTokens);
          this.inc({ ...t.labels, type: 'output' }, t.outputTokens);
        }
      },
    });
    new Counter({
      name: 'tallygate_429_total',
      help: '429s by kind: rate_limit_requests, rate_limit_tokens, request_too_large (throttling), quota (billing, not throttling), paced (the gateway\'s own).',
      labelNames: [...labelNames, 'kind'],
      registers,
      collect() {
        this.reset();
        for (const t of tallies.values()) {
          for (const kind of THROTTLE_LABELS) if (t.throttled[kind] > 0) this.inc({ ...t.labels, kind }, t.throttled[kind]);
        }
      },
    });
    new Gauge({
      name: 'tallygate_ledger_queued_events',
      help: "Usage events in this replica's memory waiting for the next ledger write (Postgres slow or down makes this grow).",
      registers,
      collect() {
        this.set(ledger.snapshot().queued);
      },
    });
    new Counter({
      name: 'tallygate_ledger_events_total',
      help: 'Usage events by what became of them in this replica: written to Postgres, spilled to DATA_DIR/spill (replayed later), rejected by Postgres as data (kept in DATA_DIR/rejected).',
      labelNames: ['result'],
      registers,
      collect() {
        this.reset();
        const stats = ledger.snapshot();
        this.inc({ result: 'written' }, stats.written);
        this.inc({ result: 'spilled' }, stats.spilled);
        this.inc({ result: 'rejected' }, stats.rejected);
      },
    });
    new Counter({
      name: 'tallygate_ledger_failed_writes_total',
      help: 'Ledger writes Postgres refused (retried with backoff; events kept).',
      registers,
      collect() {
        this.reset();
        this.inc(ledger.snapshot().failedFlushes);
      },
    });
    new Counter({
      name: 'tallygate_anonymous_requests_total',
      help: 'Requests to /v1 without a key Tallygate issued, by reason (missing_key, malformed_key, unknown_key, key_unverified): counted, not written to the ledger.',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        const totals = anonymous.snapshot();
        for (const reason of ANONYMOUS_REASONS) this.inc({ reason }, totals[reason]);
      },
    });
    new Gauge({
      name: 'tallygate_pacing_queued_requests',
      help: 'Requests this replica is holding for rate-limit room right now.',
      registers,
      collect() {
        this.set(pacing.queued());
      },
    });
    this.addedLatency = new Histogram({
      name: 'tallygate_gateway_added_latency_seconds',
      help: 'Time the gateway adds to a proxied call: before the upstream request is sent (pacing excluded) plus after the upstream body ended.',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.pacingWait = new Histogram({
      name: 'tallygate_pacing_wait_seconds',
      help: 'Time paced requests were held for rate-limit room.',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
  }

  count(sample: RequestSample): void {
    const model = this.modelLabel(sample.model);
    const key = `${sample.openaiOrgId}\u0000${model}\u0000${sample.feature}`;
    let tally = this.tallies.get(key);
    if (!tally) {
      tally = {
        labels: { org: sample.openaiOrgId, model, feature: sample.feature },
        requests: 0,
        errors: { gateway: 0, upstream: 0, client: 0 },
        inputTokens: 0,
        outputTokens: 0,
        retries: 0,
        throttled: { rate_limit_requests: 0, rate_limit_tokens: 0, request_too_large: 0, quota: 0, paced: 0 },
      };
      this.tallies.set(key, tally);
    }
    tally.requests++;
    if (sample.failed) tally.errors[sample.cause ?? 'gateway']++;
    tally.inputTokens += sample.inputTokens;
    tally.outputTokens += sample.outputTokens;
    if (sample.retried) tally.retries++;
    if (sample.throttle) tally.throttled[sample.throttle]++;
  }

  observeAddedLatency(ms: number): void {
    this.addedLatency.observe(ms / 1000);
  }

  observePacingWait(ms: number): void {
    this.pacingWait.observe(ms / 1000);
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  private modelLabel(model: string | null): string {
    if (model === null) return 'none';
    if (this.models.has(model)) return model;
    if (this.models.size >= MAX_MODEL_LABELS) return 'other';
    this.models.add(model);
    return model;
  }
}
