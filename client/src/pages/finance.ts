// Finance: spend by org, feature, model and endpoint family over the chosen range with a table under each chart,
// the monthly statement per org, CSV downloads. Unpriced and estimated costs are marked.
import { alertsApi, type FeatureForecast } from '../alerts-api.js';
import { eventsCsv, monthOfRange, periodOf, shareOf, spendBy, statement, statementCsv, tagCatalog, tagStatement, tagStatementQuery, type Group, type GroupBy, type Statement, type StatementLine, type TagOptions, type TagStatement } from '../analytics.js';
import { downloadCsv } from '../api.js';
import { idOf, known } from '../catalog.js';
import { ChartPanel, DataTable } from '../charts.js';
import { announce, clear, h } from '../dom.js';
import { formatDateTime, formatInt, formatPct, formatUsd, nanosToDecimal } from '../format.js';
import { updateFilters, type Filters } from '../filters.js';
import type { Page, PageDef } from '../page.js';
import { costSeries, downloadRowsCsv, load } from '../panels.js';
import { realtimeSection } from './realtime-activity.js';

const marks = (unpriced: number, estimated: number, notMetered = 0): Node | string => {
  const parts: Node[] = [];
  if (notMetered) parts.push(h('span', { class: 'badge badge-info', title: 'Not metered per call (file and vector-store storage, fine-tuning, resource calls): OpenAI bills these by storage, training or session time; see the reconciliation view' }, `${formatInt(notMetered)} not metered`));
  if (unpriced) parts.push(h('span', { class: 'badge badge-warn', title: 'Model without a price: cost unknown, not counted as $0' }, `${formatInt(unpriced)} unpriced`));
  if (estimated) parts.push(h('span', { class: 'badge badge-info', title: 'Tokens estimated (stream aborted before usage was reported)' }, `${formatInt(estimated)} estimated`));
  return parts.length ? h('span', { class: 'marks' }, ...parts) : '';
};

const GAP_LABEL: Record<Statement['reconciliation']['gaps'][number]['kind'], string> = {
  outside_tallygate: 'Outside Tallygate (keys it does not hold)',
  estimated: 'Estimated ledger rows',
  unmetered: 'Not metered per call',
  price: 'Price',
  unexplained: 'Unexplained',
};

/** The month beside OpenAI's bill: each figure names its side, the gaps say what the difference is made of. */
function reconciliationBlock(r: Statement['reconciliation']): HTMLElement {
  const title = h('h3', {}, "Beside OpenAI's bill");
  if (r.status === 'off') return h('div', { class: 'statement-recon', 'data-recon-status': 'off' }, title, h('p', { class: 'state-msg state-empty' }, 'Reconciliation off: this org has no admin key (Admin → Orgs).'));
  const status =
    r.status === 'complete'
      ? `OpenAI's numbers are complete for ${r.from} – ${r.to} (UTC days), synced ${r.syncedAt}.`
      : `OpenAI's numbers are partial: synced only up to ${r.syncedAt ?? 'never'}; calls since are in the ledger only, for now.`;
  const row = (label: string, a: { side: string; costNanos: string } | null, extra = '') =>
    h('tr', {}, h('th', { scope: 'row' }, label), h('td', {}, a?.side ?? ''), h('td', { class: 'num', 'data-cost-nanos': a?.costNanos ?? '' }, formatUsd(a?.costNanos)), h('td', { class: 'num' }, extra));
  return h(
    'div',
    { class: 'statement-recon', 'data-recon-status': r.status },
    title,
    h('p', { class: r.status === 'complete' ? 'state-msg' : 'state-msg state-unavailable' }, status),
    h(
      'div',
      { class: 'table-wrap' },
      h(
      'table',
      { 'data-table': 'statement-reconciliation' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Figure'), h('th', { scope: 'col' }, 'Side'), h('th', { scope: 'col', class: 'num' }, 'Cost'), h('th', { scope: 'col', class: 'num' }, '% of OpenAI'))),
      h(
        'tbody',
        {},
        row("OpenAI's cost", r.openai),
        row("Ledger's cost", r.ledger),
        row('Difference', r.difference, r.difference?.percent == null ? '—' : `${r.difference.percent}%`),
        ...r.gaps.map((g) => row(`Gap: ${GAP_LABEL[g.kind]}`, g)),
      ),
      ),
    ),
  );
}

const TIER_LABEL: Record<string, string> = { default: 'Standard', batch: 'Batch', flex: 'Flex', priority: 'Priority' };
const DIM_LABEL: Record<GroupBy, string> = { org: 'Org', feature: 'Feature', model: 'Model', endpoint: 'Endpoint', family: 'Endpoint family', tag: 'Tag value', endUser: 'End user' };

/** The price components of a statement line beyond text tokens, as short readable parts ("2 images, 1 web search"). */
const COMPONENTS: ReadonlyArray<[keyof StatementLine, string]> = [
  ['cachedTokens', 'cached tokens'],
  ['audioInputTokens', 'audio tokens in'],
  ['audioOutputTokens', 'audio tokens out'],
  ['imageInputTokens', 'image tokens in'],
  ['imageOutputTokens', 'image tokens out'],
  ['characters', 'characters'],
  ['images', 'images'],
  ['webSearchCalls', 'web searches'],
  ['webSearchPreviewCalls', 'web searches (preview)'],
  ['fileSearchCalls', 'file searches'],
];
const components = (l: StatementLine): Node | string => {
  const parts = COMPONENTS.filter(([key]) => Number(l[key]) > 0).map(([key, label]) => `${formatInt(Number(l[key]))} ${label}`);
  if (Number(l.audioSeconds) > 0) parts.push(`${l.audioMinutes} audio min`);
  return parts.length ? h('span', { class: 'components', 'data-components': '' }, parts.join(', ')) : '';
};

/** What a "(none)" row holds, per dimension: calls with no value there are real, and cost what they cost. */
const NONE_EXPLAINED: Partial<Record<GroupBy, string>> = {
  org: 'calls the gateway answered before choosing an org (refused, paced or over a budget): OpenAI never saw them',
  feature: 'calls made with a key whose feature was deleted',
  model: 'calls that name no model (files, batches, vector stores, listings)',
  endpoint: 'calls to no known endpoint',
};

/** "12.3% of $4.56 · 7 of 90 requests (7.8%)": the share of a total in dollars and in requests. */
function shareLine(label: string, nanos: bigint | null, requests: number, total: { nanos: bigint; requests: number }, attrs: Record<string, string>): Node {
  const requestShare = `${formatInt(requests)} of ${formatInt(total.requests)} requests (${formatPct(shareOf(requests, total.requests), 1)})`;
  const dollars = nanos === null ? 'cost unknown, not in the total' : `${formatUsd(nanos)} (${formatPct(shareOf(nanos, total.nanos), 1)} of spend)`;
  return h('span', { class: 'share-line', ...attrs }, h('strong', {}, `${label}: `), `${dollars} · ${requestShare}`);
}

/** `tags`: for groupBy tag or endUser, which tag and how many values (the rest are "(other)"). */
function breakdown(groupBy: GroupBy, title: string, tags?: () => TagOptions) {
  const panel = new ChartPanel({ id: `finance-spend-by-${groupBy}`, title, type: 'bar', unit: 'usd', stacked: true, emptyText: 'No spend in this range.' });
  let total = 0n;
  const name = (g: Group): Node | string =>
    g.key || !NONE_EXPLAINED[groupBy] ? g.name : h('span', { class: 'none-row', title: `(none): ${NONE_EXPLAINED[groupBy]}` }, g.name, h('sup', { 'aria-hidden': 'true' }, '*'));
  const table = new DataTable<Group>(`finance-${groupBy}`, `${title}: totals`, [
    { label: DIM_LABEL[groupBy], value: name },
    { label: 'Requests', numeric: true, value: (g) => formatInt(g.totals.requests) },
    { label: 'Input tokens', numeric: true, value: (g) => formatInt(g.totals.inputTokens) },
    { label: 'Output tokens', numeric: true, value: (g) => formatInt(g.totals.outputTokens) },
    { label: 'Cost', numeric: true, value: (g) => h('span', { 'data-cost-nanos': g.totals.costNanos }, formatUsd(g.totals.costNanos)) },
    { label: 'Share', numeric: true, value: (g) => h('span', { 'data-share': String(shareOf(BigInt(g.totals.costNanos), total) ?? '') }, formatPct(shareOf(BigInt(g.totals.costNanos), total), 1)) },
    { label: 'Notes', value: (g) => marks(g.totals.unpricedRequests, g.totals.estimatedRequests, g.totals.notMeteredRequests) },
  ]);
  let groups: Group[] = [];
  let period = { from: '', to: '', tz: '', fileTag: '' };
  const csv = h('button', { type: 'button', class: 'btn btn-sm', 'data-csv': groupBy }, 'Download CSV');
  csv.addEventListener('click', () =>
    downloadRowsCsv(
      `spend-by-${groupBy === 'tag' ? `tag-${tags?.().tag ?? ''}` : groupBy}_${period.fileTag}.csv`,
      [groupBy, 'period_from', 'period_to', 'time_zone', 'requests', 'input_tokens', 'output_tokens', 'cost_usd', 'share_of_cost', 'estimated_cost_usd', 'unpriced_requests', 'estimated_requests'],
      groups.map((g) => [g.name, period.from, period.to, period.tz, g.totals.requests, g.totals.inputTokens, g.totals.outputTokens, nanosToDecimal(g.totals.costNanos), shareOf(BigInt(g.totals.costNanos), total) ?? '', nanosToDecimal(g.totals.estimatedCostNanos), g.totals.unpricedRequests, g.totals.estimatedRequests]),
    ),
  );
  const unpricedLine = h('div', { class: 'note' });
  const quality = h('p', { class: 'card-desc data-quality', 'data-quality': groupBy });
  const noneNote = h('p', { class: 'card-desc' });
  panel.footer.append(table.el, quality, noneNote, unpricedLine, h('div', { class: 'card-actions' }, csv));
  return {
    el: panel.el,
    async refresh(f: Filters, signal: AbortSignal) {
      const data = await load(panel, spendBy(f, groupBy, signal, tags?.()));
      if (!data) return;
      groups = data.groups;
      period = periodOf(f);
      panel.setData(data.labels, costSeries(data));
      total = data.groups.reduce((sum, g) => sum + BigInt(g.totals.costNanos), 0n);
      const sum = (pick: (g: Group) => number) => formatInt(data.groups.reduce((s, g) => s + pick(g), 0));
      const count = (pick: (g: Group) => number) => data.groups.reduce((s, g) => s + pick(g), 0);
      const unpriced = count((g) => g.totals.unpricedRequests);
      const estimated = count((g) => g.totals.estimatedRequests);
      const requests = count((g) => g.totals.requests);
      const estimatedNanos = data.groups.reduce((s, g) => s + BigInt(g.totals.estimatedCostNanos), 0n);
      table.setRows(data.groups, ['Total', sum((g) => g.totals.requests), sum((g) => g.totals.inputTokens), sum((g) => g.totals.outputTokens), h('span', { 'data-cost-nanos': total.toString() }, formatUsd(total)), total ? '100%' : '—', marks(unpriced, estimated, count((g) => g.totals.notMeteredRequests))], 'No spend in this range.');
      // How much of this view is not exact: estimated (in the total) and unpriced (not in it), in dollars and requests.
      const totals = { nanos: total, requests };
      clear(
        quality,
        shareLine('Estimated', estimatedNanos, estimated, totals, { 'data-estimated-nanos': estimatedNanos.toString(), 'data-estimated-requests': String(estimated) }),
        h('br'),
        shareLine('Unpriced', null, unpriced, totals, { 'data-unpriced': String(unpriced) }),
      );
      clear(noneNote, data.groups.some((g) => !g.key) && NONE_EXPLAINED[groupBy] ? `* (none): ${NONE_EXPLAINED[groupBy]}.` : '');
      // Unpriced spend is its own line: its cost is unknown, so it is not in the total (never $0).
      clear(unpricedLine, unpriced ? h('p', { class: 'state-msg state-unavailable', 'data-unpriced-requests': String(unpriced) }, `Unpriced: ${formatInt(unpriced)} requests used a model without a price; their cost is unknown and not in the total.`) : '');
    },
  };
}

/** Why a statement line costs $0, so no row is a bare "$0.00". */
export function zeroReason(l: StatementLine): string {
  if (BigInt(l.costNanos) !== 0n) return '';
  if (l.unpricedRequests) return 'unpriced: no price for this model, cost unknown (not $0)';
  if (l.failedRequests && l.failedRequests === l.requests) return 'failed calls: OpenAI bills nothing for them';
  if (l.notMeteredRequests && l.notMeteredRequests + (l.failedRequests ?? 0) === l.requests) return 'not billed per call by OpenAI (moderations are free; files and stores are billed by storage)';
  // Rates are decimal strings (USD per 1M tokens, per minute…); keyed ones (per image, per tool) are objects.
  const rates = l.unitPrices ? Object.entries(l.unitPrices).filter(([k, v]) => k !== 'effectiveFrom' && k !== 'serviceTier' && typeof v === 'string').map(([, v]) => Number(v)) : [];
  if (rates.length && rates.every((v) => v === 0)) return 'free: OpenAI charges $0 for this model';
  if (!l.model) return 'not metered per call: billed by OpenAI separately';
  if (!l.unitPrices) return 'no charge: OpenAI does not bill these calls (moderations), or they failed';
  return 'rounds to $0 at these rates';
}

function statementSection() {
  const month = h('input', { type: 'month', id: 'statement-month', value: new Date().toISOString().slice(0, 7) });
  const org = h('select', { id: 'statement-org' });
  const note = h('div', { class: 'note' });
  const heading = h('p', { class: 'statement-head' });
  const recon = h('div', {});
  const table = new DataTable<StatementLine>('statement', 'Monthly statement', [
    { label: 'Feature', value: (l) => l.feature },
    { label: 'Model', value: (l) => h('code', {}, l.model ?? '—') },
    // Batch API lines are priced at the batch tier: a line of their own, said so.
    { label: 'Tier', value: (l) => h('span', { 'data-service-tier': l.unitPrices?.serviceTier ?? '' }, TIER_LABEL[l.unitPrices?.serviceTier ?? ''] ?? l.unitPrices?.serviceTier ?? '—') },
    { label: 'Requests', numeric: true, value: (l) => formatInt(l.requests) },
    { label: 'Input tokens', numeric: true, value: (l) => formatInt(l.inputTokens) },
    { label: 'Output tokens', numeric: true, value: (l) => formatInt(l.outputTokens) },
    { label: 'Priced on', value: components },
    { label: 'Cost', numeric: true, value: (l) => h('span', { 'data-cost-nanos': l.costNanos }, formatUsd(l.costNanos)) },
    {
      label: 'Notes',
      value: (l) => {
        const why = zeroReason(l);
        const m = marks(l.unpricedRequests, l.estimatedRequests);
        return why ? h('span', { 'data-zero-reason': why }, m, m ? ' ' : '', why) : m;
      },
    },
  ]);
  let tz = 'UTC';
  let signalRef: AbortSignal | undefined;
  const csv = h('button', { type: 'button', class: 'btn btn-sm', 'data-csv': 'statement' }, 'Download statement CSV');
  csv.addEventListener('click', () => {
    if (!org.value) return;
    const { path, query } = statementCsv(org.value, month.value, tz);
    const orgName = org.selectedOptions[0]?.textContent ?? org.value;
    downloadCsv(path, query, `statement-${orgName}-${month.value}-${tz}.csv`.replace(/[^A-Za-z0-9_.-]+/g, '_')).catch((e: Error) => announce(e.message, 'error'));
  });
  const render = (st: Statement) => {
    heading.textContent = `${st.org.name} — ${st.month} (${st.tz})`;
    const total = h('strong', { 'data-statement-total': st.total.costNanos }, formatUsd(st.total.costNanos));
    table.setRows(st.lines, ['Total', '', formatInt(st.total.requests), formatInt(st.total.inputTokens), formatInt(st.total.outputTokens), '', total, marks(st.total.unpricedRequests, st.total.estimatedRequests)], 'No usage in this month.');
    clear(recon, reconciliationBlock(st.reconciliation));
    if (st.total.unpricedRequests) clear(note, h('p', { class: 'state-msg state-unavailable' }, `${formatInt(st.total.unpricedRequests)} requests used a model without a price: their cost is unknown and not in the total.`));
  };
  // A live refresh and a change of org or month can overlap: only the latest answer is shown,
  // so a slower earlier one never paints another month over the one asked for.
  let latest = 0;
  const show = async () => {
    if (!org.value) return clear(note, h('p', { class: 'state-msg state-empty' }, 'No org with usage yet.'));
    const ticket = ++latest;
    const st = await load(null, statement(org.value, month.value, tz, signalRef), note);
    if (st && ticket === latest) render(st);
  };
  // Org and month live in the URL (?statement=…&month=…): shareable, and back/forward restore them.
  month.addEventListener('change', () => month.value && updateFilters({ month: month.value }));
  org.addEventListener('change', () => updateFilters({ statement: org.value }));
  return {
    el: h(
      'section',
      { class: 'card', 'aria-labelledby': 'statement-title' },
      h('header', { class: 'card-header' }, h('h2', { id: 'statement-title' }, 'Monthly statement'), h('p', { class: 'card-desc' }, 'Per org, priced at the time of each call; the lines add up to the total.')),
      h('div', { class: 'inline-form' }, h('label', { for: 'statement-org' }, 'Org'), org, h('label', { for: 'statement-month' }, 'Month'), month, csv),
      heading,
      note,
      table.el,
      recon,
    ),
    /** Sets the controls from the URL at once, before any load, so a slow refresh never overwrites what the user types next. */
    sync(f: Filters) {
      tz = f.tz;
      // The month picked (in the URL), else the month the range points at, in the chosen zone.
      month.value = f.month || monthOfRange(f);
      const orgs = known('org');
      const selected = idOf('org', f.statement ?? '') || idOf('org', f.org) || orgs[0]?.id || '';
      if (org.options.length !== orgs.length) clear(org, ...orgs.map((o) => h('option', { value: o.id, selected: o.id === selected }, o.name)));
      if (selected) org.value = selected;
    },
    async refresh(signal: AbortSignal) {
      signalRef = signal;
      await show();
    },
  };
}

/** Per feature: month to date, the month-end forecast with its method, its budget and when it runs out at the current pace. */
function forecastSection() {
  const note = h('div', { class: 'note' });
  const head = h('p', { class: 'card-desc' });
  let tz = 'UTC';
  const runsOut = (f: FeatureForecast): Node | string => {
    const b = f.budget;
    if (!b) return '—';
    if (b.runsOutAt === 'exhausted') return h('span', { class: 'badge badge-danger' }, b.enforcement === 'hard' ? 'used up: calls refused' : 'used up');
    return b.runsOutAt ? formatDateTime(b.runsOutAt, tz) : 'not this period';
  };
  const table = new DataTable<FeatureForecast>('finance-feature-forecast', 'Per feature: month to date, forecast and budget', [
    { label: 'Feature', value: (f) => h('span', { 'data-forecast-feature': f.featureSlug }, f.featureName) },
    { label: 'Org', value: (f) => f.orgName },
    { label: 'Month to date', numeric: true, value: (f) => h('span', { 'data-cost-nanos': f.monthToDateNanos, 'data-mtd': f.featureSlug }, formatUsd(f.monthToDateNanos)) },
    { label: 'Forecast (month end)', numeric: true, value: (f) => h('span', { 'data-cost-nanos': f.forecastNanos, 'data-forecast': f.featureSlug }, formatUsd(f.forecastNanos)) },
    { label: 'Method', value: (f) => h('span', { 'data-forecast-method': f.featureSlug }, f.forecastMethod) },
    { label: 'Budget', numeric: true, value: (f) => (f.budget ? h('span', { 'data-cost-nanos': f.budget.amountNanos, 'data-budget': f.featureSlug }, `${formatUsd(f.budget.amountNanos)} ${f.budget.enforcement}`) : h('span', { 'data-budget': f.featureSlug }, 'none')) },
    { label: 'Used', numeric: true, value: (f) => (f.budget?.percent == null ? '—' : `${f.budget.percent.toFixed(1)}%`) },
    { label: 'Runs out at current pace', value: (f) => h('span', { 'data-runs-out': f.featureSlug }, runsOut(f)) },
  ]);
  return {
    el: h(
      'section',
      { class: 'card', 'aria-labelledby': 'forecast-title', 'data-section': 'feature-forecast' },
      h('header', { class: 'card-header' }, h('h2', { id: 'forecast-title' }, 'Budgets and forecasts per feature'), head),
      note,
      table.el,
    ),
    async refresh(f: Filters, signal: AbortSignal) {
      tz = f.tz;
      const list = await load(null, alertsApi.featureForecasts(f.tz, signal), note);
      if (!list) return;
      head.textContent = `This calendar month in ${list.tz}. The forecast extends the recent daily pace to the month end; the method is stated per row. Budgets are shown in their own period and zone.`;
      table.setRows(list.features, undefined, 'No features yet.');
    },
  };
}

/**
 * Spend by the values of a tag (customer, env) or by end user: the top 10 by spend, the rest as
 * "(other)", calls without the tag as "(untagged)", so the table adds up to the range's spend.
 */
function tagSection() {
  const select = h('select', { id: 'finance-tag', 'aria-label': 'Tag' });
  const chosen = (): TagOptions & { by: GroupBy } => (select.value === ':end-user' ? { by: 'endUser', top: 10 } : { by: 'tag', tag: select.value, top: 10 });
  const byTag = breakdown('tag', 'Spend by tag', () => chosen());
  const byUser = breakdown('endUser', 'Spend by end user', () => chosen());
  const empty = h('p', { class: 'state-msg state-empty' }, 'No tagged calls in this range: send x-tallygate-tag-<name> headers, or set default tags on a feature (docs/attribution.md).');
  const holder = h('div', {});
  let filters: Filters | null = null;
  let signalRef: AbortSignal | undefined;
  const show = async () => {
    if (!filters || !select.value) return clear(holder, empty);
    const section = chosen().by === 'endUser' ? byUser : byTag;
    clear(holder, section.el);
    await section.refresh(filters, signalRef!);
  };
  select.addEventListener('change', () => {
    select.dataset.touched = 'true';
    void show();
  });
  return {
    el: h(
      'section',
      { class: 'card', 'aria-labelledby': 'finance-tags-title' },
      h('header', { class: 'card-header' }, h('h2', { id: 'finance-tags-title' }, 'Spend by customer, end user or tag'), h('p', { class: 'card-desc' }, 'Top 10 values by spend; the rest are "(other)", calls without the tag "(untagged)".')),
      h('div', { class: 'inline-form' }, h('label', { for: 'finance-tag' }, 'Group by'), select),
      holder,
    ),
    async refresh(f: Filters, signal: AbortSignal) {
      filters = f;
      signalRef = signal;
      const catalog = await tagCatalog(f, signal).catch(() => null);
      const options = [...(catalog?.tags ?? []).map((t) => ({ value: t.name, label: `Tag: ${t.name}` })), ...(catalog?.endUsers ? [{ value: ':end-user', label: 'End user' }] : [])];
      const current = select.value;
      if (select.options.length !== options.length || options.some((o, i) => select.options[i]?.value !== o.value)) {
        clear(select, ...options.map((o) => h('option', { value: o.value }, o.label)));
      }
      const preferred = options.find((o) => o.value === current) ?? options.find((o) => o.value === 'customer') ?? options[0];
      select.value = preferred?.value ?? '';
      await show();
    },
    /** The tag names offered, for the statement per customer. */
    names: () => [...select.options].map((o) => o.value).filter(Boolean),
  };
}

/** A feature's month per value of a tag: "what did acme cost us in November?", adding up to the feature's month. */
function tagStatementSection(tagNames: () => string[]) {
  const feature = h('select', { id: 'tag-statement-feature' });
  const month = h('input', { type: 'month', id: 'tag-statement-month', value: new Date().toISOString().slice(0, 7) });
  const tag = h('select', { id: 'tag-statement-tag' });
  const note = h('div', { class: 'note' });
  const table = new DataTable<TagStatement['subtotals'][number]>('tag-statement', 'Statement per tag value', [
    { label: 'Value', value: (s) => (s.kind === 'value' ? (s.value ?? '') : `(${s.kind})`) },
    { label: 'Requests', numeric: true, value: (s) => formatInt(s.requests) },
    { label: 'Cost', numeric: true, value: (s) => h('span', { 'data-cost-nanos': s.costNanos }, formatUsd(s.costNanos)) },
    { label: 'Notes', value: (s) => marks(s.unpricedRequests, 0) },
  ]);
  let tz = 'UTC';
  let signalRef: AbortSignal | undefined;
  let latest = 0;
  const tagParam = () => (tag.value === ':end-user' ? 'endUser' : tag.value);
  const show = async () => {
    if (!feature.value || !tag.value) return clear(note, h('p', { class: 'state-msg state-empty' }, 'No tags yet.'));
    const ticket = ++latest;
    const st = await load(null, tagStatement(feature.value, month.value, tagParam(), tz, signalRef), note);
    if (!st || ticket !== latest) return;
    clear(note);
    table.setRows(st.subtotals, ['Total', formatInt(st.total.requests), h('strong', { 'data-tag-statement-total': st.total.costNanos }, formatUsd(st.total.costNanos)), marks(st.total.unpricedRequests, 0)], 'No usage in this month.');
  };
  const csv = h('button', { type: 'button', class: 'btn btn-sm', 'data-csv': 'tag-statement' }, 'Download CSV');
  csv.addEventListener('click', () => {
    if (!feature.value || !tag.value) return;
    downloadCsv('/api/analytics/tag-statements', { ...tagStatementQuery(feature.value, month.value, tagParam(), tz), format: 'csv' }, `statement-${tagParam()}-${month.value}.csv`).catch((e: Error) => announce(e.message, 'error'));
  });
  for (const control of [feature, month, tag]) control.addEventListener('change', () => void show());
  return {
    el: h(
      'section',
      { class: 'card', 'aria-labelledby': 'tag-statement-title' },
      h('header', { class: 'card-header' }, h('h2', { id: 'tag-statement-title' }, 'Monthly statement per customer'), h('p', { class: 'card-desc' }, "One feature's month per tag value; the lines add up to the feature's total.")),
      h('div', { class: 'inline-form' }, h('label', { for: 'tag-statement-feature' }, 'Feature'), feature, h('label', { for: 'tag-statement-tag' }, 'Tag'), tag, h('label', { for: 'tag-statement-month' }, 'Month'), month, csv),
      note,
      table.el,
    ),
    async refresh(f: Filters, signal: AbortSignal) {
      tz = f.tz;
      signalRef = signal;
      const features = known('feature');
      const selected = feature.value || idOf('feature', f.feature) || features[0]?.id || '';
      if (feature.options.length !== features.length) clear(feature, ...features.map((o) => h('option', { value: o.id }, o.name)));
      if (selected) feature.value = selected;
      const names = tagNames();
      const current = tag.value;
      if (tag.options.length !== names.length) clear(tag, ...names.map((n) => h('option', { value: n }, n === ':end-user' ? 'End user' : n)));
      tag.value = names.includes(current) ? current : (names.find((n) => n === 'customer') ?? names[0] ?? '');
      await show();
    },
  };
}

function create(): Page {
  const sections = [breakdown('org', 'Spend by org'), breakdown('feature', 'Spend by feature'), breakdown('model', 'Spend by model'), breakdown('family', 'Spend by endpoint family')];
  const tags = tagSection();
  const tagSt = tagStatementSection(tags.names);
  const st = statementSection();
  const voice = realtimeSection();
  const forecasts = forecastSection();
  let filters: Filters | null = null;
  const events = h('button', { type: 'button', class: 'btn btn-sm', 'data-csv': 'events' }, 'Raw usage events (CSV)');
  events.addEventListener('click', () => {
    if (!filters) return;
    const { path, query } = eventsCsv(filters);
    downloadCsv(path, query, `usage-events_${periodOf(filters).fileTag}.csv`).catch((e: Error) => announce(e.message, 'error'));
  });
  return {
    el: h('div', { class: 'page' }, h('div', { class: 'page-head' }, h('h1', { class: 'page-title' }, 'Finance'), h('a', { class: 'btn btn-sm', href: '/finance/reconciliation', 'data-link': true }, 'Reconciliation with OpenAI'), events), h('div', { class: 'grid grid-1' }, forecasts.el, ...sections.map((s) => s.el), tags.el, voice.el, st.el, tagSt.el)),
    async refresh({ filters: f, signal }) {
      filters = f;
      st.sync(f);
      await Promise.all([forecasts.refresh(f, signal), ...sections.map((s) => s.refresh(f, signal)), voice.refresh(f, signal), tags.refresh(f, signal)]);
      await Promise.all([st.refresh(signal), tagSt.refresh(f, signal)]);
    },
  };
}

export const financePage: PageDef = { path: '/finance', title: 'Finance', roles: ['admin', 'finance'], filters: ['range', 'bucket', 'org', 'feature', 'model', 'tz'], liveEvery: 10, create };
