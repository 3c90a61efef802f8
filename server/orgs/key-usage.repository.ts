// Key age, last use and which key carries traffic, from the ledger through its (org, time) and
// (feature, time) indexes: each lookup reads backwards from now and stops at the first row, and
// never looks further back than the lookback window.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { KEY_USAGE_LOOKBACK_HOURS, type KeyUsageResponse } from '../contract/key-usage.js';

interface KeyRow {
  id: string;
  owner: string;
  created_at: Date;
  revoked_at: Date | null;
  superseded_at: Date | null;
  carrying: boolean;
  last_used_at: Date | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

@Injectable()
export class KeyUsageRepository {
  constructor(private readonly dataSource: DataSource) {}

  async usage(): Promise<KeyUsageResponse> {
    const lookback = `now() - make_interval(hours => ${KEY_USAGE_LOOKBACK_HOURS})`;
    // Upstream keys: the resolver sends with the org's newest live key; an older key's calls are
    // the org's calls between its creation and the next newer key's (plus the route cache's TTL).
    const upstream = (await this.dataSource.query(
      `WITH k AS (
         SELECT u.id, u.org_id AS owner, u.created_at, u.revoked_at,
           (SELECT min(n.created_at) FROM upstream_keys n WHERE n.org_id = u.org_id AND n.revoked_at IS NULL AND n.created_at > u.created_at) AS superseded_at,
           row_number() OVER (PARTITION BY u.org_id, u.revoked_at IS NULL ORDER BY u.created_at DESC) = 1 AND u.revoked_at IS NULL AS carrying
         FROM upstream_keys u)
       SELECT k.*, (SELECT max(e.created_at) FROM usage_events e
           WHERE e.org_id = k.owner AND e.created_at >= greatest(k.created_at, ${lookback})
             AND (k.superseded_at IS NULL OR k.carrying OR e.created_at < k.superseded_at + interval '1 minute')
             AND e.outcome <> 'not_sent') AS last_used_at
       FROM k`,
    )) as KeyRow[];
    // Gateway keys: the ledger names the key of every call.
    const gateway = (await this.dataSource.query(
      `SELECT g.id, g.feature_id AS owner, g.created_at, g.revoked_at, NULL::timestamptz AS superseded_at, false AS carrying,
         (SELECT e.created_at FROM usage_events e
           WHERE e.feature_id = g.feature_id AND e.created_at >= greatest(g.created_at, ${lookback}) AND e.gateway_key_id = g.id
           ORDER BY e.created_at DESC LIMIT 1) AS last_used_at
       FROM gateway_keys g`,
    )) as KeyRow[];
    // The feature's key that carries traffic: the live one used last.
    const newest = new Map<string, KeyRow>();
    for (const g of gateway) {
      if (g.revoked_at || !g.last_used_at) continue;
      const best = newest.get(g.owner);
      if (!best || best.last_used_at! < g.last_used_at) newest.set(g.owner, g);
    }
    for (const g of newest.values()) g.carrying = true;
    // A live gateway key is superseded by a newer live key of the same feature.
    for (const g of gateway) {
      if (g.revoked_at) continue;
      const newer = gateway.filter((o) => o.owner === g.owner && !o.revoked_at && o.created_at > g.created_at).sort((a, b) => +a.created_at - +b.created_at)[0];
      g.superseded_at = newer?.created_at ?? null;
    }
    const out = (r: KeyRow) => ({ id: r.id, carrying: r.carrying, lastUsedAt: iso(r.last_used_at), supersededAt: r.revoked_at ? null : iso(r.superseded_at) });
    return {
      lookbackHours: KEY_USAGE_LOOKBACK_HOURS,
      upstreamKeys: upstream.map((r) => ({ ...out(r), orgId: r.owner })),
      gatewayKeys: gateway.map((r) => ({ ...out(r), featureId: r.owner })),
    };
  }
}
