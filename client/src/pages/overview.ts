// Overview: the page people open every morning. Month-to-date spend and forecast, requests,
// error rate and throttled share against the previous period; spend by feature over time; the
// orgs closest to a rate limit right now.
import { alertsApi, STATE_LABELS, type FeatureHealthList } from '../alerts-api.js';
import { closestToLimit, monthToDate, spendBy, throttlingSummary, usage, type LatestHeadroom } from '../analytics.js';
import { historySince } from '../catalog.js';
import { ChartPanel, DataTable } from '../charts.js';
import { clear, h } from '../dom.js';
import { limitCell, stateCell } from '../headroom.js';
import { formatChange, formatDateTime, formatInt, formatPct, formatUsd } from '../format.js';
import type { Me } from '../auth.js';
import type { Page, PageDef } from '../page.js';
import { costSeries, failureText, load } from '../panels.js';

type Change = { text: string; direction: 'up' | 'down' | 'flat' } | null;

function tile(id: string, label: string) {
  const value = h('p', { class: 'kpi-value', 'data-kpi-value': id }, '…');
  const change = h('p', { class: 'kpi-change' });
  const sub = h('p', { class: 'kpi-sub' });
  const el = h('section', { class: 'card kpi', 'data-kpi': id, 'data-state': 'loading', 'aria-label': label }, h('h2', { class: 'kpi-label' }, label), value, change, sub);
  return {
    el,
    /** `good` is the direction that is good news (up for requests, down for errors). */
    set(v: string, c: Change, s = '', good: 'up' | 'down' = 'down') {
      value.textContent = v;
      change.replaceChildren();
      change.className = `kpi-change ${c && c.direction !== 'flat' ? (c.direction === good ? 'good' : 'bad') : ''}`;
      if (c) change.append(h('span', { 'aria-hidden': 'true' }, c.direction === 'up' ? '▲ ' : c.direction === 'down' ? '▼ ' : ''), c.text);
      sub.textContent = s;
      el.dataset.state = 'ready';
    },
    fail(error: unknown) {
      if ((error as Error).name === 'AbortError') return;
      value.textContent = '—';
      change.textContent = '';
      sub.textContent = failureText(error).text;
      el.dataset.state = 'error';
    },
  };
}

const pctChange = (pct: number | null): Change => (pct === null ? { text: 'no spend last month by now', direction: 'flat' } : { text: `${pct > 0 ? '+' : ''}${pct.toFixed(1)}% vs last month by now`, direction: pct > 0 ? 'up' : pct < 0 ? 'down' : 'flat' });

function create(me: Me): Page {
  // Spend is finance's (and admins'): engineers get traffic, errors, throttling and headroom.
  const seesSpend = me.role !== 'engineer';
  const spend = tile('spend', 'Spend, month to date');
  const requests = tile('requests', 'Requests');
  const errors = tile('error-rate', 'Error rate');
  const throttled = tile('throttled', 'Throttled (429) share');
  const byFeature = seesSpend ? new ChartPanel({ id: 'overview-spend-by-feature', title: 'Spend by feature', type: 'bar', unit: 'usd', stacked: true, description: 'Stacked by feature, per bucket, in the chosen time zone.', emptyText: 'No spend in this range.' }) : undefined;
  const closestNote = h('div', { class: 'note' });
  let tz = 'UTC';
  const closest = new DataTable<LatestHeadroom>('closest-to-limit', 'Orgs closest to a rate limit now', [
    { label: 'Org · model', value: (r) => h('span', {}, r.org.name, ' · ', h('code', {}, r.model)) },
    {
      label: 'Used now',
      numeric: true,
      value: (r) => h('span', { class: `meter ${r.utilisationNow >= 0.9 ? 'hot' : r.utilisationNow >= 0.7 ? 'warm' : ''}` }, h('span', { class: 'meter-bar', style: `width:${Math.min(100, r.utilisationNow * 100).toFixed(0)}%` }), formatPct(r.utilisationNow, 0)),
    },
    { label: 'Requests', value: (r) => limitCell(r.requests) },
    { label: 'Tokens', value: (r) => limitCell(r.tokens) },
    { label: 'State', value: (r) => stateCell(r, tz) },
  ]);

  // Feature health: each feature's state now, its org and since when (a billing failure in one org is one feature down).
  const healthNote = h('div', { class: 'note' });
  const board = h('div', { class: 'health-board', 'data-feature-health-board': '' });
  const renderBoard = (list: FeatureHealthList) =>
    clear(
      board,
      ...list.features.map((f) =>
        h(
          'article',
          { class: 'health-tile', 'data-feature-health': f.featureSlug, 'data-state': f.state },
          h('h3', {}, f.featureName),
          h('p', {}, h('span', { class: `badge ${f.state === 'ok' ? 'badge-ok' : f.state === 'throttled' || f.state === 'budget_exhausted' ? 'badge-warn' : 'badge-danger'}`, 'data-health-state': '' }, STATE_LABELS[f.state])),
          h('p', { 'data-health-org': '' }, `Org: ${f.orgName}`),
          h('p', { 'data-health-since': f.since ?? '' }, f.since ? `Since ${formatDateTime(f.since)}` : 'No trouble in the last minutes'),
          h('p', { class: 'card-desc' }, f.reason),
        ),
      ),
      list.features.length ? null : h('p', { class: 'state-msg state-empty' }, 'No features yet.'),
    );
  const health = h(
    'section',
    { class: 'card', 'aria-labelledby': 'health-title', 'data-section': 'feature-health' },
    h('header', { class: 'card-header' }, h('h2', { id: 'health-title' }, 'Feature health'), h('p', { class: 'card-desc' }, 'Each feature now, from its last 5 minutes of calls and its budgets.')),
    healthNote,
    board,
  );

  return {
    el: h(
      'div',
      { class: 'page' },
      h('h1', { class: 'page-title' }, 'Overview'),
      health,
      h('div', { class: 'kpis' }, ...(seesSpend ? [spend.el] : []), requests.el, errors.el, throttled.el),
      h(
        'div',
        { class: seesSpend ? 'grid grid-2-1' : 'grid' },
        ...(byFeature ? [byFeature.el] : []),
        h('section', { class: 'card', 'aria-labelledby': 'closest-title' }, h('header', { class: 'card-header' }, h('h2', { id: 'closest-title' }, 'Closest to a rate limit now'), h('p', { class: 'card-desc' }, 'From the latest x-ratelimit headers each org returned, refilled to now.')), closestNote, closest.el),
      ),
    ),
    async refresh({ filters, signal }) {
      tz = filters.tz;
      await Promise.all([
        load(null, alertsApi.featureHealth(signal), healthNote).then((list) => list && renderBoard(list)),
        seesSpend &&
          monthToDate(filters, signal).then(
            (m) => spend.set(formatUsd(m.totals.spendNanos), pctChange(m.totals.changePct), `Forecast for the month: ${formatUsd(m.totals.forecastNanos)}`),
            (e) => spend.fail(e),
          ),
        // Engineers read the usage endpoint (spend is finance's); it carries the same request counts.
        Promise.all([usage(filters, { latency: !seesSpend }, signal), usage(filters, { previous: true, latency: !seesSpend }, signal)]).then(
          ([now, before]) => {
            const t = now.totals;
            const p = before.totals;
            // The earlier period began before the first recorded usage: it has no data, or only its tail.
            const since = historySince();
            const startsBeforeHistory = since === null || Date.parse(since) > Date.parse(before.meta.from);
            const partial = startsBeforeHistory && p.requests > 0 ? since : null;
            const previous = (value: number | null) => (startsBeforeHistory && !partial ? null : value);
            const unpriced = t.unpricedRequests ? ` · ${formatInt(t.unpricedRequests)} unpriced` : '';
            requests.set(formatInt(t.requests), formatChange(t.requests, previous(p.requests), partial), `in the selected range${unpriced}`, 'up');
            // No requests, no rate: "—", not "0.0%".
            const rate = (x: { errors: number; requests: number }) => (x.requests ? x.errors / x.requests : null);
            errors.set(formatPct(rate(t)), t.requests ? formatChange(rate(t), previous(rate(p)), partial) : null, t.requests ? `${formatInt(t.errors)} failed responses` : 'no requests in this range');
          },
          (e) => [requests, errors].forEach((t) => t.fail(e)),
        ),
        Promise.all([throttlingSummary(filters, signal), throttlingSummary(filters, signal, true)]).then(
          ([now, before]) => {
            const share = (rows: typeof now) => {
              const total = rows.reduce((s, r) => s + r.requests, 0);
              return { share: total ? rows.reduce((s, r) => s + r.throttled, 0) / total : null, total, throttled: rows.reduce((s, r) => s + r.throttled, 0) };
            };
            const n = share(now);
            const b = share(before);
            throttled.set(formatPct(n.share), n.total ? formatChange(n.share, b.total ? b.share : null) : null, n.total ? `${formatInt(n.throttled)} rate-limited (429) responses` : 'no requests in this range');
          },
          (e) => throttled.fail(e),
        ),
        byFeature && load(byFeature, spendBy(filters, 'feature', signal)).then((data) => data && byFeature.setData(data.labels, costSeries(data))),
        load(null, closestToLimit(filters, signal), closestNote).then((rows) => rows && closest.setRows(rows, undefined, 'No rate-limit headers seen yet.')),
      ]);
    },
  };
}

export const overviewPage: PageDef = { path: '/overview', title: 'Overview', roles: ['admin', 'finance', 'engineer'], filters: ['range', 'bucket', 'org', 'feature', 'model', 'tz'], liveEvery: 5, create };
