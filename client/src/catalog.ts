// Names for the ids that appear in filters and legends. Filled from admin lists when the user may
// read them, and from every analytics response otherwise (finance cannot list orgs via admin).
export type Dimension = 'org' | 'feature' | 'model';

const names: Record<Dimension, Map<string, string>> = { org: new Map(), feature: new Map(), model: new Map() };
const listeners = new Set<() => void>();

export function remember(dimension: Dimension, id: string | null | undefined, name?: string | null): void {
  if (!id) return;
  const map = names[dimension];
  const label = name || map.get(id) || id;
  if (map.get(id) === label) return;
  map.set(id, label);
  for (const l of listeners) l();
}

export const nameOf = (dimension: Dimension, id: string | null | undefined): string => (id ? (names[dimension].get(id) ?? id) : '(none)');

export const known = (dimension: Dimension): Array<{ id: string; name: string }> =>
  [...names[dimension]].map(([id, name]) => ({ id, name })).sort((a, b) => a.name.localeCompare(b.name));

export function onCatalogChange(listener: () => void): void {
  listeners.add(listener);
}
