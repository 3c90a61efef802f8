// The filter catalog's answer (GET /api/analytics/catalog), shared with the dashboard as a type.

/** What the filter lists offer: every org, feature and model, with or without traffic (no money). */
export interface Catalog {
  orgs: Array<{ id: string; name: string; openaiOrgId: string; status: string }>;
  features: Array<{ id: string; slug: string; name: string; defaultOrgId: string }>;
  /** Models in the price list or with usage. */
  models: Array<{ id: string }>;
  /** The first hour with usage (null: none yet): a comparison with a period before it has no earlier data. */
  historySince: string | null;
}
