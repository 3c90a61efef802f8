// Rate limits: headroom per org and model against the limit, time to reset, 429s by feature and
// kind, SDK retries, latency percentiles and time to first byte per feature.
import { anonymousRequests, bucketOf, headroomSeries, latencyByFeature, latestHeadroom, throttlingByFeature, throttlingSummary, rateLimitBuckets, type AnonymousMinute, type LatencyByFeature, type LatestHeadroom } from '../analytics.js';
import { nameOf } from '../catalog.js';
import { ChartPanel, DataTable, color, type Series } from '../charts.js';
import { h } from '../dom.js';
import { formatDuration, formatInt, formatMs, formatPct } from '../format.js';
import type { Page, PageDef } from '../page.js';
import type { Filters } from '../filters.js';
import { load } from '../panels.js';

const left = (v: LatestHeadroom['requests']) => (v ? `${formatInt(v.remaining)} of ${formatInt(v.limit)}` : '—');
const reset = (v: LatestHeadroom['requests']) => (v?.resetAt ? formatDuration(Math.max(0, Date.parse(v.resetAt) - Date.now()) / 1000) : '—');

function create(): Page {
  const reqHeadroom = new ChartPanel({ id: 'ratelimits-requests-headroom', title: 'Requests used vs limit', type: 'line', unit: 'rpm', description: 'Per org and model: the most requests used in the window (solid) against the limit (dashed).', emptyText: 'No rate-limit headers seen in this range.' });
  const tokHeadroom = new ChartPanel({ id: 'ratelimits-tokens-headroom', title: 'Tokens used vs limit', type: 'line', unit: 'tpm', description: 'Per org and model: the most tokens used in the window (solid) against the limit (dashed).', emptyText: 'No rate-limit headers seen in this range.' });
  const nowNote = h('div', { class: 'note' });
  const now = new DataTable<LatestHeadroom>('headroom-now', 'Headroom now', [
    { label: 'Org', value: (r) => r.org.name },
    { label: 'Model', value: (r) => h('code', {}, r.model) },
    { label: 'Used now', numeric: true, value: (r) => formatPct(r.utilisationNow, 0) },
    { label: 'Requests left', numeric: true, value: (r) => left(r.requests) },
    { label: 'Requests reset in', numeric: true, value: (r) => reset(r.requests) },
    { label: 'Tokens left', numeric: true, value: (r) => left(r.tokens) },
    { label: 'Tokens reset in', numeric: true, value: (r) => reset(r.tokens) },
  ]);
  const throttles = new ChartPanel({ id: 'ratelimits-429s-by-feature', title: '429s by feature and kind', type: 'bar', unit: 'requests', stacked: true, description: 'requests = RPM limit hit, tokens = TPM limit hit, quota = out of credit (billing, not throttling).', emptyText: 'No 429s in this range.' });
  const retries = new ChartPanel({ id: 'ratelimits-retries', title: 'SDK retries by feature', type: 'bar', unit: 'requests', horizontal: true, legend: false, description: 'Requests the SDK sent again (x-stainless-retry-count > 0).', emptyText: 'No retries in this range.' });
  const latencyPanel = new ChartPanel({ id: 'ratelimits-latency', title: 'Latency and time to first byte by feature', type: 'bar', unit: 'ms', description: 'p50, p95 and p99 of total latency, and median time to first byte.', emptyText: 'No requests in this range.' });
  const latencyTable = new DataTable<LatencyByFeature>('latency', 'Latency by feature', [
    { label: 'Feature', value: (r) => r.name },
    { label: 'Requests', numeric: true, value: (r) => formatInt(r.requests) },
    { label: 'p50', numeric: true, value: (r) => formatMs(r.latency.p50) },
    { label: 'p95', numeric: true, value: (r) => formatMs(r.latency.p95) },
    { label: 'p99', numeric: true, value: (r) => formatMs(r.latency.p99) },
    { label: 'TTFB p50', numeric: true, value: (r) => formatMs(r.ttfb.p50) },
    { label: 'TTFB p95', numeric: true, value: (r) => formatMs(r.ttfb.p95) },
  ]);
  latencyPanel.footer.append(latencyTable.el);
  const anonymous = new ChartPanel({ id: 'ratelimits-anonymous', title: 'Requests without an issued key', type: 'bar', unit: 'requests', stacked: true, description: 'Per hour (UTC) and reason: no key, a malformed or unknown key, or one the gateway could not check. Answered 401; counted, not written to the ledger.', emptyText: 'None in this range.' });

  return {
    el: h(
      'div',
      { class: 'page' },
      h('h1', { class: 'page-title' }, 'Rate limits'),
      h('div', { class: 'grid grid-2' }, reqHeadroom.el, tokHeadroom.el),
      h('section', { class: 'card', 'aria-labelledby': 'headroom-now-title' }, h('header', { class: 'card-header' }, h('h2', { id: 'headroom-now-title' }, 'Headroom now and time to reset'), h('p', { class: 'card-desc' }, 'Latest x-ratelimit headers per org and model, refilled to now.')), nowNote, now.el),
      h('div', { class: 'grid grid-2' }, throttles.el, retries.el),
      latencyPanel.el,
      anonymous.el,
    ),
    async refresh({ filters, signal }) {
      await Promise.all([
        load(reqHeadroom, headroomSeries(filters, signal)).then((data) => {
          if (!data) return tokHeadroom.setUnavailable(reqHeadroom.el.querySelector('.state-msg')?.textContent ?? '');
          const series = (kind: 'Requests' | 'Tokens'): Series[] =>
            data.series.flatMap((s, i): Series[] => [
              { label: `${s.org.name} · ${s.model}`, data: kind === 'Requests' ? s.usedRequests : s.usedTokens, color: color(i) },
              { label: `${s.org.name} · ${s.model} limit`, data: kind === 'Requests' ? s.limitRequests : s.limitTokens, color: color(i), reference: true },
            ]);
          reqHeadroom.setData(data.buckets, series('Requests'));
          tokHeadroom.setData(data.buckets, series('Tokens'));
        }),
        load(null, latestHeadroom(filters, signal), nowNote).then((rows) => rows && now.setRows(rows, undefined, 'No rate-limit headers seen yet.')),
        load(throttles, throttlingByFeature(filters, signal)).then((data) => {
          if (!data) return;
          const series: Series[] = data.features.flatMap((f, i) => {
            const name = nameOf('feature', f.key) === f.key ? f.name : nameOf('feature', f.key);
            return [
              { label: `${name} · requests`, data: f.requests, stack: f.key, color: color(i * 3) },
              { label: `${name} · tokens`, data: f.tokens, stack: f.key, color: color(i * 3 + 1) },
              { label: `${name} · quota`, data: f.quota, stack: f.key, color: color(i * 3 + 2) },
            ];
          });
          throttles.setData(data.buckets, series);
        }),
        load(retries, throttlingSummary(filters, signal)).then((rows) => {
          if (!rows) return;
          const byFeature = new Map<string, number>();
          for (const r of rows) {
            const key = r.feature.id ?? '';
            byFeature.set(key, (byFeature.get(key) ?? 0) + r.retries);
          }
          const keys = [...byFeature.keys()];
          const name = (k: string) => (nameOf('feature', k) !== k ? nameOf('feature', k) : (rows.find((r) => (r.feature.id ?? '') === k)?.feature.slug ?? '(no feature)'));
          retries.setData(keys.map(name), [{ label: 'Retries', data: keys.map((k) => byFeature.get(k)!) }]);
        }),
        load(latencyPanel, latencyByFeature(filters, signal)).then((rows) => {
          if (!rows) return;
          latencyPanel.setData(rows.map((r) => r.name), [
            { label: 'p50', data: rows.map((r) => r.latency.p50) },
            { label: 'p95', data: rows.map((r) => r.latency.p95) },
            { label: 'p99', data: rows.map((r) => r.latency.p99) },
            { label: 'TTFB p50', data: rows.map((r) => r.ttfb.p50) },
          ]);
          latencyTable.setRows(rows, undefined, 'No requests in this range.');
        }),
        load(anonymous, anonymousRequests(filters, signal)).then((rows) => rows && anonymous.setData(...anonymousByHour(rows, filters))),
      ]);
    },
  };
}

const ANONYMOUS_REASONS: Array<[AnonymousMinute['reason'], string]> = [
  ['missing_key', 'no key'],
  ['malformed_key', 'malformed key'],
  ['unknown_key', 'unknown key'],
  ['key_unverified', 'key not checked'],
];

/** The per-minute counts summed per UTC hour, one stacked series per reason. */
function anonymousByHour(rows: AnonymousMinute[], f: Filters): [string[], Series[]] {
  // Every UTC hour of the range, the quiet ones at zero.
  const key = (minute: string) => bucketOf(minute, 'hour', 'UTC');
  const hours = [...new Set([...rateLimitBuckets({ ...f, tz: 'UTC' }, 'hour'), ...rows.map((r) => key(r.minute))])].sort();
  const at = new Map(hours.map((hour, i) => [hour, i]));
  const series = ANONYMOUS_REASONS.map(([reason, label], i): Series => ({ label, data: hours.map(() => 0), stack: 'anonymous', color: color(i) }));
  for (const r of rows) {
    const s = series[ANONYMOUS_REASONS.findIndex(([reason]) => reason === r.reason)];
    if (s) (s.data as number[])[at.get(key(r.minute))!] += r.requests;
  }
  return [hours, series.filter((s) => s.data.some((v) => (v ?? 0) > 0))];
}

export const rateLimitsPage: PageDef = { path: '/rate-limits', title: 'Rate limits', roles: ['admin', 'engineer'], filters: ['range', 'bucket', 'org', 'feature', 'model', 'tz'], liveEvery: 5, create };
