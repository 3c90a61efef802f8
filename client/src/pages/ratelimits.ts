// Rate limits: headroom per org and model against the limit, time to reset, 429s by feature and
// kind, SDK retries, latency percentiles and time to first byte per feature.
import { headroom, latency, throttling, type Headroom, type LatencyByFeature } from '../analytics.js';
import { ChartPanel, DataTable, type Series } from '../charts.js';
import { h } from '../dom.js';
import { formatBucket, formatDuration, formatInt, formatMs } from '../format.js';
import type { Page, PageDef } from '../page.js';
import { failureText, load } from '../panels.js';

function create(): Page {
  const reqHeadroom = new ChartPanel({ id: 'ratelimits-requests-headroom', title: 'Requests used vs limit', type: 'line', unit: 'rpm', description: 'Per org and model: requests used in the window (solid) against the limit (dashed).', emptyText: 'No rate-limit headers seen in this range.' });
  const tokHeadroom = new ChartPanel({ id: 'ratelimits-tokens-headroom', title: 'Tokens used vs limit', type: 'line', unit: 'tpm', description: 'Per org and model: tokens used in the window (solid) against the limit (dashed).', emptyText: 'No rate-limit headers seen in this range.' });
  const resetNote = h('div', { class: 'note' });
  const resets = new DataTable<Headroom>('headroom-now', 'Headroom now', [
    { label: 'Org', value: (r) => r.orgName },
    { label: 'Model', value: (r) => h('code', {}, r.model) },
    { label: 'Requests left', numeric: true, value: (r) => `${formatInt(r.remainingRequests.at(-1))} of ${formatInt(r.limitRequests.at(-1))}` },
    { label: 'Resets in', numeric: true, value: (r) => formatDuration(r.resetRequestsSeconds) },
    { label: 'Tokens left', numeric: true, value: (r) => `${formatInt(r.remainingTokens.at(-1))} of ${formatInt(r.limitTokens.at(-1))}` },
    { label: 'Resets in', numeric: true, value: (r) => formatDuration(r.resetTokensSeconds) },
  ]);
  const throttles = new ChartPanel({ id: 'ratelimits-429s-by-feature', title: '429s by feature and kind', type: 'bar', unit: 'requests', stacked: true, description: 'requests = RPM limit, tokens = TPM limit, quota = out of credit.', emptyText: 'No 429s in this range.' });
  const retries = new ChartPanel({ id: 'ratelimits-retries', title: 'SDK retries by feature', type: 'bar', unit: 'requests', horizontal: true, legend: false, emptyText: 'No retries in this range.' });
  const latencyPanel = new ChartPanel({ id: 'ratelimits-latency', title: 'Latency by feature', type: 'bar', unit: 'ms', description: 'p50, p95 and p99 of total latency, and median time to first byte.', emptyText: 'No requests in this range.' });
  const latencyTable = new DataTable<LatencyByFeature>('latency', 'Latency by feature', [
    { label: 'Feature', value: (r) => r.name },
    { label: 'Requests', numeric: true, value: (r) => formatInt(r.requests) },
    { label: 'p50', numeric: true, value: (r) => formatMs(r.p50) },
    { label: 'p95', numeric: true, value: (r) => formatMs(r.p95) },
    { label: 'p99', numeric: true, value: (r) => formatMs(r.p99) },
    { label: 'TTFB p50', numeric: true, value: (r) => formatMs(r.ttfbP50) },
    { label: 'TTFB p95', numeric: true, value: (r) => formatMs(r.ttfbP95) },
  ]);
  latencyPanel.footer.append(latencyTable.el);

  return {
    el: h(
      'div',
      { class: 'page' },
      h('h1', { class: 'page-title' }, 'Rate limits'),
      h('div', { class: 'grid grid-2' }, reqHeadroom.el, tokHeadroom.el),
      h('section', { class: 'card', 'aria-labelledby': 'headroom-now-title' }, h('header', { class: 'card-header' }, h('h2', { id: 'headroom-now-title' }, 'Headroom now and time to reset')), resetNote, resets.el),
      h('div', { class: 'grid grid-2' }, throttles.el, retries.el),
      latencyPanel.el,
    ),
    async refresh({ filters, signal }) {
      await Promise.all([
        load(reqHeadroom, headroom(filters, signal)).then(
          (rows) => {
            if (!rows) return failureNote();
            const labels = (rows[0]?.buckets ?? []).map((b) => formatBucket(b, filters.bucket === 'month' ? 'day' : filters.bucket, filters.tz));
            const used = (limit: Array<number | null>, remaining: Array<number | null>) => limit.map((l, i) => (l === null || remaining[i] === null ? null : l - remaining[i]!));
            const series = (kind: 'Requests' | 'Tokens'): Series[] =>
              rows.flatMap((r, i): Series[] => {
                const limit = kind === 'Requests' ? r.limitRequests : r.limitTokens;
                const remaining = kind === 'Requests' ? r.remainingRequests : r.remainingTokens;
                return [
                  { label: `${r.orgName} · ${r.model}`, data: used(limit, remaining), color: undefined, stack: `s${i}` },
                  { label: `${r.orgName} · ${r.model} limit`, data: limit, reference: true },
                ];
              });
            reqHeadroom.setData(labels, series('Requests'));
            tokHeadroom.setData(labels, series('Tokens'));
            resets.setRows(rows, undefined, 'No rate-limit headers seen in this range.');
            resetNote.replaceChildren();
          },
        ),
        load(throttles, throttling(filters, signal)).then((data) => {
          if (!data) return;
          const labels = data.buckets.map((b) => formatBucket(b, filters.bucket, filters.tz));
          const series: Series[] = data.features.flatMap((f) => [
            { label: `${f.name} · requests`, data: f.requests, stack: f.key },
            { label: `${f.name} · tokens`, data: f.tokens, stack: f.key },
            { label: `${f.name} · quota`, data: f.quota, stack: f.key },
          ]);
          throttles.setData(labels, series);
          retries.setData(data.features.map((f) => f.name), [{ label: 'Retries', data: data.features.map((f) => f.retries) }]);
        }),
        load(latencyPanel, latency(filters, signal)).then((rows) => {
          if (!rows) return;
          latencyPanel.setData(rows.map((r) => r.name), [
            { label: 'p50', data: rows.map((r) => r.p50) },
            { label: 'p95', data: rows.map((r) => r.p95) },
            { label: 'p99', data: rows.map((r) => r.p99) },
            { label: 'TTFB p50', data: rows.map((r) => r.ttfbP50) },
          ]);
          latencyTable.setRows(rows, undefined, 'No requests in this range.');
        }),
      ]);
      function failureNote() {
        tokHeadroom.setUnavailable(reqHeadroom.el.querySelector('.state-msg')?.textContent ?? failureText(new Error('unavailable')).text);
      }
    },
  };
}

export const rateLimitsPage: PageDef = { path: '/rate-limits', title: 'Rate limits', roles: ['admin', 'engineer'], filters: ['range', 'bucket', 'org', 'feature', 'model', 'tz'], liveEvery: 5, create };
