// The shell: sign-in, navigation by role, the URL-driven filter bar, routing and live refresh.
import './styles.css';
import { ApiError } from './api.js';
import { currentUser, setUnauthenticatedHandler, signIn, signInWithToken, signOut, type Me } from './auth.js';
import { idOf, known, loadCatalog, onCatalogChange } from './catalog.js';
import { announce, clear, h } from './dom.js';
import { browserTz, isTimeZone, onFiltersChange, RANGE_LABELS, readFilters, updateFilters, type Filters, type RangePreset } from './filters.js';
import type { FilterName, Page, PageDef } from './page.js';
import { alertsApi } from './alerts-api.js';
import { adminPages } from './pages/admin.js';
import { batchesPage } from './pages/batches.js';
import { alertsPage } from './pages/alerts.js';
import { financePage } from './pages/finance.js';
import { overviewPage } from './pages/overview.js';
import { rateLimitsPage } from './pages/ratelimits.js';
import { reconciliationPage } from './pages/reconciliation.js';
import { moderationPage } from './pages/moderation.js';

const PAGES: PageDef[] = [overviewPage, financePage, rateLimitsPage, moderationPage, batchesPage, alertsPage, ...adminPages, reconciliationPage];
const root = document.getElementById('app')!;

let me: Me | null = null;
let current: { def: PageDef; page: Page; controller: AbortController; timer: number | undefined; busy: boolean } | null = null;
let live = localStorage.getItem('tallygate.live') !== 'off';
const mainEl = h('main', { id: 'main', tabindex: -1 });
const filterBar = h('form', { class: 'filters', 'aria-label': 'Filters', onsubmit: (e: Event) => e.preventDefault() });
const liveStatus = h('span', { class: 'live-status', role: 'status', 'aria-live': 'off' });
const nav = h('nav', { class: 'nav', 'aria-label': 'Main' });
const banner = h('div', { class: 'alert-banner', role: 'status', 'aria-live': 'polite', 'data-alert-banner': '', hidden: true });
let bannerTimer: number | undefined;

/** The banner on every page while an alert fires (silenced ones stay off it): polled, and after each navigation. */
async function refreshBanner(): Promise<void> {
  window.clearTimeout(bannerTimer);
  if (!me) return;
  try {
    const firing = (await alertsApi.alerts('firing')).filter((a) => !a.silencedUntil || Date.parse(a.silencedUntil) <= Date.now());
    banner.toggleAttribute('hidden', firing.length === 0);
    banner.dataset.count = String(firing.length);
    clear(
      banner,
      h('span', { 'aria-hidden': 'true' }, '⚠'),
      h('span', { 'data-banner-text': '' }, firing.length === 1 ? `Firing: ${firing[0].title}` : `${firing.length} alerts firing: ${firing.slice(0, 2).map((a) => a.title).join('; ')}${firing.length > 2 ? '; …' : ''}`),
      h('a', { href: '/alerts', 'data-link': true }, 'See alerts'),
    );
  } catch {
    // The banner is a hint: a failed poll keeps what it showed.
  }
  if (me) bannerTimer = window.setTimeout(() => void refreshBanner(), 15_000);
}

function allowed(def: PageDef): boolean {
  return !!me && def.roles.includes(me.role);
}

function findPage(path: string): PageDef | undefined {
  const clean = path.replace(/\/+$/, '') || '/';
  if (clean === '/') return PAGES[0];
  if (clean === '/admin') return PAGES.find((p) => p.path.startsWith('/admin/') && allowed(p));
  return PAGES.find((p) => p.path === clean);
}

function renderSignIn(message = ''): void {
  stopPage();
  const error = h('p', { class: 'form-error', role: 'alert' }, message);
  const form = h(
    'form',
    { class: 'signin card', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in to Tallygate'),
    h('label', {}, 'Email', h('input', { name: 'email', type: 'email', autocomplete: 'username', required: true, autofocus: true })),
    h('label', {}, 'Password', h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
    error,
    h('button', { type: 'submit', class: 'btn btn-primary' }, 'Sign in'),
  );
  const tokenForm = h(
    'form',
    { class: 'token-form' },
    h('label', {}, 'Admin or API token', h('input', { name: 'token', type: 'password', autocomplete: 'off', required: true })),
    h('button', { type: 'submit', class: 'btn' }, 'Use token'),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    try {
      me = await signIn(String(data.get('email')), String(data.get('password')));
      startApp();
    } catch (err) {
      error.textContent = (err as Error).message;
    }
  });
  tokenForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      me = await signInWithToken(String(new FormData(tokenForm).get('token')));
      startApp();
    } catch (err) {
      error.textContent = (err as Error).message;
    }
  });
  clear(root, h('div', { class: 'signin-page' }, form, h('details', { class: 'card token-card' }, h('summary', {}, 'Sign in with a token instead'), tokenForm)));
}

function renderShell(): void {
  const user = h(
    'div',
    { class: 'user' },
    h('span', { class: 'user-email' }, me!.email),
    h('span', { class: `role-badge role-${me!.role}`, 'data-role': me!.role }, me!.role),
    h('button', { type: 'button', class: 'btn btn-ghost', onclick: async () => { await signOut(); me = null; renderSignIn(); } }, 'Sign out'),
  );
  const liveToggle = h('button', { type: 'button', class: 'btn btn-ghost live-toggle', 'aria-pressed': String(live) }, live ? 'Live' : 'Paused');
  liveToggle.addEventListener('click', () => {
    live = !live;
    localStorage.setItem('tallygate.live', live ? 'on' : 'off');
    liveToggle.setAttribute('aria-pressed', String(live));
    liveToggle.textContent = live ? 'Live' : 'Paused';
    schedule();
  });
  clear(
    root,
    h('header', { class: 'topbar' }, h('a', { class: 'brand', href: '/overview', 'data-link': true }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), 'Tallygate'), nav, h('div', { class: 'topbar-right' }, liveStatus, liveToggle, user)),
    h('div', { class: 'toolbar' }, filterBar),
    banner,
    mainEl,
    h('div', { id: 'toasts', class: 'toasts', 'aria-live': 'polite' }),
  );
}

function renderNav(active: PageDef | undefined): void {
  const items = [
    { label: 'Overview', path: '/overview' },
    // Finance → Reconciliation (/finance/reconciliation) lives under Finance.
    { label: 'Finance', path: '/finance', prefix: '/finance' },
    { label: 'Rate limits', path: '/rate-limits' },
    { label: 'Moderation', path: '/moderation' },
    { label: 'Batches', path: '/batches' },
    { label: 'Alerts', path: '/alerts' },
    { label: 'Admin', path: '/admin/orgs', prefix: '/admin/' },
  ].filter((item) => {
    const def = item.prefix ? PAGES.find((p) => p.path.startsWith(item.prefix!)) : PAGES.find((p) => p.path === item.path);
    return def && allowed(def);
  });
  clear(
    nav,
    h(
      'ul',
      {},
      ...items.map((item) => {
        const isActive = !!active && (item.prefix ? active.path.startsWith(item.prefix) : active.path === item.path);
        return h('li', {}, h('a', { href: item.path, 'data-link': true, 'aria-current': isActive ? 'page' : null }, item.label));
      }),
    ),
  );
}

/** How long a filter select must rest on a value before the page reloads with it. */
const FILTER_SETTLE_MS = 400;

function select(name: string, label: string, value: string, options: Array<[string, string]>, onChange: (v: string) => void): HTMLElement {
  const el = h('select', { name, id: `filter-${name}` }, ...options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)));
  // Arrow keys on a closed select fire 'change' per step: apply the value once the user rests on
  // it (or leaves the control), not one reload per key press.
  let timer: number | undefined;
  const commit = () => {
    clearTimeout(timer);
    timer = undefined;
    if (el.value !== value) onChange(el.value);
  };
  el.addEventListener('change', () => {
    clearTimeout(timer);
    timer = window.setTimeout(commit, FILTER_SETTLE_MS);
  });
  el.addEventListener('blur', () => timer !== undefined && commit());
  return h('label', { class: 'filter', for: `filter-${name}` }, h('span', {}, label), el);
}

function renderFilters(used: FilterName[], f: Filters): void {
  // Hide the whole strip (not just the form) so pages without filters have no empty bar.
  filterBar.parentElement?.toggleAttribute('hidden', !used.length);
  if (!used.length) return;
  const parts: HTMLElement[] = [];
  if (used.includes('range')) {
    parts.push(select('range', 'Range', f.range, Object.entries(RANGE_LABELS), (v) => updateFilters({ range: v as RangePreset })));
    if (f.range === 'custom') {
      const from = h('input', { type: 'date', id: 'filter-from', value: f.from });
      const to = h('input', { type: 'date', id: 'filter-to', value: f.to });
      from.addEventListener('change', () => updateFilters({ range: 'custom', from: from.value, to: to.value }));
      to.addEventListener('change', () => updateFilters({ range: 'custom', from: from.value, to: to.value }));
      parts.push(h('label', { class: 'filter', for: 'filter-from' }, h('span', {}, 'From'), from), h('label', { class: 'filter', for: 'filter-to' }, h('span', {}, 'To'), to));
    }
  }
  if (used.includes('bucket')) parts.push(select('bucket', 'Bucket', f.bucket, [['hour', 'Hour'], ['day', 'Day'], ['month', 'Month']], (v) => updateFilters({ bucket: v as Filters['bucket'] })));
  for (const dim of ['org', 'feature', 'model'] as const) {
    if (!used.includes(dim)) continue;
    const options: Array<[string, string]> = [['', `All ${dim === 'org' ? 'orgs' : dim + 's'}`], ...known(dim).map((k): [string, string] => [k.id, k.name])];
    // A slug or name from the URL selects the entry it stands for.
    const value = idOf(dim, f[dim]);
    if (value && !options.some(([v]) => v === value)) options.push([value, value]);
    parts.push(select(dim, dim === 'org' ? 'Org' : dim[0].toUpperCase() + dim.slice(1), value, options, (v) => updateFilters({ [dim]: v })));
  }
  if (used.includes('tz')) {
    const zones = [...new Set(['UTC', browserTz(), f.tz, 'America/New_York', 'America/Los_Angeles', 'Europe/London', 'Europe/Berlin', 'Asia/Tokyo', 'Australia/Sydney'])].filter(isTimeZone);
    parts.push(select('tz', 'Time zone', f.tz, zones.map((z): [string, string] => [z, z]), (v) => updateFilters({ tz: v })));
  }
  // The bar is rebuilt with the new values: focus goes back to the control the user was on.
  const focused = filterBar.contains(document.activeElement) ? document.activeElement?.id : undefined;
  clear(filterBar, ...parts);
  if (focused) document.getElementById(focused)?.focus();
}

function stopPage(): void {
  if (!current) return;
  current.controller.abort();
  clearTimeout(current.timer);
  current.page.destroy?.();
  current = null;
}

async function refresh(isLive: boolean): Promise<void> {
  if (!current || !me) return;
  if (current.busy && isLive) return;
  current.controller.abort();
  const controller = new AbortController();
  current.controller = controller;
  current.busy = true;
  const ref = current;
  try {
    // The filter lists and slug → id map; cached, so a live refresh reads it at most every 30 s.
    await loadCatalog();
    if (controller.signal.aborted) return;
    await ref.page.refresh({ me, filters: readFilters(), signal: controller.signal, live: isLive });
    if (!controller.signal.aborted) liveStatus.textContent = `Updated ${new Date().toLocaleTimeString('en-US', { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' })}`;
  } catch (error) {
    if ((error as Error).name !== 'AbortError' && !isLive) announce((error as Error).message, 'error');
  } finally {
    if (current === ref && current.controller === controller) current.busy = false;
    schedule();
  }
}

function schedule(): void {
  if (!current) return;
  clearTimeout(current.timer);
  if (!live || !current.def.liveEvery) return;
  current.timer = window.setTimeout(() => {
    if (document.hidden) schedule();
    else void refresh(true);
  }, current.def.liveEvery * 1000);
}

function route(): void {
  if (!me) return;
  const def = findPage(location.pathname);
  stopPage();
  renderNav(def);
  if (!def) {
    renderFilters([], readFilters());
    clear(mainEl, h('section', { class: 'card notice' }, h('h1', {}, 'Page not found'), h('p', {}, 'Nothing lives at this address. '), h('a', { href: '/overview', 'data-link': true }, 'Go to the overview')));
    document.title = 'Not found · Tallygate';
    return;
  }
  if (!allowed(def)) {
    renderFilters([], readFilters());
    clear(
      mainEl,
      h('section', { class: 'card notice', 'data-denied': def.path }, h('h1', {}, 'Not available for your role'), h('p', {}, `${def.title} is for ${def.roles.filter((r) => r !== 'admin').join(' and ') || 'admins'} and admins; you are signed in as ${me.role}.`), h('a', { href: '/overview', 'data-link': true }, 'Go to the overview')),
    );
    document.title = 'Not allowed · Tallygate';
    return;
  }
  document.title = `${def.title} · Tallygate`;
  renderFilters(def.filters, readFilters());
  const page = def.create(me);
  clear(mainEl, page.el);
  current = { def, page, controller: new AbortController(), timer: undefined, busy: false };
  void refresh(false);
}

export function navigate(path: string): void {
  // Filters are shared across pages: keep the query string when moving between them.
  const [pathname, search] = path.split('?');
  history.pushState(null, '', `${pathname}${search !== undefined ? `?${search}` : location.search}`);
  route();
  void refreshBanner();
  mainEl.focus({ preventScroll: true });
}

function startApp(): void {
  renderShell();
  route();
  void refreshBanner();
}

document.addEventListener('click', (e) => {
  const link = (e.target as Element).closest?.('a[data-link]');
  if (!link || e.defaultPrevented || (e as MouseEvent).metaKey || (e as MouseEvent).ctrlKey || (e as MouseEvent).shiftKey) return;
  e.preventDefault();
  navigate(link.getAttribute('href')!);
});
window.addEventListener('popstate', () => route());
onFiltersChange((f) => {
  if (!current) return;
  renderFilters(current.def.filters, f);
  void refresh(false);
});
onCatalogChange(() => {
  // Never rebuild the filter bar under the user's focus (it would close an open select).
  if (current && !filterBar.contains(document.activeElement)) renderFilters(current.def.filters, readFilters());
});
document.addEventListener('visibilitychange', () => {
  if (!document.hidden && current && live) void refresh(true);
});
setUnauthenticatedHandler((message) => {
  if (!me) return;
  me = null;
  renderSignIn(`${message} Please sign in again.`);
});

async function boot(): Promise<void> {
  try {
    me = await currentUser();
  } catch (error) {
    me = null;
    if (error instanceof ApiError && error.status === 0) return renderSignIn(error.message);
  }
  if (me) startApp();
  else renderSignIn();
}
void boot();
