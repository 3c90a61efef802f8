// Batches: every Batch API batch seen through the gateway, with its state upstream, line counts, how many
// lines are in the ledger and (finance, admin) their cost at batch prices. Admins can meter one now.
import type { BatchList, BatchView } from '../../../server/contract/batches.js';
import { api } from '../api.js';
import { DataTable } from '../charts.js';
import { announce, h } from '../dom.js';
import { formatDateTime, formatInt, formatUsd } from '../format.js';
import { act } from '../forms.js';
import type { Me } from '../auth.js';
import type { Page, PageDef } from '../page.js';
import { load } from '../panels.js';

function progress(b: BatchView): Node {
  const lines = b.requestCompleted + b.requestFailed;
  const label = b.meteredAt ? 'Metered' : ['completed', 'expired', 'cancelled', 'failed'].includes(b.status) ? 'Metering' : 'Watching';
  return h(
    'span',
    { 'data-batch-progress': b.id },
    `${label}: ${formatInt(b.linesMetered)} of ${formatInt(lines)} lines`,
    h('progress', { max: Math.max(lines, 1), value: Math.min(b.linesMetered, Math.max(lines, 1)), 'aria-label': `Lines metered of batch ${b.id}` }),
  );
}

function create(me: Me): Page {
  const money = me.role !== 'engineer';
  const note = h('div', { class: 'note' });
  const table = new DataTable<BatchView>('batches', 'Batches', [
    { label: 'Batch', value: (b) => h('code', {}, b.id) },
    { label: 'Feature', value: (b) => b.featureSlug ?? '(not through a gateway key)' },
    { label: 'Org', value: (b) => b.orgName ?? b.orgId },
    { label: 'Endpoint', value: (b) => b.endpoint ?? '—' },
    { label: 'Status', value: (b) => h('span', { class: 'badge badge-info', 'data-batch-status': b.status }, b.status) },
    { label: 'Lines', value: (b) => `${formatInt(b.requestTotal)} (${formatInt(b.requestCompleted)} done, ${formatInt(b.requestFailed)} failed)`, numeric: true },
    { label: 'Progress', value: progress },
    ...(money
      ? [
          {
            label: 'Cost (batch price)',
            numeric: true,
            value: (b: BatchView) =>
              h('span', { 'data-cost-nanos': b.costNanos ?? '' }, formatUsd(b.costNanos, 4), b.unpricedLines ? h('small', { class: 'badge badge-warn' }, ` + ${formatInt(b.unpricedLines)} unpriced`) : ''),
          },
        ]
      : []),
    { label: 'Created', value: (b) => formatDateTime(b.createdAt) },
    { label: 'Last error', value: (b) => (b.lastError ? h('span', { class: 'form-error' }, b.lastError) : '—') },
    ...(me.role === 'admin'
      ? [
          {
            label: 'Actions',
            value: (b: BatchView) =>
              b.meteredAt
                ? '—'
                : h('button', { type: 'button', class: 'btn btn-sm', onclick: () => void meterNow(b.id), 'aria-label': `Meter batch ${b.id} now` }, 'Meter now'),
          },
        ]
      : []),
  ]);

  async function refreshTable(signal?: AbortSignal): Promise<void> {
    const data = await load(null, api.get<BatchList>('/api/batches', { limit: 200 }, signal), note);
    if (data) table.setRows(data.batches, undefined, 'No batch seen through the gateway yet.');
  }

  async function meterNow(id: string): Promise<void> {
    let view: BatchView | undefined;
    const ok = await act(async () => {
      view = await api.post<BatchView>(`/api/admin/batches/${encodeURIComponent(id)}/meter`);
    }, `Batch ${id} polled.`);
    if (ok && view) announce(`Batch ${id}: ${view.status}, ${formatInt(view.linesMetered)} lines metered.`);
    await refreshTable();
  }

  return {
    el: h(
      'div',
      { class: 'page' },
      h('div', { class: 'page-head' }, h('h1', { class: 'page-title' }, 'Batches')),
      h(
        'p',
        { class: 'page-intro' },
        'Batch API batches created through the gateway. When a batch ends, each line of its output file becomes a usage event at the batch price (the "batch" endpoint family), attributed to the feature that created it; lines of the error file are recorded failed at no cost.',
      ),
      h('section', { class: 'card', 'aria-labelledby': 'batches-title' }, h('header', { class: 'card-header' }, h('h2', { id: 'batches-title' }, 'Batches')), note, table.el),
    ),
    async refresh({ signal }) {
      await refreshTable(signal);
    },
  };
}

export const batchesPage: PageDef = { path: '/batches', title: 'Batches', roles: ['admin', 'finance', 'engineer'], filters: [], liveEvery: 10, create };
