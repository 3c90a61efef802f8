// "No org" in the ledger: rows of calls refused before an org was chosen (a feature asking for an
// org it was not granted) name none. Citus rejects NULL in the distribution column, so
// usage_events and the usage rollups store this sentinel instead (migrations/1734600000000-LedgerOrgKey.ts,
// 1734700000000-RollupOrgKey.ts), and every query above the tables reads it back as NULL: APIs
// and exports are unchanged.

/** The org_id usage_events and the usage rollups store for a row that names no org; no orgs row has it. */
export const NO_ORG = '00000000-0000-0000-0000-000000000000';

/** SQL: a usage_events or usage rollup org_id as the app sees it, NULL for no org. */
export const orgIdSql = (column: string): string => `nullif(${column}, '${NO_ORG}'::uuid)`;

/** SQL: the row names an org (the sentinel's counterpart of `org_id IS NOT NULL`; indexable). */
export const hasOrgSql = (column: string): string => `${column} <> '${NO_ORG}'::uuid`;
