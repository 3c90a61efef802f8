// Every SQL statement on prices, and the re-costing of ledger rows a price correction does. Methods
// that run inside a correction take its transaction's EntityManager.
import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager, IsNull } from 'typeorm';
import { rollupFromLedgerSql } from '../ledger/ledger.sql.js';
import { COST_ROLLUPS } from '../ledger/rollups.js';
import { Price, PRICE_COMPONENT_COLUMNS, PRICE_COMPONENTS } from './price.entity.js';
import { STORED_USAGE_COLUMNS, type StoredUsageRow } from './stored-usage.js';

/** `$4, $5, ...` for the components after the model, tier and start. */
const COMPONENT_PARAMS = PRICE_COMPONENTS.map((_, i) => `$${i + 4}`).join(', ');
const SOURCE_PARAM = `$${PRICE_COMPONENTS.length + 4}`;
const HOUR_MS = 3_600_000;
const UNIT_MS = { hour: HOUR_MS, day: 24 * HOUR_MS } as const;

/** A price row to insert: model, tier, start, the components as query parameters, and its source. */
export interface PriceRowInput {
  model: string;
  serviceTier: string;
  effectiveFrom: string;
  /** In PRICE_COMPONENTS order; the keyed ones as JSON text. */
  components: Array<string | null>;
  source: string;
}

/** A ledger row a price correction may re-cost. */
export interface RecostCandidate extends StoredUsageRow {
  /** Full precision text (keyset and update key); `created` is the same instant as a Date. */
  at: string;
  created: Date;
  id: string;
  model: string;
  service_tier: string | null;
  cost_nanos: string | null;
  price_id: number | null;
}

export interface RecostedRow {
  at: string;
  id: string;
  cost: string | null;
  price: number | null;
}

@Injectable()
export class PricesRepository {
  constructor(private readonly dataSource: DataSource) {}

  transaction<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(work);
  }

  current(): Promise<Price[]> {
    return this.dataSource.getRepository(Price).find({ where: { retiredAt: IsNull() } });
  }

  list(model: string | undefined, includeRetired: boolean): Promise<Price[]> {
    const qb = this.dataSource.getRepository(Price).createQueryBuilder('p').orderBy('p.model').addOrderBy('p.service_tier').addOrderBy('p.effective_from', 'DESC');
    if (model) qb.andWhere('p.model = :model', { model });
    if (!includeRetired) qb.andWhere('p.retired_at IS NULL');
    return qb.getMany();
  }

  /**
   * Loads shipped rows (the shape priceFromList() makes). A row goes in only when no row, current or
   * retired, has its model, tier and start. Returns how many went in.
   */
  async insertShipped(rows: readonly object[]): Promise<number> {
    const inserted = (await this.dataSource.query(
      `INSERT INTO prices (model, service_tier, effective_from, ${PRICE_COMPONENT_COLUMNS}, source)
       SELECT r."model", r."serviceTier", r."effectiveFrom", ${PRICE_COMPONENTS.map(([key]) => `r."${key}"`).join(', ')}, r."source"
       FROM jsonb_to_recordset($1::jsonb)
         AS r("model" text, "serviceTier" text, "effectiveFrom" timestamptz, ${PRICE_COMPONENTS.map(([key, , type]) => `"${key}" ${type}`).join(', ')}, "source" text)
       WHERE NOT EXISTS (SELECT 1 FROM prices p WHERE p.model = r."model" AND p.service_tier = r."serviceTier" AND p.effective_from = r."effectiveFrom")
       ON CONFLICT DO NOTHING
       RETURNING id`,
      [JSON.stringify(rows)],
    )) as Array<{ id: number }>;
    return inserted.length;
  }

  /** Inserts a price; null when one already starts then for this model and tier (with `skipExisting`). */
  async insert(manager: EntityManager, row: PriceRowInput, skipExisting = false): Promise<number | null> {
    const rows = (await manager.query(
      `INSERT INTO prices (model, service_tier, effective_from, ${PRICE_COMPONENT_COLUMNS}, source)
       VALUES ($1, $2, $3, ${COMPONENT_PARAMS}, ${SOURCE_PARAM})${skipExisting ? ' ON CONFLICT DO NOTHING' : ''} RETURNING id`,
      [row.model, row.serviceTier, row.effectiveFrom, ...row.components, row.source],
    )) as Array<{ id: number }>;
    return rows[0]?.id ?? null;
  }

  byId(manager: EntityManager, id: number): Promise<Price> {
    return manager.getRepository(Price).findOneByOrFail({ id });
  }

  /** Ledger writers wait (events queue in memory) so no cost rollup row changes under a rebuild. */
  async lockForCorrection(manager: EntityManager): Promise<void> {
    await manager.query(`LOCK TABLE prices, ${COST_ROLLUPS.map((r) => r.table).join(', ')} IN SHARE ROW EXCLUSIVE MODE`);
  }

  /** The live rows of a model and tier, oldest start first. */
  liveFor(manager: EntityManager, model: string, tier: string): Promise<Price[]> {
    return manager
      .getRepository(Price)
      .createQueryBuilder('p')
      .where('p.model = :model AND p.service_tier = :tier AND p.retired_at IS NULL', { model, tier })
      .orderBy('p.effective_from', 'ASC')
      .getMany();
  }

  live(manager: EntityManager): Promise<Price[]> {
    return manager.getRepository(Price).createQueryBuilder('p').where('p.retired_at IS NULL').getMany();
  }

  /** Every id, live or retired, of a model and tier. */
  async idsFor(manager: EntityManager, model: string, tier: string): Promise<number[]> {
    return ((await manager.query(`SELECT id FROM prices WHERE model = $1 AND service_tier = $2`, [model, tier])) as Array<{ id: number }>).map((r) => r.id);
  }

  async retire(manager: EntityManager, ids: number[], by: string): Promise<void> {
    await manager.query(`UPDATE prices SET retired_at = now(), retired_by = $2 WHERE id = ANY($1::int[])`, [ids, by]);
  }

  /**
   * The next `limit` ledger rows of [from, to) for the model or its dated snapshots, after the
   * keyset `after` (created_at text, id): a cursor by key, so memory stays flat.
   */
  recostCandidates(manager: EntityManager, model: string, from: Date, to: Date | null, after: [string, string] | null, limit: number): Promise<RecostCandidate[]> {
    return manager.query(
      `SELECT created_at::text AS at, created_at AS created, id, model, service_tier, ${STORED_USAGE_COLUMNS}, cost_nanos, price_id
       FROM usage_events
       WHERE created_at >= $1 AND ($2::timestamptz IS NULL OR created_at < $2)
         AND (model = $3 OR left(model, length($3) + 1) = $3 || '-')
         AND ($4::timestamptz IS NULL OR (created_at, id) > ($4::timestamptz, $5::uuid))
       ORDER BY created_at, id LIMIT ${Number(limit)}`,
      [from.toISOString(), to?.toISOString() ?? null, model, after?.[0] ?? null, after?.[1] ?? null],
    ) as Promise<RecostCandidate[]>;
  }

  async setCosts(manager: EntityManager, rows: readonly RecostedRow[]): Promise<void> {
    await manager.query(
      `UPDATE usage_events e SET cost_nanos = u.cost, price_id = u.price
       FROM unnest($1::timestamptz[], $2::uuid[], $3::bigint[], $4::int[]) AS u(created_at, id, cost, price)
       WHERE e.created_at = u.created_at AND e.id = u.id`,
      [rows.map((c) => c.at), rows.map((c) => c.id), rows.map((c) => c.cost), rows.map((c) => c.price)],
    );
  }

  /**
   * Rebuilds every rollup that carries cost (the registry's COST_ROLLUPS) for these models over the
   * whole UTC hours or days from `first` to `last`, from the ledger.
   */
  async rebuildCostRollups(manager: EntityManager, models: string[], first: Date, last: Date): Promise<void> {
    const floor = (d: Date, unit: number) => new Date(Math.floor(d.getTime() / unit) * unit);
    for (const rollup of COST_ROLLUPS) {
      const time = rollup.cost!.time;
      const unit = UNIT_MS[time];
      const params = [floor(first, unit).toISOString(), new Date(floor(last, unit).getTime() + unit).toISOString(), models];
      await manager.query(`DELETE FROM ${rollup.table} WHERE ${time} >= $1 AND ${time} < $2 AND model = ANY($3::text[])`, params);
      await manager.query(rollupFromLedgerSql([rollup], 'created_at >= $1 AND created_at < $2 AND model = ANY($3::text[])'), params);
    }
  }
}
