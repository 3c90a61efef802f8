// Admin pages: orgs and their upstream keys, features, gateway keys, users and API tokens, audit log.
// Secrets go in through forms and come back only masked; new gateway keys and API tokens are
// shown once, in a dialog with a copy button.
import { admin, type AuditFilters, type KeyUsage, type ApiToken, type AuditRecord, type Feature, type GatewayKey, type Org, type TagDeclaration, type User } from '../admin-api.js';
import { ApiError } from '../api.js';
import { DataTable } from '../charts.js';
import { h } from '../dom.js';
import { formatDateTime, formatUsd } from '../format.js';
import { act, checkedOf, confirmDialog, formDialog, secretDialog, statusNote, textOf, type FormValues } from '../forms.js';
import type { Role } from '../auth.js';
import type { Page, PageContext, PageDef } from '../page.js';

const TABS = [
  { path: '/admin/orgs', label: 'Organizations' },
  { path: '/admin/features', label: 'Features' },
  { path: '/admin/gateway-keys', label: 'Gateway keys' },
  { path: '/admin/tags', label: 'Tags' },
  { path: '/admin/users', label: 'Users & roles' },
  { path: '/admin/audit', label: 'Audit log' },
];

function layout(path: string, title: string, intro: string, ...body: Array<Node | null>): HTMLElement {
  return h(
    'div',
    { class: 'page admin-page' },
    h('h1', { class: 'page-title' }, title),
    h('nav', { class: 'tabs', 'aria-label': 'Admin sections' }, h('ul', {}, ...TABS.map((t) => h('li', {}, h('a', { href: t.path, 'data-link': true, 'aria-current': t.path === path ? 'page' : null }, t.label))))),
    h('p', { class: 'page-intro' }, intro),
    ...body,
  );
}

const btn = (label: string, onClick: () => void, kind = '', attrs: Record<string, string> = {}) => h('button', { type: 'button', class: `btn btn-sm ${kind}`, onclick: onClick, ...attrs }, label);
const badge = (text: string, kind: string) => h('span', { class: `badge badge-${kind}` }, text);
const when = (iso: string | null) => formatDateTime(iso);
const optional = (v: string) => (v === '' ? undefined : v);
/** The role select's value (it offers the contract's roles only). */
const roleOf = (v: FormValues) => textOf(v, 'role') as Role;

/** "3 d", "5 h", "12 min": how old a key is. */
function age(iso: string): string {
  const minutes = Math.max(0, (Date.now() - Date.parse(iso)) / 60_000);
  return minutes < 90 ? `${Math.round(minutes)} min` : minutes < 36 * 60 ? `${Math.round(minutes / 60)} h` : `${Math.round(minutes / 1440)} d`;
}

/**
 * A live key's traffic markers: "carrying traffic", or "replaced <when> · last used <when>", so
 * after a rotation the key to revoke is the one that says it was replaced.
 */
function keyMarkers(u: KeyUsage | undefined, createdAt: string, lookbackHours: number): Node {
  const used = u?.lastUsedAt ? `last used ${when(u.lastUsedAt)}` : `not used in the last ${lookbackHours} h`;
  return h(
    'span',
    { class: 'key-markers', 'data-carrying': String(!!u?.carrying), 'data-last-used': u?.lastUsedAt ?? '' },
    u?.carrying ? badge('carrying traffic', 'ok') : u?.supersededAt ? badge(`replaced ${when(u.supersededAt)}`, 'warn') : null,
    ` age ${age(createdAt)} · ${used}`,
  );
}

function showLoadError(note: HTMLElement, error: unknown): void {
  if ((error as Error).name === 'AbortError') return;
  const missing = error instanceof ApiError && error.status === 404;
  statusNote(note, missing ? 'This part of the admin API is not available on this gateway yet.' : (error as Error).message, missing ? 'unavailable' : 'error');
}

// ---------------------------------------------------------------- organizations
function orgsPage(): Page {
  const note = h('div', { class: 'note' });
  let orgs: Org[] = [];
  let usage = new Map<string, KeyUsage>();
  let lookback = 24;
  const reload = () => page.refresh({ signal: new AbortController().signal } as PageContext);
  const table = new DataTable<Org>('orgs', 'Organizations', [
    { label: 'Name', value: (o) => h('strong', {}, o.name) },
    { label: 'OpenAI org', value: (o) => h('code', {}, o.openaiOrgId) },
    { label: 'Project', value: (o) => o.projectId ?? '—' },
    { label: 'Base URL', value: (o) => h('span', { class: 'mono small' }, o.baseUrl) },
    { label: 'Status', value: (o) => badge(o.status, o.status === 'active' ? 'ok' : 'warn') },
    {
      label: 'Upstream keys',
      value: (o) =>
        o.upstreamKeys.length
          ? h(
              'ul',
              { class: 'key-list' },
              ...o.upstreamKeys.map((k) =>
                h(
                  'li',
                  {},
                  h('code', { 'data-masked': true }, k.masked),
                  k.label ? ` ${k.label}` : '',
                  ' ',
                  k.revokedAt ? badge(`revoked ${when(k.revokedAt)}`, 'muted') : badge('live', 'ok'),
                  k.revokedAt ? null : keyMarkers(usage.get(k.id), k.createdAt, lookback),
                  k.revokedAt
                    ? null
                    : usage.get(k.id)?.supersededAt
                      ? btn('Revoke the previous key', () => revokeKey(o, k.id), 'btn-danger-ghost', { 'aria-label': `Revoke the previous key ${k.masked} of ${o.name}`, 'data-revoke-previous': k.id })
                      : btn('Revoke', () => revokeKey(o, k.id), 'btn-danger-ghost', { 'aria-label': `Revoke key ${k.masked} of ${o.name}` }),
                ),
              ),
            )
          : badge('no key', 'warn'),
    },
    {
      label: 'Actions',
      value: (o) =>
        h(
          'div',
          { class: 'row-actions' },
          btn('Edit', () => editOrg(o), '', { 'aria-label': `Edit ${o.name}` }),
          btn(o.upstreamKeys.some((k) => !k.revokedAt) ? 'Rotate key' : 'Add key', () => addKey(o), '', { 'aria-label': `Add or rotate the upstream key of ${o.name}` }),
          o.status === 'active'
            ? btn('Suspend', () => setStatus(o, 'suspended'), 'btn-danger-ghost', { 'aria-label': `Suspend ${o.name}` })
            : btn('Activate', () => setStatus(o, 'active'), '', { 'aria-label': `Activate ${o.name}` }),
        ),
    },
  ]);

  async function createOrg() {
    await formDialog(
      'New organization',
      [
        { name: 'name', label: 'Name', required: true },
        { name: 'openaiOrgId', label: 'OpenAI org id', required: true, placeholder: 'org-…' },
        { name: 'projectId', label: 'Project id', placeholder: 'proj_… (optional)' },
        { name: 'baseUrl', label: 'Upstream base URL', type: 'url', placeholder: 'https://api.openai.com/v1' },
        { name: 'apiKey', label: 'OpenAI API key', type: 'password', placeholder: 'sk-…', hint: 'Stored encrypted; only its masked form is ever shown again.' },
        { name: 'keyLabel', label: 'Key label' },
      ],
      'Create',
      (v: FormValues) =>
        admin.createOrg({
          name: textOf(v, 'name'),
          openaiOrgId: textOf(v, 'openaiOrgId'),
          projectId: optional(textOf(v, 'projectId')),
          baseUrl: optional(textOf(v, 'baseUrl')),
          apiKey: optional(textOf(v, 'apiKey')),
          keyLabel: optional(textOf(v, 'keyLabel')),
        }),
    ).then((org) => org && reload());
  }
  async function editOrg(o: Org) {
    const saved = await formDialog(
      `Edit ${o.name}`,
      [
        { name: 'name', label: 'Name', value: o.name, required: true },
        { name: 'projectId', label: 'Project id', value: o.projectId ?? '', placeholder: 'proj_… (empty for none)' },
        { name: 'baseUrl', label: 'Upstream base URL', type: 'url', value: o.baseUrl, required: true },
      ],
      'Save',
      (v) => admin.updateOrg(o.id, { name: textOf(v, 'name'), baseUrl: textOf(v, 'baseUrl'), projectId: textOf(v, 'projectId') === '' ? null : textOf(v, 'projectId') }),
    );
    if (saved) await reload();
  }
  async function addKey(o: Org) {
    const added = await formDialog(
      `Upstream key for ${o.name}`,
      [
        { name: 'apiKey', label: 'New OpenAI API key', type: 'password', required: true, placeholder: 'sk-…' },
        { name: 'label', label: 'Label', placeholder: 'e.g. rotated 2025-03' },
      ],
      'Add key',
      (v) => admin.addKey(o.id, String(v.apiKey), String(v.label)),
      'The newest live key carries traffic from now on. To finish a rotation, revoke the old key once the new one works.',
    );
    if (added) await reload();
  }
  async function revokeKey(o: Org, keyId: string) {
    const key = o.upstreamKeys.find((k) => k.id === keyId);
    if (!(await confirmDialog('Revoke upstream key', `Revoke ${key?.masked} of ${o.name}? Requests stop using it at once.`, 'Revoke key'))) return;
    if (await act(() => admin.revokeKey(o.id, keyId), 'Upstream key revoked.')) await reload();
  }
  async function setStatus(o: Org, status: Org['status']) {
    if (status === 'suspended' && !(await confirmDialog(`Suspend ${o.name}`, 'Features using this org get an error until it is activated again.', 'Suspend'))) return;
    if (await act(() => admin.updateOrg(o.id, { status }), `${o.name} is now ${status}.`)) await reload();
  }

  const page: Page = {
    el: layout(
      '/admin/orgs',
      'Organizations',
      'One OpenAI organization per product feature or business unit. Keys are encrypted at rest and shown only masked.',
      h('div', { class: 'page-actions' }, btn('New organization', createOrg, 'btn-primary')),
      note,
      h('section', { class: 'card' }, table.el),
    ),
    async refresh(ctx) {
      try {
        const [o, u] = await Promise.all([admin.orgs(ctx.signal), admin.keyUsage(ctx.signal).catch(() => null)]);
        orgs = o;
        usage = new Map((u?.upstreamKeys ?? []).map((k) => [k.id, k]));
        lookback = u?.lookbackHours ?? lookback;
        table.setRows(orgs, undefined, 'No organizations yet: create one to start.');
        statusNote(note, '');
      } catch (error) {
        showLoadError(note, error);
      }
    },
  };
  return page;
}

// ---------------------------------------------------------------- features
function featuresPage(): Page {
  const note = h('div', { class: 'note' });
  let orgs: Org[] = [];
  const orgName = (id: string) => orgs.find((o) => o.id === id)?.name ?? id;
  const reload = () => page.refresh({ signal: new AbortController().signal } as PageContext);
  const table = new DataTable<Feature>('features', 'Features', [
    { label: 'Feature', value: (f) => h('span', {}, h('strong', {}, f.name), h('br'), h('code', { class: 'small' }, f.slug)) },
    { label: 'Default org', value: (f) => orgName(f.defaultOrgId) },
    { label: 'Also may use', value: (f) => (f.grantedOrgIds.length ? f.grantedOrgIds.map(orgName).join(', ') : '—') },
    { label: 'Monthly budget', numeric: true, value: (f) => (f.monthlyBudgetNanos === null ? 'none' : formatUsd(f.monthlyBudgetNanos, 2)) },
    { label: 'Actions', value: (f) => h('div', { class: 'row-actions' }, btn('Edit', () => edit(f), '', { 'aria-label': `Edit ${f.name}` }), btn('Tags', () => void editTags(f), '', { 'aria-label': `Tags of ${f.name}` }), h('a', { class: 'btn btn-sm', href: `/admin/gateway-keys?feature=${f.id}`, 'data-link': true }, 'Keys')) },
  ]);
  const orgOptions = () => orgs.map((o) => ({ value: o.id, label: `${o.name} (${o.openaiOrgId})${o.status === 'suspended' ? ' — suspended' : ''}` }));
  const budget = (v: string) => (v === '' ? null : Number(v));

  async function create() {
    // As for gateway keys: a dialog opened before the first load must still offer the orgs.
    if (!orgs.length) orgs = await admin.orgs(new AbortController().signal).catch(() => orgs);
    const created = await formDialog(
      'New feature',
      [
        { name: 'name', label: 'Name', required: true, placeholder: 'Customer-service chatbot' },
        { name: 'slug', label: 'Slug', required: true, placeholder: 'chatbot', hint: 'Lowercase letters, digits and dashes.' },
        { name: 'defaultOrgId', label: 'Default org', type: 'select', required: true, options: orgOptions() },
        { name: 'grantedOrgIds', label: 'Also may use (via the OpenAI-Organization header)', type: 'checkboxes', options: orgOptions() },
        { name: 'monthlyBudgetUsd', label: 'Monthly budget ($)', type: 'number', placeholder: 'none', hint: 'Leave empty for no budget.' },
      ],
      'Create',
      (v) => admin.createFeature({ name: textOf(v, 'name'), slug: textOf(v, 'slug'), defaultOrgId: textOf(v, 'defaultOrgId'), grantedOrgIds: checkedOf(v, 'grantedOrgIds'), monthlyBudgetUsd: budget(textOf(v, 'monthlyBudgetUsd')) }),
    );
    if (created) await reload();
  }
  async function edit(f: Feature) {
    const saved = await formDialog(
      `Edit ${f.name}`,
      [
        { name: 'name', label: 'Name', value: f.name, required: true },
        { name: 'defaultOrgId', label: 'Default org', type: 'select', value: f.defaultOrgId, options: orgOptions() },
        { name: 'grantedOrgIds', label: 'Also may use', type: 'checkboxes', value: f.grantedOrgIds, options: orgOptions() },
        { name: 'monthlyBudgetUsd', label: 'Monthly budget ($)', type: 'number', value: f.monthlyBudgetNanos === null ? '' : String(f.monthlyBudgetNanos / 1e9), hint: 'Leave empty for no budget.' },
      ],
      'Save',
      (v) => admin.updateFeature(f.id, { name: textOf(v, 'name'), defaultOrgId: textOf(v, 'defaultOrgId'), grantedOrgIds: checkedOf(v, 'grantedOrgIds'), monthlyBudgetUsd: budget(textOf(v, 'monthlyBudgetUsd')) }),
    );
    if (saved) await reload();
  }

  /** Default tags (`env=prod, customer=house`) and required tags (`customer`) of a feature (docs/attribution.md). */
  async function editTags(f: Feature) {
    const current = await admin.featureAttribution(f.id).catch((e: Error) => (statusNote(note, e.message, 'error'), null));
    if (!current) return;
    const list = (v: string | string[]) => String(v).split(',').map((s) => s.trim()).filter(Boolean);
    const saved = await formDialog(
      `Tags of ${f.name}`,
      [
        { name: 'defaultTags', label: 'Default tags', value: Object.entries(current.defaultTags).map(([k, v]) => `${k}=${v}`).join(', '), placeholder: 'env=prod, customer=house', hint: 'name=value pairs; a call’s own x-tallygate-tag-* headers win.' },
        { name: 'requiredTags', label: 'Required tags', value: current.requiredTags.join(', '), placeholder: 'customer', hint: 'A call without them (sent or default) is refused with a 400.' },
      ],
      'Save',
      (v) =>
        admin.setFeatureAttribution(f.id, {
          defaultTags: Object.fromEntries(list(v.defaultTags).map((pair) => [pair.slice(0, pair.indexOf('=')).trim(), pair.slice(pair.indexOf('=') + 1).trim()])),
          requiredTags: list(v.requiredTags),
        }),
    );
    if (saved) await reload();
  }

  const page: Page = {
    el: layout(
      '/admin/features',
      'Features',
      'A feature is a product or business unit that calls OpenAI. It runs under a default org and may be granted others.',
      h('div', { class: 'page-actions' }, btn('New feature', create, 'btn-primary')),
      note,
      h('section', { class: 'card' }, table.el),
    ),
    async refresh(ctx) {
      try {
        const [o, f] = await Promise.all([admin.orgs(ctx.signal), admin.features(ctx.signal)]);
        orgs = o;
        table.setRows(f, undefined, 'No features yet.');
        statusNote(note, '');
      } catch (error) {
        showLoadError(note, error);
      }
    },
  };
  return page;
}

// ---------------------------------------------------------------- tags
function tagsPage(): Page {
  const note = h('div', { class: 'note' });
  const reload = () => page.refresh({ signal: new AbortController().signal } as PageContext);
  const table = new DataTable<TagDeclaration>('tags', 'Declared tags', [
    { label: 'Tag', value: (t) => h('span', {}, h('code', {}, t.name), t.description ? h('br') : null, t.description ? h('span', { class: 'small' }, t.description) : null) },
    { label: 'Values kept per month', numeric: true, value: (t) => t.maxValues.toLocaleString('en') },
    { label: 'Values this month', numeric: true, value: (t) => t.valuesThisMonth.toLocaleString('en') },
    { label: 'Longest value', numeric: true, value: (t) => String(t.maxLength) },
    { label: 'Actions', value: (t) => h('div', { class: 'row-actions' }, btn('Edit', () => void edit(t), '', { 'aria-label': `Edit ${t.name}` }), btn('Remove', () => void remove(t), 'btn-danger', { 'aria-label': `Remove ${t.name}` })) },
  ]);
  const number = (v: string | string[]) => (v === '' ? undefined : Number(v));
  async function declare() {
    const created = await formDialog(
      'Declare a tag',
      [
        { name: 'name', label: 'Name', required: true, placeholder: 'customer', hint: 'Lower-case letters, digits, "_", "-", "."; sent as x-tallygate-tag-<name>.' },
        { name: 'description', label: 'Description', placeholder: 'Our customer the call is for' },
        { name: 'maxValues', label: 'Values kept per month', type: 'number', placeholder: 'default', hint: 'Later values are recorded as "other".' },
        { name: 'maxLength', label: 'Longest value (characters)', type: 'number', placeholder: '128' },
      ],
      'Declare',
      (v) => admin.declareTag({ name: String(v.name), description: String(v.description), maxValues: number(v.maxValues), maxLength: number(v.maxLength) }),
    );
    if (created) await reload();
  }
  async function edit(t: TagDeclaration) {
    const saved = await formDialog(
      `Edit ${t.name}`,
      [
        { name: 'description', label: 'Description', value: t.description },
        { name: 'maxValues', label: 'Values kept per month', type: 'number', value: String(t.maxValues) },
        { name: 'maxLength', label: 'Longest value (characters)', type: 'number', value: String(t.maxLength) },
      ],
      'Save',
      (v) => admin.updateTag(t.name, { description: String(v.description), maxValues: number(v.maxValues), maxLength: number(v.maxLength) }),
    );
    if (saved) await reload();
  }
  async function remove(t: TagDeclaration) {
    if (!(await confirmDialog(`Remove ${t.name}?`, 'Calls may still send it (with the default limits); metadata keys of that name stop being read as the tag. Recorded spend stays.', 'Remove'))) return;
    if (await act(() => admin.removeTag(t.name), `Removed ${t.name}.`)) await reload();
  }
  const page: Page = {
    el: layout(
      '/admin/tags',
      'Tags',
      'Tags attribute calls below the feature (customer, env): sent as x-tallygate-tag-<name> headers, as declared metadata keys, or set as a feature’s defaults (Features → Tags). Declaring one sets its limits.',
      h('div', { class: 'page-actions' }, btn('Declare tag', () => void declare(), 'btn-primary')),
      note,
      h('section', { class: 'card' }, table.el),
    ),
    async refresh(ctx) {
      try {
        table.setRows(await admin.tags(ctx.signal), undefined, 'No tags declared: calls may still send tags, with the default limits.');
        statusNote(note, '');
      } catch (error) {
        showLoadError(note, error);
      }
    },
  };
  return page;
}

// ---------------------------------------------------------------- gateway keys
function gatewayKeysPage(): Page {
  const note = h('div', { class: 'note' });
  let features: Feature[] = [];
  const featureName = (id: string) => features.find((f) => f.id === id)?.name ?? id;
  const reload = () => page.refresh({ signal: new AbortController().signal } as PageContext);
  const table = new DataTable<GatewayKey>('gateway-keys', 'Gateway keys', [
    { label: 'Feature', value: (k) => featureName(k.featureId) },
    { label: 'Name', value: (k) => k.name || '—' },
    { label: 'Key', value: (k) => h('code', { 'data-masked': true }, k.masked) },
    { label: 'Issued', value: (k) => when(k.createdAt) },
    { label: 'Status', value: (k) => (k.revokedAt ? badge(`revoked ${when(k.revokedAt)}`, 'muted') : badge('active', 'ok')) },
    { label: 'Traffic', value: (k) => (k.revokedAt ? '' : keyMarkers(usage.get(k.id), k.createdAt, lookback)) },
    {
      label: 'Actions',
      value: (k) =>
        k.revokedAt
          ? ''
          : usage.get(k.id)?.supersededAt
            ? btn('Revoke the previous key', () => revoke(k), 'btn-danger-ghost', { 'aria-label': `Revoke the previous key ${k.masked}`, 'data-revoke': k.id, 'data-revoke-previous': k.id })
            : btn('Revoke', () => revoke(k), 'btn-danger-ghost', { 'aria-label': `Revoke gateway key ${k.masked}`, 'data-revoke': k.id }),
    },
  ]);
  let usage = new Map<string, KeyUsage>();
  let lookback = 24;

  async function issue() {
    // Clicked before the page's first load finished: the dialog must not open with no features to pick.
    if (!features.length) features = await admin.features(new AbortController().signal).catch(() => features);
    const featureParam = new URLSearchParams(location.search).get('feature') ?? '';
    const issued = await formDialog(
      'Issue a gateway key',
      [
        { name: 'featureId', label: 'Feature', type: 'select', required: true, value: featureParam, options: features.map((f) => ({ value: f.id, label: `${f.name} (${f.slug})` })) },
        { name: 'name', label: 'Name', placeholder: 'e.g. production', hint: 'Where the key will be used, to recognise it later.' },
      ],
      'Issue key',
      (v) => admin.issueGatewayKey(String(v.featureId), String(v.name)),
    );
    if (!issued) return;
    await reload();
    await secretDialog(
      'Your new gateway key',
      issued.key,
      `Copy it now: this is the only time it is shown. Use it as the OpenAI API key with base URL ${location.origin}/v1 (OPENAI_BASE_URL=${location.origin}/v1).`,
    );
  }
  async function revoke(k: GatewayKey) {
    if (!(await confirmDialog('Revoke gateway key', `Revoke ${k.masked} (${featureName(k.featureId)})? Apps using it get 401 errors from now on.`, 'Revoke key'))) return;
    if (await act(() => admin.revokeGatewayKey(k.id), 'Gateway key revoked.')) await reload();
  }

  const page: Page = {
    el: layout(
      '/admin/gateway-keys',
      'Gateway keys',
      'What applications use instead of an OpenAI key. Stored only as a hash: a new key is shown once.',
      h('div', { class: 'page-actions' }, btn('Issue key', issue, 'btn-primary', { 'data-action': 'issue-key' })),
      note,
      h('section', { class: 'card' }, table.el),
    ),
    async refresh(ctx) {
      try {
        const [f, keys, u] = await Promise.all([admin.features(ctx.signal), admin.gatewayKeys(ctx.signal), admin.keyUsage(ctx.signal).catch(() => null)]);
        features = f;
        usage = new Map((u?.gatewayKeys ?? []).map((k) => [k.id, k]));
        lookback = u?.lookbackHours ?? lookback;
        const only = new URLSearchParams(location.search).get('feature');
        table.setRows(only ? keys.filter((k) => k.featureId === only) : keys, undefined, 'No gateway keys yet.');
        statusNote(note, '');
      } catch (error) {
        showLoadError(note, error);
      }
    },
  };
  return page;
}

// ---------------------------------------------------------------- users, roles and API tokens
const ROLE_OPTIONS = [
  { value: 'finance', label: 'finance — spend and statements' },
  { value: 'engineer', label: 'engineer — rate limits and latency' },
  { value: 'admin', label: 'admin — everything' },
];

function usersPage(): Page {
  const userNote = h('div', { class: 'note' });
  const tokenNote = h('div', { class: 'note' });
  const reload = () => page.refresh({ signal: new AbortController().signal } as PageContext);
  const users = new DataTable<User>('users', 'Users', [
    { label: 'Email', value: (u) => u.email },
    { label: 'Name', value: (u) => u.name || '—' },
    { label: 'Role', value: (u) => h('span', { class: `role-badge role-${u.role}` }, u.role) },
    { label: 'Status', value: (u) => (u.disabledAt ? badge('disabled', 'muted') : badge('active', 'ok')) },
    { label: 'Created', value: (u) => when(u.createdAt) },
    {
      label: 'Actions',
      value: (u) =>
        h(
          'div',
          { class: 'row-actions' },
          btn('Change role', () => changeRole(u), '', { 'aria-label': `Change the role of ${u.email}` }),
          u.disabledAt
            ? btn('Enable', () => act(() => admin.updateUser(u.id, { disabled: false }), `${u.email} enabled.`).then(reload))
            : btn('Disable', () => disable(u), 'btn-danger-ghost', { 'aria-label': `Disable ${u.email}` }),
        ),
    },
  ]);
  const tokens = new DataTable<ApiToken>('api-tokens', 'API tokens', [
    { label: 'Name', value: (t) => t.name },
    { label: 'Role', value: (t) => h('span', { class: `role-badge role-${t.role}` }, t.role) },
    { label: 'Token', value: (t) => h('code', {}, t.masked) },
    { label: 'Expires', value: (t) => when(t.expiresAt) },
    { label: 'Last used', value: (t) => when(t.lastUsedAt) },
    { label: 'Status', value: (t) => (t.revokedAt ? badge('revoked', 'muted') : new Date(t.expiresAt) < new Date() ? badge('expired', 'muted') : badge('active', 'ok')) },
    { label: 'Actions', value: (t) => (t.revokedAt ? '' : btn('Revoke', () => revokeToken(t), 'btn-danger-ghost', { 'aria-label': `Revoke API token ${t.name}` })) },
  ]);

  async function createUser() {
    const created = await formDialog(
      'New user',
      [
        { name: 'email', label: 'Email', type: 'email', required: true },
        { name: 'name', label: 'Name' },
        { name: 'role', label: 'Role', type: 'select', options: ROLE_OPTIONS, value: 'finance' },
        { name: 'password', label: 'Initial password', type: 'password', required: true, hint: 'At least 12 characters. Share it privately.', autocomplete: 'new-password' },
      ],
      'Create user',
      (v) => admin.createUser({ email: textOf(v, 'email'), role: roleOf(v), password: textOf(v, 'password'), name: optional(textOf(v, 'name')) }),
    );
    if (created) await reload();
  }
  async function changeRole(u: User) {
    const saved = await formDialog(`Role of ${u.email}`, [{ name: 'role', label: 'Role', type: 'select', options: ROLE_OPTIONS, value: u.role }], 'Save', (v) => admin.updateUser(u.id, { role: roleOf(v) }));
    if (saved) await reload();
  }
  async function disable(u: User) {
    if (!(await confirmDialog(`Disable ${u.email}`, 'They are signed out and cannot sign in until enabled again.', 'Disable'))) return;
    if (await act(() => admin.disableUser(u.id), `${u.email} disabled.`)) await reload();
  }
  async function createToken() {
    const issued = await formDialog(
      'New API token',
      [
        { name: 'name', label: 'Name', required: true, placeholder: 'e.g. finance-export-job' },
        { name: 'role', label: 'Role', type: 'select', options: ROLE_OPTIONS, value: 'finance' },
        { name: 'expiresInDays', label: 'Expires after (days)', type: 'number', value: '90', required: true },
      ],
      'Create token',
      (v) => admin.createApiToken({ name: textOf(v, 'name'), role: roleOf(v), expiresInDays: Number(textOf(v, 'expiresInDays')) }),
    );
    if (!issued) return;
    await reload();
    await secretDialog('Your new API token', issued.token, 'Copy it now: this is the only time it is shown. Send it as Authorization: Bearer <token>.');
  }
  async function revokeToken(t: ApiToken) {
    if (!(await confirmDialog('Revoke API token', `Revoke ${t.name}? Scripts using it get 401 errors from now on.`, 'Revoke'))) return;
    if (await act(() => admin.revokeApiToken(t.id), 'API token revoked.')) await reload();
  }

  const page: Page = {
    el: layout(
      '/admin/users',
      'Users & roles',
      'Finance sees spend and statements; engineers see rate limits and latency; admins see and manage everything.',
      h('div', { class: 'page-actions' }, btn('New user', createUser, 'btn-primary')),
      userNote,
      h('section', { class: 'card' }, h('h2', {}, 'Dashboard users'), users.el),
      h('div', { class: 'page-actions' }, btn('New API token', createToken, 'btn-primary')),
      tokenNote,
      h('section', { class: 'card' }, h('h2', {}, 'API tokens'), tokens.el),
    ),
    async refresh(ctx) {
      await Promise.all([
        admin.users(ctx.signal).then((rows) => (users.setRows(rows, undefined, 'No users yet.'), statusNote(userNote, '')), (e) => showLoadError(userNote, e)),
        admin.apiTokens(ctx.signal).then((rows) => (tokens.setRows(rows, undefined, 'No API tokens.'), statusNote(tokenNote, '')), (e) => showLoadError(tokenNote, e)),
      ]);
    },
  };
  return page;
}

// ---------------------------------------------------------------- audit log
const AUDIT_ACTIONS: Array<[string, string]> = [
  ['', 'All changes'],
  ['org', 'Orgs'],
  ['upstream_key', 'Upstream keys'],
  ['admin_key', 'Admin keys'],
  ['feature', 'Features'],
  ['gateway_key', 'Gateway keys'],
  ['user', 'Users'],
  ['api_token', 'API tokens'],
  ['price', 'Prices'],
  ['auth', 'Sign-ins and sign-outs'],
];

/** Audit filters live in the URL (?action=…&actor=…&target=…&from=…&to=…&signIns=include). */
function auditFilters(): AuditFilters & { fromDay: string; toDay: string } {
  const p = new URLSearchParams(location.search);
  const day = (v: string | null) => (v && /^\d{4}-\d{2}-\d{2}$/.test(v) ? v : '');
  const fromDay = day(p.get('from'));
  const toDay = day(p.get('to'));
  const action = p.get('action') || undefined;
  return {
    action,
    actor: p.get('actor') || undefined,
    target: p.get('target') || undefined,
    // Days in the browser's zone; "to" is inclusive.
    from: fromDay ? new Date(`${fromDay}T00:00:00`).toISOString() : undefined,
    to: toDay ? new Date(new Date(`${toDay}T00:00:00`).getTime() + 86_400_000).toISOString() : undefined,
    signIns: p.get('signIns') === 'include' || action === 'auth' ? 'include' : 'exclude',
    fromDay,
    toDay,
  };
}

function auditPage(): Page {
  const note = h('div', { class: 'note' });
  const PAGE = 100;
  let rows: AuditRecord[] = [];
  let reloadPage: () => void = () => undefined;
  const details = (r: AuditRecord) => {
    const entries = Object.entries(r.details ?? {});
    return entries.length ? h('span', { class: 'mono small' }, entries.map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' ')) : '';
  };
  const target = (r: AuditRecord) => {
    if (!r.targetType) return '—';
    const kind = r.targetType.replace(/_/g, ' ');
    return h('span', { 'data-target-id': r.targetId ?? '', title: r.targetId ? `id ${r.targetId}` : null }, `${kind} `, r.targetName ? h('strong', {}, r.targetName) : h('span', { class: 'muted' }, r.targetId ? '(deleted)' : ''));
  };
  const table = new DataTable<AuditRecord>('audit', 'Audit log', [
    { label: 'When', value: (r) => when(r.at) },
    { label: 'Who', value: (r) => h('span', {}, r.actor, r.actorRole ? h('span', { class: 'muted' }, ` (${r.actorRole})`) : null) },
    { label: 'Action', value: (r) => h('code', {}, r.action) },
    { label: 'Target', value: target },
    { label: 'Details', value: details },
    { label: 'IP', value: (r) => r.ip ?? '—' },
  ]);
  // The filter form: applied on submit (or a select's change), written to the URL.
  const f = auditFilters();
  const input = (name: string, label: string, value: string, type = 'search') =>
    h('label', { class: 'filter', for: `audit-${name}` }, h('span', {}, label), h('input', { id: `audit-${name}`, name, type, value, autocomplete: 'off' }));
  const actionSelect = h('select', { id: 'audit-action', name: 'action' }, ...AUDIT_ACTIONS.map(([v, text]) => h('option', { value: v, selected: v === (f.action ?? '') }, text)));
  const signIns = h('input', { id: 'audit-signins', name: 'signIns', type: 'checkbox', value: 'include', checked: f.signIns === 'include' && f.action !== 'auth' });
  const form = h(
    'form',
    { class: 'filters audit-filters', 'aria-label': 'Audit filters' },
    h('label', { class: 'filter', for: 'audit-action' }, h('span', {}, 'Action'), actionSelect),
    input('actor', 'Who', f.actor ?? ''),
    input('target', 'Target (name or id)', f.target ?? ''),
    input('from', 'From', f.fromDay, 'date'),
    input('to', 'To', f.toDay, 'date'),
    h('label', { class: 'check', for: 'audit-signins' }, signIns, ' Show sign-ins'),
    h('button', { type: 'submit', class: 'btn btn-sm' }, 'Filter'),
  );
  const apply = () => {
    const data = new FormData(form);
    const params = new URLSearchParams();
    for (const key of ['action', 'actor', 'target', 'from', 'to', 'signIns']) {
      const v = String(data.get(key) ?? '').trim();
      if (v) params.set(key, v);
    }
    const search = params.toString() ? `?${params}` : '';
    if (search !== location.search) history.pushState(null, '', `${location.pathname}${search}`);
    reloadPage();
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    apply();
  });
  actionSelect.addEventListener('change', apply);
  signIns.addEventListener('change', apply);
  const more = btn('Load older entries', async () => {
    const older = await admin.audit(PAGE, rows.at(-1)?.id, undefined, auditFilters()).catch((e: Error) => (showLoadError(note, e), []));
    rows = [...rows, ...older];
    table.setRows(rows);
    more.hidden = older.length < PAGE;
  });
  const page: Page = {
    el: layout('/admin/audit', 'Audit log', 'Every admin change, newest first (sign-ins hidden unless asked for). Append-only.', form, note, h('section', { class: 'card' }, table.el), h('div', { class: 'page-actions' }, more)),
    async refresh(ctx) {
      try {
        const latest = await admin.audit(PAGE, undefined, ctx.signal, auditFilters());
        // Keep older pages the user loaded; refresh only the newest page.
        const oldest = latest.at(-1)?.id;
        rows = [...latest, ...rows.filter((r) => oldest !== undefined && BigInt(r.id) < BigInt(oldest))];
        table.setRows(rows, undefined, location.search ? 'Nothing matches these filters.' : 'Nothing recorded yet.');
        more.hidden = latest.length < PAGE;
        statusNote(note, '');
      } catch (error) {
        showLoadError(note, error);
      }
    },
  };
  reloadPage = () => {
    rows = [];
    void page.refresh({ signal: new AbortController().signal } as PageContext);
  };
  return page;
}

export const adminPages: PageDef[] = [
  { path: '/admin/orgs', title: 'Organizations', roles: ['admin'], filters: [], liveEvery: 0, create: orgsPage },
  { path: '/admin/features', title: 'Features', roles: ['admin'], filters: [], liveEvery: 0, create: featuresPage },
  { path: '/admin/gateway-keys', title: 'Gateway keys', roles: ['admin'], filters: [], liveEvery: 0, create: gatewayKeysPage },
  { path: '/admin/tags', title: 'Tags', roles: ['admin'], filters: [], liveEvery: 0, create: tagsPage },
  { path: '/admin/users', title: 'Users & roles', roles: ['admin'], filters: [], liveEvery: 0, create: usersPage },
  { path: '/admin/audit', title: 'Audit log', roles: ['admin'], filters: [], liveEvery: 10, create: auditPage },
];
