// The gateway-key lookup: one indexed query from a key's hash to its feature, the orgs it may use
// and each org's newest live upstream key (still sealed).
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface RouteRow {
  gateway_key_id: string;
  revoked: boolean;
  feature_id: string;
  slug: string;
  default_org_id: string;
  monthly_budget_nanos: string | null;
  org_id: string;
  openai_org_id: string;
  project_id: string | null;
  base_url: string;
  status: string;
  sealed: string | null;
}

const ROUTES_SQL = `
  SELECT gk.id AS gateway_key_id, gk.revoked_at IS NOT NULL AS revoked, f.id AS feature_id, f.slug,
         f.default_org_id, f.monthly_budget_nanos, o.id AS org_id, o.openai_org_id, o.project_id,
         o.base_url, o.status,
         (SELECT u.sealed FROM upstream_keys u WHERE u.org_id = o.id AND u.revoked_at IS NULL
           ORDER BY u.created_at DESC LIMIT 1) AS sealed
  FROM gateway_keys gk
  JOIN features f ON f.id = gk.feature_id
  JOIN orgs o ON o.id = f.default_org_id
    OR o.id IN (SELECT fo.org_id FROM feature_orgs fo WHERE fo.feature_id = f.id)
  WHERE gk.key_hash = $1`;

@Injectable()
export class RoutesRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** One row per org the key's feature may use; none for a key Tallygate never issued. */
  routesFor(keyHash: Buffer): Promise<RouteRow[]> {
    return this.dataSource.query(ROUTES_SQL, [keyHash]) as Promise<RouteRow[]>;
  }
}
