// Names for the ids that appear in filters and legends. The filter lists come from the catalog
// (GET /api/analytics/catalog: every org, feature and model the caller may filter by, with or
// without traffic); analytics responses and admin lists add names for anything newer.
import { api } from './api.js';
import type { Catalog } from '../../server/contract/index.js';

export type Dimension = 'org' | 'feature' | 'model';

const names: Record<Dimension, Map<string, string>> = { org: new Map(), feature: new Map(), model: new Map() };
/** Ids named by the catalog: its names win over labels seen in responses (slugs, raw ids). */
const named: Record<Dimension, Set<string>> = { org: new Set(), feature: new Set(), model: new Set() };
/** What URLs may say instead of an id: a feature's slug, an org's name or OpenAI org id. */
const aliases: Record<Dimension, Map<string, string>> = { org: new Map(), feature: new Map(), model: new Map() };
const listeners = new Set<() => void>();

export function remember(dimension: Dimension, id: string | null | undefined, name?: string | null): void {
  if (!id || named[dimension].has(id)) return;
  const map = names[dimension];
  const label = name || map.get(id) || id;
  if (map.get(id) === label) return;
  map.set(id, label);
  for (const l of listeners) l();
}

export const nameOf = (dimension: Dimension, id: string | null | undefined): string => (id ? (names[dimension].get(id) ?? id) : '(none)');

export const known = (dimension: Dimension): Array<{ id: string; name: string }> =>
  [...names[dimension]].map(([id, name]) => ({ id, name })).sort((a, b) => a.name.localeCompare(b.name));

/** The id a filter value stands for (the value itself when it is an id or unknown). */
export const idOf = (dimension: Dimension, ref: string): string => (ref ? (aliases[dimension].get(ref) ?? ref) : '');

export function onCatalogChange(listener: () => void): void {
  listeners.add(listener);
}

/** How long a loaded catalog serves before the next page refresh reads it again (new orgs/features appear). */
const CATALOG_MAX_AGE_MS = 30_000;
let loadedAt = -Infinity;
let since: string | null = null;
/** The first hour with usage, from the catalog (null: none yet, or not loaded). */
export const historySince = (): string | null => since;
let loading: Promise<void> | null = null;

/** Loads the catalog when it is older than CATALOG_MAX_AGE_MS; a failure leaves what was known. */
export function loadCatalog(force = false): Promise<void> {
  if (!force && performance.now() - loadedAt < CATALOG_MAX_AGE_MS) return Promise.resolve();
  loading ??= api
    .get<Catalog>('/api/analytics/catalog')
    .then((c) => {
      loadedAt = performance.now();
      since = c.historySince;
      const entries: Array<[Dimension, string, string, string[]]> = [
        ...c.orgs.map((o): [Dimension, string, string, string[]] => ['org', o.id, o.name, [o.name, o.openaiOrgId]]),
        ...c.features.map((f): [Dimension, string, string, string[]] => ['feature', f.id, f.name === f.slug ? f.slug : `${f.name} (${f.slug})`, [f.slug]]),
        ...c.models.map((m): [Dimension, string, string, string[]] => ['model', m.id, m.id, []]),
      ];
      let changed = false;
      for (const [dim, id, name, refs] of entries) {
        named[dim].add(id);
        for (const r of refs) aliases[dim].set(r, id);
        if (names[dim].get(id) !== name) {
          names[dim].set(id, name);
          changed = true;
        }
      }
      if (changed) for (const l of listeners) l();
    })
    .catch(() => undefined)
    .finally(() => {
      loading = null;
    });
  return loading;
}
