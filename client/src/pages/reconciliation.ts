// Finance → Reconciliation: per org and UTC day the ledger beside OpenAI's own usage and costs, the difference
// and each gap's cause; a row opens its models and OpenAI's key ids. Sync status per org (progress, ETA, last
// error), and for admins the org's admin key (set, rotate, remove) and OpenAI's id for each upstream key.
import type { Gap, KeyLine, OrgDayLine, OrgReconciliationState, ReconciliationReport } from '../../../server/contract/index.js';
import { admin, type Org } from '../admin-api.js';
import { api, downloadCsv, request } from '../api.js';
import { DataTable } from '../charts.js';
import { announce, clear, h } from '../dom.js';
import { resolveRange, type Filters } from '../filters.js';
import { formatDateTime, formatInt, formatUsd } from '../format.js';
import { act, confirmDialog, formDialog } from '../forms.js';
import type { Page, PageDef } from '../page.js';
import { load } from '../panels.js';

const GAP_LABEL: Record<Gap['kind'], string> = {
  outside_tallygate: 'Outside Tallygate',
  estimated: 'Estimated rows',
  unmetered: 'Not metered per call',
  price: 'Price difference',
  unexplained: 'Unexplained',
};

const usd = (nanos: string) => h('span', { 'data-cost-nanos': nanos }, formatUsd(nanos, 6));
const day = (d: Date) => d.toISOString().slice(0, 10);

function range(f: Filters): { from: string; to: string } {
  const { from, to } = resolveRange(f);
  // Reconciliation is by UTC day: the last day included is the one the range ends in.
  return { from: day(from), to: day(new Date(to.getTime() - 1)) };
}

function gapList(gaps: Gap[]): Node | string {
  if (!gaps.length) return '—';
  return h(
    'ul',
    { class: 'gap-list' },
    ...gaps.map((g) => h('li', { 'data-gap': g.kind, title: g.detail }, h('span', { class: `badge badge-${g.kind === 'unexplained' ? 'warn' : 'info'}` }, GAP_LABEL[g.kind]), ' ', usd(g.nanos), ' ', h('small', {}, g.detail))),
  );
}

function statusText(s: OrgReconciliationState): string {
  if (!s.enabled) return 'Off: no admin key for this org.';
  const sync = s.sync;
  if (sync.running) return `Syncing: ${formatInt(sync.bucketsDone)} / ${formatInt(sync.bucketsTotal)} buckets${sync.eta ? `, done about ${formatDateTime(sync.eta)}` : ''}.`;
  if (!sync.lastSuccessAt && !sync.lastError) return 'Waiting for the first sync.';
  return sync.syncedUntil ? `OpenAI's numbers complete up to ${formatDateTime(sync.syncedUntil)}.` : 'Synced in part.';
}

function create(me: { role: string }): Page {
  const isAdmin = me.role === 'admin';
  const note = h('div', { class: 'note' });
  const totals = h('p', { class: 'statement-head', id: 'reconciliation-totals' });
  const detail = h('div', { class: 'recon-detail', id: 'reconciliation-detail' });
  let filters: Filters | null = null;
  let report: ReconciliationReport | null = null;

  const statusTable = new DataTable<OrgReconciliationState>('reconciliation-status', 'Sync status per org', [
    { label: 'Org', value: (s) => h('strong', {}, s.orgName) },
    { label: 'Reconciliation', value: (s) => h('span', { 'data-recon-enabled': String(s.enabled) }, statusText(s)) },
    { label: 'Last sync', value: (s) => formatDateTime(s.sync.lastSuccessAt) },
    { label: 'Last error', value: (s) => (s.sync.lastError ? h('span', { class: 'form-error' }, s.sync.lastError) : '—') },
    {
      label: 'Keys',
      value: (s) => (s.keysWithoutOpenaiId ? h('span', { class: 'badge badge-warn' }, `${s.keysWithoutOpenaiId} upstream key(s) without OpenAI's key id`) : '—'),
    },
    ...(isAdmin
      ? [
          {
            label: 'Actions',
            value: (s: OrgReconciliationState) =>
              h(
                'div',
                { class: 'row-actions' },
                h('button', { type: 'button', class: 'btn btn-sm', onclick: () => void setAdminKey(s), 'aria-label': `Set the admin key of ${s.orgName}` }, s.enabled ? 'Rotate admin key' : 'Set admin key'),
                s.enabled ? h('button', { type: 'button', class: 'btn btn-sm', onclick: () => void removeAdminKey(s) }, 'Remove') : null,
                h('button', { type: 'button', class: 'btn btn-sm', onclick: () => void keyIds(s) }, 'Key ids'),
                s.enabled ? h('button', { type: 'button', class: 'btn btn-sm', onclick: () => void syncNow(s.orgId) }, 'Sync now') : null,
              ),
          },
        ]
      : []),
  ]);

  const table = new DataTable<OrgDayLine>('reconciliation', 'Ledger against OpenAI per org and day', [
    { label: 'Day (UTC)', value: (l) => (l.partial ? h('span', {}, l.day, ' ', h('span', { class: 'badge badge-info', title: "OpenAI's numbers were synced before this day ended" }, 'partial')) : l.day) },
    { label: 'Org', value: (l) => l.orgName },
    { label: 'Ledger requests', numeric: true, value: (l) => formatInt(l.ledger.requests) },
    { label: 'OpenAI requests', numeric: true, value: (l) => formatInt(l.openai.requests) },
    { label: 'Ledger tokens (in / out)', numeric: true, value: (l) => `${formatInt(l.ledger.inputTokens)} / ${formatInt(l.ledger.outputTokens)}` },
    { label: 'OpenAI tokens (in / out)', numeric: true, value: (l) => `${formatInt(l.openai.inputTokens)} / ${formatInt(l.openai.outputTokens)}` },
    { label: 'Ledger cost', numeric: true, value: (l) => usd(l.ledger.costNanos) },
    { label: 'OpenAI cost', numeric: true, value: (l) => usd(l.openai.costNanos) },
    { label: 'Difference', numeric: true, value: (l) => h('span', { 'data-difference-nanos': l.differenceNanos }, formatUsd(l.differenceNanos, 6), l.differencePercent ? ` (${l.differencePercent}%)` : '') },
    { label: 'Explained by', value: (l) => gapList(l.gaps) },
    { label: '', value: (l) => h('button', { type: 'button', class: 'btn btn-sm', onclick: () => void drill(l) }, 'Details') },
  ]);

  async function drill(line: OrgDayLine): Promise<void> {
    const models = new DataTable<OrgDayLine['models'][number]>('reconciliation-models', `Models of ${line.orgName} on ${line.day}`, [
      { label: 'Model', value: (m) => h('code', {}, m.model) },
      { label: 'Ledger requests', numeric: true, value: (m) => formatInt(m.ledger.requests) },
      { label: 'OpenAI requests', numeric: true, value: (m) => formatInt(m.openai.requests) },
      { label: 'Ledger tokens (in / out)', numeric: true, value: (m) => `${formatInt(m.ledger.inputTokens)} / ${formatInt(m.ledger.outputTokens)}` },
      { label: 'OpenAI tokens (in / out)', numeric: true, value: (m) => `${formatInt(m.openai.inputTokens)} / ${formatInt(m.openai.outputTokens)}` },
      { label: 'Ledger cost', numeric: true, value: (m) => usd(m.ledger.costNanos) },
      { label: 'OpenAI cost', numeric: true, value: (m) => usd(m.openai.costNanos) },
      { label: 'Difference', numeric: true, value: (m) => usd(m.differenceNanos) },
    ]);
    models.setRows(line.models, undefined, 'No per-call usage this day.');
    const keys = new DataTable<KeyLine>('reconciliation-keys', `OpenAI key ids of ${line.orgName} on ${line.day}`, [
      { label: 'OpenAI key id', value: (k) => h('code', {}, k.apiKeyId || '(not grouped)') },
      { label: 'In Tallygate', value: (k) => (k.upstreamKey ? `${k.upstreamKey.masked} ${k.upstreamKey.label}` : h('span', { class: 'badge badge-warn' }, 'outside Tallygate')) },
      { label: 'Requests', numeric: true, value: (k) => formatInt(k.requests) },
      { label: 'Tokens (in / out)', numeric: true, value: (k) => `${formatInt(k.inputTokens)} / ${formatInt(k.outputTokens)}` },
      { label: 'OpenAI cost', numeric: true, value: (k) => usd(k.costNanos) },
    ]);
    clear(detail, h('h3', {}, `${line.orgName}, ${line.day}: by model`), models.el, h('h3', {}, 'By OpenAI API key'), keys.el);
    const lines = await api.get<KeyLine[]>('/api/analytics/reconciliation/keys', { from: line.day, to: line.day, org: line.orgId });
    keys.setRows(lines, undefined, 'No usage by key this day.');
    detail.scrollIntoView({ block: 'nearest' });
  }

  async function setAdminKey(s: OrgReconciliationState): Promise<void> {
    const done = await formDialog(
      `${s.enabled ? 'Rotate' : 'Set'} the admin key of ${s.orgName}`,
      [{ name: 'adminKey', label: 'OpenAI admin key', type: 'password', required: true, hint: 'From OpenAI: Settings → Organization → Admin keys. Stored sealed; shown only masked.' }],
      s.enabled ? 'Rotate' : 'Set',
      (v) => request('PUT', `/api/admin/orgs/${s.orgId}/admin-key`, { body: { adminKey: v.adminKey } }),
    );
    if (done !== null) {
      announce(`Admin key of ${s.orgName} saved; its first sync starts within a minute (or use Sync now).`);
      await refreshAll();
    }
  }

  async function removeAdminKey(s: OrgReconciliationState): Promise<void> {
    if (!(await confirmDialog('Remove admin key', `Remove the admin key of ${s.orgName}? Reconciliation stops for it; what was synced stays.`, 'Remove'))) return;
    if (await act(() => api.delete(`/api/admin/orgs/${s.orgId}/admin-key`), 'Admin key removed.')) await refreshAll();
  }

  async function keyIds(s: OrgReconciliationState): Promise<void> {
    const org = (await admin.orgs()).find((o: Org) => o.id === s.orgId);
    const live = org?.upstreamKeys ?? [];
    if (!live.length) return announce('This org has no upstream keys.', 'error');
    const done = await formDialog(
      `OpenAI key ids of ${s.orgName}`,
      live.map((k) => ({ name: k.id, label: `${k.masked} ${k.label}${k.revokedAt ? ' (revoked)' : ''}`, value: k.openaiKeyId ?? '', placeholder: 'key_…' })),
      'Save',
      async (v) => {
        for (const k of live) {
          const value = String(v[k.id] ?? '');
          if (value !== (k.openaiKeyId ?? '')) await api.patch(`/api/admin/orgs/${s.orgId}/keys/${k.id}`, { openaiKeyId: value === '' ? null : value });
        }
      },
      "OpenAI's usage names each key by an id (key_…): find it on the key's row in OpenAI's API keys page, or in the admin API's project API keys listing. Without it, traffic outside Tallygate cannot be told apart.",
    );
    if (done !== null) await refreshAll();
  }

  async function syncNow(orgId?: string): Promise<void> {
    if (await act(() => api.post('/api/admin/reconciliation/sync', orgId ? { orgId } : {}), 'Sync started: progress shows in the status table.')) await refreshAll();
  }

  const csv = h('button', { type: 'button', class: 'btn btn-sm', 'data-csv': 'reconciliation' }, 'Download CSV');
  csv.addEventListener('click', () => {
    if (!filters) return;
    const r = range(filters);
    downloadCsv('/api/analytics/reconciliation/export.csv', { ...r, org: filters.org || undefined }, `reconciliation-${r.from}-${r.to}.csv`).catch((e: Error) => announce(e.message, 'error'));
  });

  async function refreshAll(signal?: AbortSignal): Promise<void> {
    if (!filters) return;
    const r = range(filters);
    const data = await load(null, api.get<ReconciliationReport>('/api/analytics/reconciliation', { ...r, org: filters.org || undefined }, signal), note);
    if (!data) return;
    report = data;
    statusTable.setRows(data.orgs, undefined, 'No organizations yet.');
    table.setRows(
      data.days,
      ['Total', '', '', '', '', '', usd(data.totals.ledgerCostNanos), usd(data.totals.openaiCostNanos), usd(data.totals.differenceNanos), '', ''],
      data.orgs.some((o) => o.enabled) ? 'Nothing to reconcile in this range yet.' : 'Reconciliation is off: no org has an admin key. An admin sets one per org (Admin key, above).',
    );
    clear(
      totals,
      `${report.from} to ${report.to} (UTC days). Ledger `,
      usd(data.totals.ledgerCostNanos),
      ', OpenAI ',
      usd(data.totals.openaiCostNanos),
      ', difference (OpenAI − ledger) ',
      usd(data.totals.differenceNanos),
      '.',
    );
  }

  return {
    el: h(
      'div',
      { class: 'page' },
      h('div', { class: 'page-head' }, h('h1', { class: 'page-title' }, 'Reconciliation'), h('a', { class: 'btn btn-sm', href: '/finance', 'data-link': true }, '← Finance'), csv),
      h(
        'p',
        { class: 'page-intro' },
        "The ledger (what Tallygate recorded) beside OpenAI's own usage and costs (from each org's admin API), per UTC day. Nothing here changes the ledger.",
      ),
      h('section', { class: 'card', 'aria-labelledby': 'recon-status-title' }, h('header', { class: 'card-header' }, h('h2', { id: 'recon-status-title' }, 'Sync status')), statusTable.el),
      h('section', { class: 'card', 'aria-labelledby': 'recon-title' }, h('header', { class: 'card-header' }, h('h2', { id: 'recon-title' }, 'Ledger against OpenAI')), totals, note, table.el, detail),
    ),
    async refresh({ filters: f, signal }) {
      filters = f;
      await refreshAll(signal);
    },
  };
}

export const reconciliationPage: PageDef = { path: '/finance/reconciliation', title: 'Reconciliation', roles: ['admin', 'finance'], filters: ['range', 'org'], liveEvery: 15, create };
