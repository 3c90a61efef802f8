// Alerts: what fires now, the rules (admins tune, disable and silence them), the channels alerts go to
// (admins add, test and remove them), the delivery log and the history. Read-only for finance and engineers.
import { alertsApi, RULE_LABELS, type Alert, type BudgetStatus, type Channel, type Delivery, type Rule } from '../alerts-api.js';
import { known } from '../catalog.js';
import type { Me } from '../auth.js';
import { DataTable } from '../charts.js';
import { h } from '../dom.js';
import { formatDateTime, formatUsd, nanosToDecimal } from '../format.js';
import { act, confirmDialog, formDialog, type Field } from '../forms.js';
import type { Page, PageDef } from '../page.js';
import { load } from '../panels.js';

const HOUR_MS = 3_600_000;
const severity = (s: Alert['severity']) => h('span', { class: `badge ${s === 'critical' ? 'badge-danger' : s === 'warning' ? 'badge-warn' : 'badge-info'}`, 'data-severity': s }, s);
const params = (p: Record<string, unknown>) => Object.entries(p).map(([k, v]) => `${k} ${String(v)}`).join(', ') || '—';

function card(id: string, title: string, desc: string, ...body: Node[]): HTMLElement {
  return h('section', { class: 'card', 'aria-labelledby': `${id}-title`, 'data-section': id }, h('header', { class: 'card-header' }, h('h2', { id: `${id}-title` }, title), h('p', { class: 'card-desc' }, desc)), ...body);
}

function create(me: Me): Page {
  const admin = me.role === 'admin';
  let reload: () => Promise<void> = async () => undefined;
  const button = (label: string, onClick: () => Promise<unknown>, cls = 'btn btn-sm') => {
    const b = h('button', { type: 'button', class: cls }, label);
    b.addEventListener('click', () => void onClick().then(() => reload()));
    return b;
  };

  const firingNote = h('div', { class: 'note' });
  const firing = new DataTable<Alert>('alerts-firing', 'Alerts firing now', [
    { label: 'Severity', value: (a) => severity(a.severity) },
    { label: 'Alert', value: (a) => h('span', { 'data-alert-title': a.id }, a.title) },
    { label: 'What', value: (a) => a.summary },
    { label: 'Org', value: (a) => a.orgName ?? '—' },
    { label: 'Features', value: (a) => a.featureSlugs.join(', ') || '—' },
    { label: 'Since', value: (a) => formatDateTime(a.startedAt) },
    { label: 'Acknowledged', value: (a) => (a.acknowledgedAt ? `${a.acknowledgedBy ?? ''} ${formatDateTime(a.acknowledgedAt)}` : a.silencedUntil && Date.parse(a.silencedUntil) > Date.now() ? `silenced until ${formatDateTime(a.silencedUntil)}` : 'no') },
    ...(admin
      ? [
          {
            label: 'Actions',
            value: (a: Alert) =>
              h(
                'span',
                { class: 'row-actions' },
                a.acknowledgedAt ? '' : button('Acknowledge', () => act(() => alertsApi.acknowledge(a.id), 'Acknowledged.')),
                button('Silence 1 h', () => act(() => alertsApi.silence(a.id, new Date(Date.now() + HOUR_MS).toISOString()), 'Silenced for an hour.')),
              ),
          },
        ]
      : []),
  ]);

  const rules = new DataTable<Rule>('alert-rules', 'Alert rules', [
    { label: 'Rule', value: (r) => h('span', { 'data-rule': r.kind }, RULE_LABELS[r.kind] ?? r.kind) },
    { label: 'When', value: (r) => r.description },
    { label: 'Parameters', value: (r) => params(r.params) },
    { label: 'State', value: (r) => h('span', { class: `badge ${r.enabled ? 'badge-ok' : 'badge-muted'}`, 'data-rule-state': r.kind }, r.enabled ? (r.silencedUntil && Date.parse(r.silencedUntil) > Date.now() ? `silenced until ${formatDateTime(r.silencedUntil)}` : 'on') : 'off') },
    ...(admin
      ? [
          {
            label: 'Actions',
            value: (r: Rule) =>
              h(
                'span',
                { class: 'row-actions' },
                button(r.enabled ? 'Turn off' : 'Turn on', () => act(() => alertsApi.updateRule(r.kind, { enabled: !r.enabled }), r.enabled ? 'Rule turned off.' : 'Rule turned on.')),
                Object.keys(r.params).length ? button('Edit', () => editRule(r)) : '',
                button(r.silencedUntil && Date.parse(r.silencedUntil) > Date.now() ? 'Unsilence' : 'Silence 1 h', () =>
                  act(() => alertsApi.updateRule(r.kind, { silencedUntil: r.silencedUntil && Date.parse(r.silencedUntil) > Date.now() ? null : new Date(Date.now() + HOUR_MS).toISOString() }), 'Rule updated.'),
                ),
              ),
          },
        ]
      : []),
  ]);

  const editRule = (r: Rule) =>
    formDialog(
      `Edit: ${RULE_LABELS[r.kind]}`,
      Object.entries(r.params).map(([name, value]): Field => ({ name, label: name, type: typeof value === 'number' ? 'number' : 'text', value: String(value), required: true })),
      'Save',
      (values) => alertsApi.updateRule(r.kind, { params: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, typeof r.params[k] === 'number' ? Number(v) : v])) }),
    );

  const channels = new DataTable<Channel>('alert-channels', 'Channels', [
    { label: 'Name', value: (c) => c.name },
    { label: 'Kind', value: (c) => c.kind },
    { label: 'Target', value: (c) => h('code', {}, c.target) },
    { label: 'Secret', value: (c) => c.secretMasked ?? '—' },
    { label: 'State', value: (c) => (c.enabled ? 'on' : 'off') },
    ...(admin
      ? [
          {
            label: 'Actions',
            value: (c: Channel) =>
              h(
                'span',
                { class: 'row-actions' },
                c.enabled ? button('Send test', () => act(() => alertsApi.sendTest(c.id), `Test queued to ${c.name}; see Deliveries.`)) : '',
                button(c.enabled ? 'Turn off' : 'Turn on', () => act(() => alertsApi.updateChannel(c.id, { enabled: !c.enabled }), 'Channel updated.')),
                button('Delete', async () => (await confirmDialog('Delete channel', `Delete ${c.name}? Its delivery log goes with it.`, 'Delete')) && act(() => alertsApi.deleteChannel(c.id), 'Channel deleted.'), 'btn btn-sm btn-danger'),
              ),
          },
        ]
      : []),
  ]);
  const addChannel = () =>
    formDialog(
      'Add a channel',
      [
        { name: 'kind', label: 'Kind', type: 'select', options: [{ value: 'webhook', label: 'Webhook (signed JSON)' }, { value: 'slack', label: 'Slack incoming webhook' }, { value: 'email', label: 'Email' }], value: 'webhook' },
        { name: 'name', label: 'Name', required: true },
        { name: 'url', label: 'URL (webhook or Slack)', type: 'url', hint: 'Sealed at rest; only its origin is shown again.' },
        { name: 'secret', label: 'Signing secret (webhook, at least 16 characters)', type: 'password', hint: 'X-Tallygate-Signature: sha256=HMAC of the body with this secret.' },
        { name: 'to', label: 'Recipients (email, comma-separated)' },
      ],
      'Add',
      (v) => {
        const kind = String(v.kind);
        const body = kind === 'email' ? { kind, name: v.name, to: String(v.to).split(',').map((s) => s.trim()).filter(Boolean) } : kind === 'slack' ? { kind, name: v.name, url: v.url } : { kind, name: v.name, url: v.url, secret: v.secret };
        return alertsApi.createChannel(body);
      },
    ).then(() => reload());

  const deliveries = new DataTable<Delivery>('alert-deliveries', 'Deliveries', [
    { label: 'When', value: (d) => formatDateTime(d.createdAt) },
    { label: 'Channel', value: (d) => d.channelName },
    { label: 'Alert', value: (d) => d.alertTitle ?? (d.event === 'test' ? 'Test' : '—') },
    { label: 'Event', value: (d) => d.event },
    { label: 'Status', value: (d) => h('span', { class: `badge ${d.status === 'delivered' ? 'badge-ok' : d.status === 'failed' ? 'badge-danger' : 'badge-warn'}`, 'data-delivery-status': d.id }, d.status) },
    { label: 'Attempts', numeric: true, value: (d) => String(d.attempts) },
    { label: 'Response', numeric: true, value: (d) => (d.responseCode === null ? '—' : String(d.responseCode)) },
    { label: 'Error / next try', value: (d) => d.error ? `${d.error}${d.nextAttemptAt ? ` · retry ${formatDateTime(d.nextAttemptAt)}` : ''}` : '' },
  ]);

  const history = new DataTable<Alert>('alerts-history', 'Alert history', [
    { label: 'Severity', value: (a) => severity(a.severity) },
    { label: 'Alert', value: (a) => a.title },
    { label: 'Started', value: (a) => formatDateTime(a.startedAt) },
    { label: 'Resolved', value: (a) => (a.resolvedAt ? formatDateTime(a.resolvedAt) : h('span', { class: 'badge badge-danger' }, 'firing')) },
    { label: 'Org', value: (a) => a.orgName ?? '—' },
    { label: 'Features', value: (a) => a.featureSlugs.join(', ') || '—' },
  ]);

  // Budgets are money: finance and admins see them here; engineers do not.
  const seesBudgets = me.role !== 'engineer';
  const budgets = new DataTable<BudgetStatus>('budgets', 'Budgets', [
    { label: 'Budget', value: (b) => h('span', { 'data-budget-name': b.id }, b.name) },
    { label: 'For', value: (b) => (b.featureSlug ? `feature ${b.featureSlug}` : `org ${b.orgName ?? ''}`) },
    { label: 'Period', value: (b) => `${b.period === 'monthly' ? 'monthly' : `${formatDateTime(b.periodStart)} – ${formatDateTime(b.periodEnd)}`} (${b.timeZone})` },
    { label: 'Amount', numeric: true, value: (b) => h('span', { 'data-cost-nanos': b.amountNanos }, formatUsd(b.amountNanos)) },
    { label: 'Spent', numeric: true, value: (b) => h('span', { 'data-cost-nanos': b.spentNanos }, `${formatUsd(b.spentNanos)} (${b.percent === null ? '—' : `${b.percent.toFixed(1)}%`})`) },
    { label: 'Forecast', numeric: true, value: (b) => h('span', { title: b.forecastMethod }, formatUsd(b.forecastNanos)) },
    { label: 'Thresholds', value: (b) => `${b.thresholds.join(' / ')}%${b.forecastPercent ? `, forecast > ${b.forecastPercent}%` : ''}` },
    { label: 'Enforcement', value: (b) => h('span', { class: `badge ${b.enforcement === 'hard' ? 'badge-warn' : 'badge-muted'}` }, b.enforcement === 'hard' ? 'hard (429)' : 'soft (alert)') },
    ...(admin
      ? [
          {
            label: 'Actions',
            value: (b: BudgetStatus) =>
              h(
                'span',
                { class: 'row-actions' },
                button('Edit', () => editBudget(b)),
                button('Delete', async () => (await confirmDialog('Delete budget', `Delete ${b.name}?${b.origin === 'feature' ? " This also clears the feature's monthly budget." : ''}`, 'Delete')) && act(() => alertsApi.deleteBudget(b.id), 'Budget deleted.'), 'btn btn-sm btn-danger'),
              ),
          },
        ]
      : []),
  ]);
  const thresholdList = (v: string | string[]) => String(v).split(/[\s,/]+/).filter(Boolean).map(Number);
  const budgetFields = (b?: BudgetStatus): Field[] => [
    { name: 'name', label: 'Name', required: true, value: b?.name ?? '' },
    { name: 'amountUsd', label: 'Amount (USD, exact)', required: true, value: b ? nanosToDecimal(b.amountNanos) : '', placeholder: '250.00' },
    { name: 'enforcement', label: 'Enforcement', type: 'select', value: b?.enforcement ?? 'soft', options: [{ value: 'soft', label: 'Soft: alert only' }, { value: 'hard', label: 'Hard: refuse calls (429) once used up' }] },
    { name: 'thresholds', label: 'Alert thresholds (%)', value: (b?.thresholds ?? [50, 80, 100]).join(', ') },
    { name: 'timeZone', label: 'Time zone of the period', value: b?.timeZone ?? 'UTC' },
  ];
  const editBudget = (b: BudgetStatus) =>
    formDialog(`Edit budget: ${b.name}`, budgetFields(b), 'Save', (v) =>
      alertsApi.updateBudget(b.id, { name: v.name, amountUsd: v.amountUsd, enforcement: v.enforcement, thresholds: thresholdList(v.thresholds), timeZone: v.timeZone }),
    );
  const addBudget = () =>
    formDialog(
      'Add a budget',
      [
        { name: 'target', label: 'For', type: 'select', options: [...known('feature').map((f) => ({ value: `feature:${f.id}`, label: `Feature: ${f.name}` })), ...known('org').map((o) => ({ value: `org:${o.id}`, label: `Org: ${o.name}` }))] },
        ...budgetFields(),
      ],
      'Add',
      (v) => {
        const [kind, id] = String(v.target).split(':');
        return alertsApi.createBudget({ name: v.name, [kind === 'org' ? 'orgId' : 'featureId']: id, amountUsd: v.amountUsd, enforcement: v.enforcement, thresholds: thresholdList(v.thresholds), timeZone: v.timeZone, period: 'monthly' });
      },
      'A monthly budget; thresholds fire alerts once each per month.',
    ).then(() => reload());
  const budgetsCard = seesBudgets
    ? card('budgets', 'Budgets', 'Per org or feature, per month in its time zone. Hard budgets refuse calls once used up.', ...(admin ? [h('div', { class: 'card-actions' }, h('button', { type: 'button', class: 'btn btn-sm btn-primary', onclick: () => void addBudget() }, 'Add budget'))] : []), budgets.el)
    : null;

  const add = admin ? h('button', { type: 'button', class: 'btn btn-sm btn-primary', onclick: () => void addChannel() }, 'Add channel') : null;
  const el = h(
    'div',
    { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', { class: 'page-title' }, 'Alerts'), admin ? null : h('p', { class: 'card-desc', 'data-read-only': '' }, 'Read-only: an admin tunes rules and channels.')),
    h(
      'div',
      { class: 'grid grid-1' },
      card('firing', 'Firing now', 'Each alert fires once per episode and resolves when its condition ends.', firingNote, firing.el),
      budgetsCard,
      card('rules', 'Rules', 'Evaluated every 30 s by default on every replica; Postgres makes each episode fire once.', rules.el),
      card('channels', 'Channels', 'Where firing and resolved alerts are sent.', ...(add ? [h('div', { class: 'card-actions' }, add)] : []), channels.el),
      card('deliveries', 'Deliveries', 'Each notification with its attempts (retried with backoff) and the response code.', deliveries.el),
      card('history', 'History', 'Alerts of the past, newest first.', history.el),
    ),
  );
  let signalRef: AbortSignal | undefined;
  reload = async () => {
    const signal = signalRef;
    await Promise.all([
      load(null, alertsApi.alerts('all', signal), firingNote).then((all) => {
        if (!all) return;
        firing.setRows(all.filter((a) => a.state === 'firing'), undefined, 'Nothing is firing.');
        history.setRows(all, undefined, 'No alerts yet.');
      }),
      load(null, alertsApi.rules(signal)).then((r) => r && rules.setRows(r)),
      seesBudgets && load(null, alertsApi.budgets(signal)).then((b) => b && budgets.setRows(b, undefined, 'No budgets yet.')),
      load(null, alertsApi.channels(signal)).then((c) => c && channels.setRows(c, undefined, admin ? 'No channels yet: add one so alerts reach someone.' : 'No channels yet.')),
      load(null, alertsApi.deliveries(signal)).then((d) => d && deliveries.setRows(d, undefined, 'Nothing sent yet.')),
    ]);
  };
  return {
    el,
    async refresh({ signal }) {
      signalRef = signal;
      await reload();
    },
  };
}

export const alertsPage: PageDef = { path: '/alerts', title: 'Alerts', roles: ['admin', 'finance', 'engineer'], filters: [], liveEvery: 10, create };
