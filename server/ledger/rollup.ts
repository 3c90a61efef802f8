// What the rollup registry (rollups.ts) holds for each rollup.

export interface Rollup {
  /** The table it keeps. */
  table: string;
  /** Its upsert, one CTE named `<table>_rollup` reading `ins` (the ledger rows to fold in, org_id NO_ORG for no org: ledger.sql.ts). */
  upsert: string;
  /** CTEs it reads besides `ins`, shared by rollups that name the same text (written once). */
  needs?: readonly string[];
  /**
   * Set when the rollup carries cost: a price correction rebuilds it from the ledger over the whole
   * UTC hours or days it touched, for the re-costed models (the table has a `model` column and this
   * time column).
   */
  cost?: { time: 'hour' | 'day' };
}
