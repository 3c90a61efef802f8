// Moderation (engineers and admins; never finance): flagged share by feature and category over
// time, each feature's policy in force (admins edit it), what the guardrail adds in latency, and the
// recent blocks with the call each one stopped. The moderated text is shown only where a feature
// stores inputs (off by default).
import type { ModerationPolicyView, ModerationSummary } from '../../../server/contract/moderation.js';
import { api, request } from '../api.js';
import { nameOf, remember } from '../catalog.js';
import { ChartPanel, DataTable, color, type Series } from '../charts.js';
import { announce, h } from '../dom.js';
import { resolveRange, type Filters } from '../filters.js';
import { formatBucket, formatDateTime, formatInt, formatMs, formatPct } from '../format.js';
import { formDialog } from '../forms.js';
import type { Page, PageDef } from '../page.js';
import { load } from '../panels.js';

type Recent = ModerationSummary['recent'][number];
const GUARDRAIL_LABEL: Record<string, string> = { blocked: 'Blocked', flagged: 'Flagged (monitor)', failed_open: 'Check failed, forwarded', failed_closed: 'Check failed, refused' };

function query(f: Filters): Record<string, string> {
  const { from, to } = resolveRange(f);
  const q: Record<string, string> = { from: from.toISOString(), to: to.toISOString(), zone: f.tz, bucket: f.bucket === 'day' || f.bucket === 'month' ? 'day' : 'hour' };
  if (f.feature) q.feature = f.feature;
  return q;
}

function thresholdsText(p: ModerationPolicyView): string {
  const custom = Object.entries(p.thresholds).map(([c, t]) => `${c} ≥ ${t}`);
  return custom.length ? custom.join(', ') : '—';
}

function create(me: { role: string }): Page {
  const isAdmin = me.role === 'admin';
  const share = new ChartPanel({ id: 'moderation-flagged-share', title: 'Flagged share by feature', type: 'line', unit: 'ratio', description: 'Of the inputs moderated (moderation calls and guardrail checks), the share flagged under each feature\'s policy.', emptyText: 'No moderation in this range.' });
  const byCategory = new ChartPanel({ id: 'moderation-categories', title: 'Flagged inputs by category', type: 'bar', unit: 'count', stacked: true, description: 'Inputs flagged under the feature\'s policy, per category (an input can raise several).', emptyText: 'Nothing flagged in this range.' });
  let policiesCache: ModerationPolicyView[] = [];

  const policies = new DataTable<ModerationPolicyView>('moderation-policies', 'Moderation policy per feature', [
    { label: 'Feature', value: (p) => h('strong', {}, p.featureName) },
    { label: 'Preset', value: (p) => h('span', { 'data-preset': p.preset }, p.preset === 'default' ? "default (OpenAI's flags)" : p.preset) },
    { label: 'Custom thresholds', value: thresholdsText },
    { label: 'Guardrail', value: (p) => h('span', { class: `badge ${p.guardrail === 'block' ? 'badge-warn' : 'badge-info'}`, 'data-guardrail': p.guardrail }, p.guardrail === 'off' ? 'off' : `${p.guardrail}, fail ${p.failMode}, ${p.timeoutMs} ms`) },
    { label: 'Stores inputs', value: (p) => (p.storeInputs ? 'yes' : 'no') },
    { label: 'Changed', value: (p) => formatDateTime(p.updatedAt) },
    ...(isAdmin ? [{ label: 'Actions', value: (p: ModerationPolicyView) => h('button', { type: 'button', class: 'btn btn-sm', onclick: () => void edit(p), 'aria-label': `Edit the moderation policy of ${p.featureName}` }, 'Edit') }] : []),
  ]);

  const latency = new DataTable<ModerationSummary['guardrailLatency'][number]>('moderation-latency', 'Latency the guardrail adds', [
    { label: 'Feature', value: (r) => nameOf('feature', r.featureId) },
    { label: 'Checks', numeric: true, value: (r) => formatInt(r.checks) },
    { label: 'Added p50', numeric: true, value: (r) => formatMs(r.p50Ms) },
    { label: 'Added p95', numeric: true, value: (r) => formatMs(r.p95Ms) },
  ]);

  const recent = new DataTable<Recent>('moderation-recent', 'Recent guardrail actions', [
    { label: 'When', value: (r) => formatDateTime(r.createdAt) },
    { label: 'Feature', value: (r) => nameOf('feature', r.featureId) },
    { label: 'Call', value: (r) => h('span', {}, h('code', {}, r.endpoint), r.model ? ` ${r.model}` : '') },
    { label: 'Action', value: (r) => h('span', { class: `badge ${r.guardrail === 'blocked' || r.guardrail === 'failed_closed' ? 'badge-warn' : 'badge-info'}`, 'data-action': r.guardrail }, GUARDRAIL_LABEL[r.guardrail] ?? r.guardrail) },
    { label: 'Categories', value: (r) => (r.categories.length ? r.categories.join(', ') : '—') },
    { label: 'Scores', value: (r) => r.scores ?? '—' },
    {
      label: 'Events',
      value: (r) => h('details', {}, h('summary', {}, 'ids'), h('p', {}, 'Check: ', h('code', {}, r.id)), h('p', {}, 'Call: ', h('code', {}, r.linkedEventId ?? '—')), r.input !== null ? h('p', { class: 'moderated-input' }, 'Input: ', r.input) : h('p', { class: 'hint' }, 'Input not stored (the feature does not store inputs).')),
    },
  ]);

  async function edit(p: ModerationPolicyView): Promise<void> {
    const done = await formDialog(
      `Moderation policy of ${p.featureName}`,
      [
        { name: 'preset', label: 'Preset', type: 'select', value: p.preset, options: [{ value: 'strict', label: 'strict (flags at 0.2; minors and self-harm at 0.01)' }, { value: 'default', label: "default (OpenAI's own flags)" }, { value: 'lenient', label: 'lenient (flags at 0.8)' }] },
        { name: 'thresholds', label: 'Custom thresholds', value: Object.entries(p.thresholds).map(([c, t]) => `${c}=${t}`).join(', '), placeholder: 'violence=0.3, harassment=0.5', hint: 'Per category, 0 to 1: a score at or above it is flagged. Overrides the preset.' },
        { name: 'guardrail', label: 'Guardrail on chat, completions and responses inputs', type: 'select', value: p.guardrail, options: [{ value: 'off', label: 'off' }, { value: 'monitor', label: 'monitor (forward, record)' }, { value: 'block', label: 'block (refuse flagged inputs with a 400)' }] },
        { name: 'failMode', label: 'When the check fails or is slow (block mode)', type: 'select', value: p.failMode, options: [{ value: 'open', label: 'fail open: forward' }, { value: 'closed', label: 'fail closed: refuse (503)' }] },
        { name: 'timeoutMs', label: 'Check timeout (ms)', type: 'number', value: String(p.timeoutMs) },
        { name: 'storeInputs', label: 'Store moderated text', type: 'select', value: String(p.storeInputs), options: [{ value: 'false', label: 'no (default: scores and categories only)' }, { value: 'true', label: 'yes (first 4,000 characters, shown here to admins and engineers)' }] },
      ],
      'Save',
      (v) => {
        const thresholds: Record<string, number> = {};
        for (const pair of String(v.thresholds).split(',').map((s) => s.trim()).filter(Boolean)) {
          const [category, value] = pair.split('=').map((s) => s.trim());
          thresholds[category] = Number(value);
        }
        return request('PUT', `/api/admin/moderation/policies/${p.featureId}`, {
          body: { preset: v.preset, thresholds, guardrail: v.guardrail, failMode: v.failMode, timeoutMs: Number(v.timeoutMs), storeInputs: v.storeInputs === 'true' },
        });
      },
    );
    if (done !== null) {
      announce(`Moderation policy of ${p.featureName} saved.`);
      policies.setRows((policiesCache = await api.get<ModerationPolicyView[]>('/api/moderation/policies')));
    }
  }

  return {
    el: h(
      'div',
      { class: 'page' },
      h('h1', { class: 'page-title' }, 'Moderation'),
      h('div', { class: 'grid grid-2' }, share.el, byCategory.el),
      h('section', { class: 'card', 'aria-labelledby': 'moderation-policies-title' }, h('header', { class: 'card-header' }, h('h2', { id: 'moderation-policies-title' }, 'Policy in force per feature'), h('p', { class: 'card-desc' }, 'What each feature flags; the verdict reaches the app in the x-tallygate-moderation header of each moderation call.')), policies.el),
      h('div', { class: 'grid grid-2' },
        h('section', { class: 'card', 'aria-labelledby': 'moderation-recent-title' }, h('header', { class: 'card-header' }, h('h2', { id: 'moderation-recent-title' }, 'Recent blocks and flags'), h('p', { class: 'card-desc' }, 'Guardrail checks that did not simply pass, newest first.')), recent.el),
        h('section', { class: 'card', 'aria-labelledby': 'moderation-latency-title' }, h('header', { class: 'card-header' }, h('h2', { id: 'moderation-latency-title' }, 'Latency the guardrail adds'), h('p', { class: 'card-desc' }, 'The moderation round trip before each guarded call.')), latency.el),
      ),
    ),
    async refresh({ filters, signal }) {
      const summary = await load(share, request<ModerationSummary>('GET', '/api/moderation/summary', { query: query(filters), signal }));
      if (!summary) return byCategory.setUnavailable(share.el.querySelector('.state-msg')?.textContent ?? '');
      for (const p of summary.policies) remember('feature', p.featureId, p.featureName);
      policiesCache = summary.policies;
      const buckets = summary.buckets;
      const labels = buckets.map((b) => formatBucket(b, summary.bucket, filters.tz));
      const features = [...new Set(summary.series.map((s) => s.featureId))];
      const at = (feature: string | null, bucket: string) => summary.series.find((s) => s.featureId === feature && s.bucket === bucket);
      share.setData(
        labels,
        features.map((f, i): Series => ({ label: nameOf('feature', f), color: color(i), data: buckets.map((b) => { const s = at(f, b); return s && s.calls ? s.flagged / s.calls : null; }) })),
      );
      const categories = summary.categories.filter((c) => summary.series.some((s) => (s.categories[c] ?? 0) > 0));
      byCategory.setData(labels, categories.map((c, i): Series => ({ label: c, color: color(i), data: buckets.map((b) => summary.series.filter((s) => s.bucket === b).reduce((n, s) => n + (s.categories[c] ?? 0), 0)) })));
      const calls = summary.series.reduce((n, s) => n + s.calls, 0);
      const flagged = summary.series.reduce((n, s) => n + s.flagged, 0);
      share.footer.textContent = calls ? `${formatInt(flagged)} of ${formatInt(calls)} inputs flagged (${formatPct(flagged / calls)}).` : '';
      share.footer.dataset.flagged = String(flagged);
      share.footer.dataset.calls = String(calls);
      policies.setRows(policiesCache);
      recent.setRows(summary.recent, undefined, 'No blocks or flags in this range.');
      latency.setRows(summary.guardrailLatency, undefined, 'No guardrail checks in this range.');
    },
  };
}

export const moderationPage: PageDef = { path: '/moderation', title: 'Moderation', roles: ['engineer', 'admin'], filters: ['range', 'feature', 'bucket', 'tz'], liveEvery: 30, create };
