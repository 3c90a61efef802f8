// A model's price family, the key prices, pacing and headroom group models by (the SQL function
// model_family() in the migrations is its twin for rollups).

/** Price families: dated snapshots (`gpt-4o-2024-08-06`, `gpt-4-0613`) and `-latest` aliases. */
export function modelFamily(model: string): string {
  let family = FAMILIES.get(model);
  if (family === undefined) {
    family = model.replace(/-(\d{4}-\d{2}-\d{2}|\d{4}|latest|stable)$/, '');
    if (FAMILIES.size >= FAMILIES_MAX) FAMILIES.clear();
    FAMILIES.set(model, family);
  }
  return family;
}

/** modelFamily() runs several times per call on the hot path (pricing, pacing, metrics): remember it. */
const FAMILIES = new Map<string, string>();
const FAMILIES_MAX = 1_000;
