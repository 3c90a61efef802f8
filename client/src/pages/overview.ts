// Overview: the page people open every morning. Month-to-date spend and forecast, requests,
// error rate and throttled share against the previous period; spend by feature over time; the
// orgs closest to a rate limit right now.
import { closestToLimit, groupedSeries, kpis, type ClosestToLimit, type Kpis } from '../analytics.js';
import { ChartPanel, DataTable } from '../charts.js';
import { h } from '../dom.js';
import { formatChange, formatDuration, formatInt, formatPct, formatUsd, nanosToUsd } from '../format.js';
import type { Page, PageDef } from '../page.js';
import { bucketLabels, costSeries, failureText, load } from '../panels.js';

function tile(id: string, label: string): { el: HTMLElement; set(value: string, change: { text: string; direction: string } | null, sub?: string, good?: 'up' | 'down'): void; fail(text: string): void } {
  const value = h('p', { class: 'kpi-value', 'data-kpi-value': id }, '…');
  const change = h('p', { class: 'kpi-change' });
  const sub = h('p', { class: 'kpi-sub' });
  const el = h('section', { class: 'card kpi', 'data-kpi': id, 'aria-label': label }, h('h2', { class: 'kpi-label' }, label), value, change, sub);
  return {
    el,
    set(v, c, s = '', good = 'down') {
      value.textContent = v;
      change.textContent = c ? c.text : '';
      change.className = `kpi-change ${c && c.direction !== 'flat' ? (c.direction === good ? 'good' : 'bad') : ''}`;
      if (c && c.direction !== 'flat') change.prepend(h('span', { 'aria-hidden': 'true' }, c.direction === 'up' ? '▲ ' : '▼ '));
      sub.textContent = s;
      el.dataset.state = 'ready';
    },
    fail(text) {
      value.textContent = '—';
      change.textContent = '';
      sub.textContent = text;
      el.dataset.state = 'error';
    },
  };
}

function create(): Page {
  const spend = tile('spend', 'Spend, month to date');
  const requests = tile('requests', 'Requests');
  const errors = tile('error-rate', 'Error rate');
  const throttled = tile('throttled', 'Throttled (429) share');
  const byFeature = new ChartPanel({ id: 'overview-spend-by-feature', title: 'Spend by feature', type: 'bar', unit: 'usd', stacked: true, description: 'Stacked by feature, per bucket, in the chosen time zone.', emptyText: 'No spend in this range.' });
  const closestNote = h('div', { class: 'note' });
  const closest = new DataTable<ClosestToLimit>('closest-to-limit', 'Orgs closest to a rate limit now', [
    { label: 'Org', value: (r) => r.orgName },
    { label: 'Model', value: (r) => h('code', {}, r.model) },
    { label: 'Limit', value: (r) => r.kind },
    { label: 'Used', numeric: true, value: (r) => h('span', { class: `meter ${r.used >= 0.9 ? 'hot' : r.used >= 0.7 ? 'warm' : ''}` }, h('span', { class: 'meter-bar', style: `width:${Math.min(100, r.used * 100).toFixed(0)}%` }), formatPct(r.used, 0)) },
    { label: 'Remaining', numeric: true, value: (r) => `${formatInt(r.remaining)} of ${formatInt(r.limit)}` },
    { label: 'Resets in', numeric: true, value: (r) => formatDuration(r.resetSeconds) },
  ]);

  return {
    el: h(
      'div',
      { class: 'page' },
      h('h1', { class: 'page-title' }, 'Overview'),
      h('div', { class: 'kpis' }, spend.el, requests.el, errors.el, throttled.el),
      h('div', { class: 'grid grid-2-1' }, byFeature.el, h('section', { class: 'card', 'aria-labelledby': 'closest-title' }, h('header', { class: 'card-header' }, h('h2', { id: 'closest-title' }, 'Closest to a rate limit now'), h('p', { class: 'card-desc' }, 'From the latest x-ratelimit headers each org returned.')), closestNote, closest.el)),
    ),
    async refresh({ filters, signal }) {
      await Promise.all([
        kpis(filters, signal).then(
          (k: Kpis) => {
            spend.set(
              formatUsd(k.mtdCostNanos),
              formatChange(nanosToUsd(k.mtdCostNanos), k.previousMonthCostNanos === null ? null : nanosToUsd(k.previousMonthCostNanos)),
              [k.forecastCostNanos !== null ? `Forecast for the month: ${formatUsd(k.forecastCostNanos)}` : '', k.unpricedRequests ? `${formatInt(k.unpricedRequests)} unpriced requests not included` : ''].filter(Boolean).join(' · '),
            );
            requests.set(formatInt(k.requests), formatChange(k.requests, k.previousRequests), 'in the selected range', 'up');
            errors.set(formatPct(k.errorRate), formatChange(k.errorRate, k.previousErrorRate), 'responses that were errors');
            throttled.set(formatPct(k.throttledShare), formatChange(k.throttledShare, k.previousThrottledShare), 'answered 429 by OpenAI or the gateway');
          },
          (error) => {
            if ((error as Error).name === 'AbortError') return;
            const { text } = failureText(error);
            [spend, requests, errors, throttled].forEach((t) => t.fail(text));
          },
        ),
        load(byFeature, groupedSeries(filters, 'feature', 'cost', signal)).then((data) => data && byFeature.setData(bucketLabels(data.buckets, filters), costSeries(data))),
        load(null, closestToLimit(signal), closestNote).then((rows) => rows && closest.setRows(rows, undefined, 'No rate-limit headers seen yet.')),
      ]);
    },
  };
}

export const overviewPage: PageDef = { path: '/overview', title: 'Overview', roles: ['admin', 'finance', 'engineer'], filters: ['range', 'bucket', 'org', 'feature', 'model', 'tz'], liveEvery: 5, create };
