// Rate limits: headroom over time per org and model as a share of the limit, headroom now with the
// org's state (a billing failure is not "healthy"), errors by kind with when each episode started,
// 429s by feature and kind, SDK retries, latency percentiles and time to first byte per feature.
import {
  anonymousRequests,
  errorsByKind,
  headroomSeries,
  latencyByFeature,
  latestHeadroom,
  rateLimitResolution,
  throttlingByFeature,
  throttlingSummary,
  type AnonymousMinute,
  type ErrorClass,
  type ErrorGroup,
  type HeadroomHistory,
  type LatencyByFeature,
  type LatestHeadroom,
} from '../analytics.js';
import { nameOf } from '../catalog.js';
import { ChartPanel, DataTable, color, markPartial, type Series } from '../charts.js';
import { clear, h } from '../dom.js';
import { limitCell, stateCell } from '../headroom.js';
import { formatDateTime, formatDuration, formatInt, formatMs, formatPct } from '../format.js';
import type { Page, PageDef } from '../page.js';
import { load } from '../panels.js';

/** How many org · model lines a headroom chart draws unless one is chosen: the closest to a limit. */
export const TOP_SERIES = 5;

const KIND_TEXT: Record<ErrorClass, string> = {
  billing: 'Billing (out of credit)',
  upstream_auth: 'Upstream key refused',
  upstream_5xx: 'OpenAI 5xx or unreachable',
  gateway: 'Gateway (answered by Tallygate)',
  rate_limit: 'Rate limit (429)',
  request: 'Request refused or abandoned',
};

function episodesCell(g: ErrorGroup, tz: string, rangeFrom: string): Node {
  const shown = g.episodes.slice(-3).reverse();
  // An episode that starts in the range's first minute may have started earlier: say so.
  const clipped = (start: string) => Date.parse(start) - Math.floor(Date.parse(rangeFrom) / 60_000) * 60_000 < 60_000;
  const since = (start: string) => (clipped(start) ? `already failing at the range's start, ${formatDateTime(start, tz)}` : formatDateTime(start, tz));
  return h(
    'ul',
    { class: 'episodes' },
    ...shown.map((e) =>
      h('li', { 'data-start': e.start }, e.ongoing ? `since ${since(e.start)} (ongoing)` : `${since(e.start)} – ${formatDateTime(e.end, tz)}`, ` · ${formatInt(e.failures)} failed`),
    ),
    g.episodes.length > shown.length ? h('li', { class: 'muted' }, `and ${g.episodes.length - shown.length} earlier`) : null,
  );
}

function create(): Page {
  let tz = 'UTC';
  let errorsFrom = '';
  let history: HeadroomHistory | null = null;
  const chosen = h('select', { id: 'headroom-series', 'aria-label': 'Headroom lines shown' }, h('option', { value: '' }, `Top ${TOP_SERIES} closest to a limit`));
  const headroomPanel = (kind: 'requests' | 'tokens') =>
    new ChartPanel({
      id: `ratelimits-${kind}-headroom`,
      title: `${kind === 'requests' ? 'Requests' : 'Tokens'}: share of the limit used`,
      type: 'line',
      unit: 'ratio',
      max: 1,
      gaps: true,
      description: `Per org and model: the most of its ${kind === 'requests' ? 'RPM' : 'TPM'} limit used in each interval (from the lowest x-ratelimit-remaining seen). Gaps: no calls, so nothing was observed.`,
      emptyText: 'No rate-limit headers seen in this range.',
    });
  const reqHeadroom = headroomPanel('requests');
  const tokHeadroom = headroomPanel('tokens');
  const historyNote = h('p', { class: 'card-desc', id: 'headroom-history' });
  const draw = () => {
    if (!history) return;
    const key = chosen.value;
    const picked = key ? history.series.filter((s) => `${s.org.id}|${s.model}` === key) : history.series.slice(0, TOP_SERIES);
    const labels = markPartial(history.resolution.labels, history.resolution.partialLast);
    const series = (kind: 'requests' | 'tokens'): Series[] => picked.map((s) => ({ label: `${s.org.name} · ${s.model}`, data: s[kind], color: color(history!.series.indexOf(s)) }));
    reqHeadroom.setData(labels, series('requests'));
    tokHeadroom.setData(labels, series('tokens'));
  };
  chosen.addEventListener('change', draw);

  const nowNote = h('div', { class: 'note' });
  const now = new DataTable<LatestHeadroom>('headroom-now', 'Headroom now', [
    { label: 'Org', value: (r) => r.org.name },
    { label: 'Model', value: (r) => h('code', {}, r.model) },
    { label: 'State', value: (r) => stateCell(r, tz) },
    { label: 'Requests (RPM)', value: (r) => limitCell(r.requests) },
    { label: 'Tokens (TPM)', value: (r) => limitCell(r.tokens) },
    { label: 'Seen', numeric: true, value: (r) => `${formatDuration(Math.max(0, Date.now() - Date.parse(r.observedAt)) / 1000)} ago` },
  ]);
  const errorsNote = h('div', { class: 'note' });
  const errors = new DataTable<ErrorGroup>('errors-by-kind', 'Errors by kind', [
    { label: 'Org', value: (g) => g.org.name },
    { label: 'Feature', value: (g) => g.feature.name ?? g.feature.slug ?? h('span', { title: 'Calls with no feature: made with a key whose feature was deleted.' }, '(no feature)') },
    { label: 'Kind', value: (g) => h('span', { 'data-kind': g.kind }, KIND_TEXT[g.kind]) },
    { label: 'Failed', numeric: true, value: (g) => `${formatInt(g.failures)} of ${formatInt(g.requests)} (${formatPct(g.failures / Math.max(1, g.requests), 0)})` },
    { label: 'Episodes (start to the minute)', value: (g) => episodesCell(g, tz, errorsFrom) },
    { label: 'What it means', value: (g) => h('span', { class: 'explanation' }, g.explanation) },
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
  const anonymous = new ChartPanel({ id: 'ratelimits-anonymous', title: 'Requests without an issued key', type: 'bar', unit: 'requests', stacked: true, description: 'Per interval and reason: no key, a malformed or unknown key, or one the gateway could not check. Answered 401; counted, not written to the ledger.', emptyText: 'None in this range.' });

  return {
    el: h(
      'div',
      { class: 'page' },
      h('h1', { class: 'page-title' }, 'Rate limits'),
      h('div', { class: 'toolbar-inline' }, h('label', { for: 'headroom-series' }, 'Headroom lines: '), chosen, historyNote),
      h('div', { class: 'grid grid-2' }, reqHeadroom.el, tokHeadroom.el),
      h('section', { class: 'card', 'aria-labelledby': 'headroom-now-title' }, h('header', { class: 'card-header' }, h('h2', { id: 'headroom-now-title' }, 'Headroom now and time to reset'), h('p', { class: 'card-desc' }, 'Latest x-ratelimit headers per org and model, refilled to now (OpenAI refills evenly until the reset). State: whether the org’s calls of the last 15 minutes fail upstream — room under a limit is no use to an org out of credit.')), nowNote, now.el),
      h('section', { class: 'card', 'aria-labelledby': 'errors-by-kind-title' }, h('header', { class: 'card-header' }, h('h2', { id: 'errors-by-kind-title' }, 'Errors by kind'), h('p', { class: 'card-desc' }, 'Failed calls per org and feature in this range, by who has to act. An episode is a run of minutes with failures; five quiet minutes end it.')), errorsNote, errors.el),
      h('div', { class: 'grid grid-2' }, throttles.el, retries.el),
      latencyPanel.el,
      anonymous.el,
    ),
    async refresh({ filters, signal }) {
      tz = filters.tz;
      const resolution = rateLimitResolution(filters);
      await Promise.all([
        load(reqHeadroom, headroomSeries(filters, signal)).then((data) => {
          if (!data) return tokHeadroom.setUnavailable(reqHeadroom.el.querySelector('.state-msg')?.textContent ?? '');
          history = data;
          const keep = chosen.value;
          clear(chosen, h('option', { value: '' }, `Top ${TOP_SERIES} closest to a limit`), ...data.series.map((s) => h('option', { value: `${s.org.id}|${s.model}` }, `${s.org.name} · ${s.model} (peak ${formatPct(s.peak, 0)})`)));
          chosen.value = data.series.some((s) => `${s.org.id}|${s.model}` === keep) ? keep : '';
          const since = data.historySince && Date.parse(data.historySince) > data.resolution.starts[0] ? data.historySince : null;
          historyNote.textContent = `${data.resolution.name} points${since ? ` · history since ${formatDateTime(since, filters.tz)} (kept ${data.historyDays} days)` : ''}`;
          draw();
        }),
        load(null, latestHeadroom(filters, signal), nowNote).then((rows) => rows && now.setRows(rows, undefined, 'No rate-limit headers seen yet.')),
        load(null, errorsByKind(filters, signal), errorsNote).then((body) => {
          if (!body) return;
          errorsFrom = body.from;
          errors.setRows(body.data, undefined, 'No failed calls in this range.');
        }),
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
          throttles.setData(markPartial(data.resolution.labels, data.resolution.partialLast), series);
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
        load(anonymous, anonymousRequests(filters, signal)).then((rows) => rows && anonymous.setData(...anonymousByInterval(rows, resolution))),
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

/** The per-minute counts summed per interval of the page's resolution, one stacked series per reason. */
function anonymousByInterval(rows: AnonymousMinute[], resolution: ReturnType<typeof rateLimitResolution>): [string[], Series[]] {
  const series = ANONYMOUS_REASONS.map(([, label], i): Series => ({ label, data: resolution.starts.map(() => 0), stack: 'anonymous', color: color(i) }));
  for (const r of rows) {
    const s = series[ANONYMOUS_REASONS.findIndex(([reason]) => reason === r.reason)];
    const i = resolution.index(r.minute);
    if (s && i !== undefined) (s.data as number[])[i] += r.requests;
  }
  return [markPartial(resolution.labels, resolution.partialLast), series];
}

export const rateLimitsPage: PageDef = { path: '/rate-limits', title: 'Rate limits', roles: ['admin', 'engineer'], filters: ['range', 'org', 'feature', 'model', 'tz'], liveEvery: 5, create };
