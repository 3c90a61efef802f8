// Finance: spend by org, feature and model over the chosen range with a table under each chart,
// the monthly statement per org, CSV downloads. Unpriced and estimated costs are marked.
import { groupedSeries, rangeQuery, seriesCsvPath, statement, statementCsvPath, type Group, type GroupBy, type Statement, type StatementLine } from '../analytics.js';
import { announce, clear, h } from '../dom.js';
import { downloadCsv } from '../api.js';
import { known } from '../catalog.js';
import { ChartPanel, DataTable } from '../charts.js';
import { formatInt, formatUsd } from '../format.js';
import type { Filters } from '../filters.js';
import type { Page, PageDef } from '../page.js';
import { bucketLabels, costSeries, load } from '../panels.js';

const marks = (unpriced: number, estimated: number): Node | string => {
  const parts: Node[] = [];
  if (unpriced) parts.push(h('span', { class: 'badge badge-warn', title: 'Model without a price: cost unknown, not counted as $0' }, `${formatInt(unpriced)} unpriced`));
  if (estimated) parts.push(h('span', { class: 'badge badge-info', title: 'Tokens estimated (stream aborted before usage was reported)' }, `${formatInt(estimated)} estimated`));
  return parts.length ? h('span', { class: 'marks' }, ...parts) : '';
};

function breakdown(groupBy: GroupBy, title: string) {
  const panel = new ChartPanel({ id: `finance-spend-by-${groupBy}`, title, type: 'bar', unit: 'usd', stacked: true, emptyText: 'No spend in this range.' });
  const table = new DataTable<Group>(`finance-${groupBy}`, `${title}: totals`, [
    { label: groupBy === 'org' ? 'Org' : groupBy[0].toUpperCase() + groupBy.slice(1), value: (g) => g.name },
    { label: 'Requests', numeric: true, value: (g) => formatInt(g.totals.requests) },
    { label: 'Input tokens', numeric: true, value: (g) => formatInt(g.totals.inputTokens) },
    { label: 'Output tokens', numeric: true, value: (g) => formatInt(g.totals.outputTokens) },
    { label: 'Cost', numeric: true, value: (g) => h('span', { 'data-cost-nanos': g.totals.costNanos }, formatUsd(g.totals.costNanos)) },
    { label: '', value: (g) => marks(g.totals.unpricedRequests, g.totals.estimatedRequests) },
  ]);
  let filters: Filters | null = null;
  const csv = h('button', { type: 'button', class: 'btn btn-sm', 'data-csv': groupBy }, 'Download CSV');
  csv.addEventListener('click', () => {
    if (filters) downloadCsv(seriesCsvPath, { ...rangeQuery(filters), bucket: filters.bucket, groupBy, metric: 'cost' }, `spend-by-${groupBy}.csv`).catch((e: Error) => announce(e.message, 'error'));
  });
  panel.footer.append(table.el, h('div', { class: 'card-actions' }, csv));
  return {
    el: panel.el,
    async refresh(f: Filters, signal: AbortSignal) {
      filters = f;
      const data = await load(panel, groupedSeries(f, groupBy, 'cost', signal));
      if (!data) return;
      panel.setData(bucketLabels(data.buckets, f), costSeries(data));
      const total = data.groups.reduce((sum, g) => sum + BigInt(g.totals.costNanos), 0n);
      const requests = data.groups.reduce((sum, g) => sum + g.totals.requests, 0);
      table.setRows(data.groups, ['Total', formatInt(requests), '', '', formatUsd(total), ''], 'No spend in this range.');
    },
  };
}

function statementSection() {
  const month = h('input', { type: 'month', id: 'statement-month', value: new Date().toISOString().slice(0, 7) });
  const org = h('select', { id: 'statement-org' });
  const note = h('div', { class: 'note' });
  const heading = h('p', { class: 'statement-head' });
  const table = new DataTable<StatementLine>('statement', 'Monthly statement', [
    { label: 'Feature', value: (l) => l.feature },
    { label: 'Model', value: (l) => h('code', {}, l.model) },
    { label: 'Requests', numeric: true, value: (l) => formatInt(l.requests) },
    { label: 'Input tokens', numeric: true, value: (l) => formatInt(l.inputTokens) },
    { label: 'Output tokens', numeric: true, value: (l) => formatInt(l.outputTokens) },
    { label: 'Cost', numeric: true, value: (l) => (l.costNanos === null ? h('span', { class: 'badge badge-warn' }, 'unpriced') : h('span', {}, formatUsd(l.costNanos, 2), l.estimated ? h('span', { class: 'badge badge-info' }, 'estimated') : null)) },
  ]);
  let tz = 'UTC';
  let signalRef: AbortSignal | undefined;
  const csv = h('button', { type: 'button', class: 'btn btn-sm', 'data-csv': 'statement' }, 'Download statement CSV');
  csv.addEventListener('click', () => {
    if (org.value) downloadCsv(statementCsvPath(org.value), { month: month.value, tz }, `statement-${month.value}.csv`).catch((e: Error) => announce(e.message, 'error'));
  });
  const show = async () => {
    if (!org.value) return clear(note, h('p', { class: 'state-msg state-empty' }, 'No org with spend to show yet.'));
    const st = await load(null, statement(org.value, month.value, tz, signalRef), note);
    if (!st) return;
    renderStatement(st);
  };
  const renderStatement = (st: Statement) => {
    heading.textContent = `${st.org} — ${st.month} (${tz})`;
    const total = h('strong', { 'data-statement-total': st.totalNanos }, formatUsd(st.totalNanos, 2));
    table.setRows(st.lines, ['Total', '', formatInt(st.lines.reduce((s, l) => s + l.requests, 0)), '', '', total], 'No usage in this month.');
    if (st.unpricedRequests) clear(note, h('p', { class: 'state-msg state-unavailable' }, `${formatInt(st.unpricedRequests)} requests used a model without a price: their cost is unknown and not in the total.`));
  };
  month.addEventListener('change', () => void show());
  org.addEventListener('change', () => void show());
  return {
    el: h(
      'section',
      { class: 'card', 'aria-labelledby': 'statement-title' },
      h('header', { class: 'card-header' }, h('h2', { id: 'statement-title' }, 'Monthly statement'), h('p', { class: 'card-desc' }, 'Per org, exact to the nano-dollar; lines add up to the total.')),
      h('div', { class: 'inline-form' }, h('label', { for: 'statement-org' }, 'Org'), org, h('label', { for: 'statement-month' }, 'Month'), month, csv),
      heading,
      note,
      table.el,
    ),
    async refresh(f: Filters, signal: AbortSignal) {
      tz = f.tz;
      signalRef = signal;
      const orgs = known('org');
      const selected = org.value || f.org || orgs[0]?.id || '';
      if (org.options.length !== orgs.length) clear(org, ...orgs.map((o) => h('option', { value: o.id, selected: o.id === selected }, o.name)));
      if (selected) org.value = selected;
      await show();
    },
  };
}

function create(): Page {
  const sections = [breakdown('org', 'Spend by org'), breakdown('feature', 'Spend by feature'), breakdown('model', 'Spend by model')];
  const st = statementSection();
  return {
    el: h('div', { class: 'page' }, h('h1', { class: 'page-title' }, 'Finance'), h('div', { class: 'grid grid-1' }, ...sections.map((s) => s.el), st.el)),
    async refresh({ filters, signal }) {
      await Promise.all(sections.map((s) => s.refresh(filters, signal)));
      await st.refresh(filters, signal);
    },
  };
}

export const financePage: PageDef = { path: '/finance', title: 'Finance', roles: ['admin', 'finance'], filters: ['range', 'bucket', 'org', 'feature', 'model', 'tz'], liveEvery: 10, create };
