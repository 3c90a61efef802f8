// Admin price management: list, add an effective-dated price, and correct a past period, which
// re-costs the events of that period and their rollups in one transaction, with an audit record.
import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import type { Principal } from '../auth/access.guard.js';
import { AuditService } from '../auth/audit.service.js';
import { conflict } from '../http/openai-error.js';
import { TAG_PAIRS, USAGE_DAILY_ROLLUP, USAGE_HOURLY_ROLLUP, USAGE_TAG_DAILY_ROLLUP, USAGE_TAG_HOURLY_ROLLUP } from '../ledger/ledger.sql.js';
import { hasStoredUsage, STORED_USAGE_COLUMNS, storedUsage, type StoredUsageRow } from '../ledger/stored-usage.js';
import { costNanos } from './cost.js';
import { Price, PRICE_COMPONENT_COLUMNS, PRICE_COMPONENTS } from './price.entity.js';
import type { AddPriceInput, CorrectPriceInput, UnitPricesInput } from './prices.dto.js';
import { PriceBook, PricingService } from './pricing.service.js';

const BATCH = 5_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export interface PriceView {
  id: number;
  model: string;
  serviceTier: string;
  effectiveFrom: string;
  inputPerMtok: string | null;
  cachedInputPerMtok: string | null;
  outputPerMtok: string | null;
  audioInputPerMtok: string | null;
  perAudioMinute: string | null;
  cachedAudioInputPerMtok: string | null;
  audioOutputPerMtok: string | null;
  imageInputPerMtok: string | null;
  cachedImageInputPerMtok: string | null;
  imageOutputPerMtok: string | null;
  perMillionCharacters: string | null;
  perImage: Price['perImage'];
  perThousandCalls: Price['perThousandCalls'];
  longContext: Price['longContext'];
  source: string;
  createdAt: string;
  retiredAt: string | null;
  retiredBy: string | null;
}

export interface CorrectionResult {
  priceId: number;
  restoredPriceId: number | null;
  retiredPriceIds: number[];
  eventsRecosted: number;
  costBeforeNanos: string;
  costAfterNanos: string;
}

const view = (p: Price): PriceView => ({
  id: p.id,
  model: p.model,
  serviceTier: p.serviceTier,
  effectiveFrom: p.effectiveFrom.toISOString(),
  ...unitPrices(p),
  source: p.source,
  createdAt: p.createdAt.toISOString(),
  retiredAt: p.retiredAt?.toISOString() ?? null,
  retiredBy: p.retiredBy,
});

/** `$4, $5, ...` for the components after the model, tier and start. */
const COMPONENT_PARAMS = PRICE_COMPONENTS.map((_, i) => `$${i + 4}`).join(', ');
const SOURCE_PARAM = `$${PRICE_COMPONENTS.length + 4}`;

const unitPrices = (p: UnitPricesInput | Price): UnitPricesInput => ({
  inputPerMtok: p.inputPerMtok,
  cachedInputPerMtok: p.cachedInputPerMtok,
  outputPerMtok: p.outputPerMtok,
  audioInputPerMtok: p.audioInputPerMtok,
  perAudioMinute: p.perAudioMinute,
  cachedAudioInputPerMtok: p.cachedAudioInputPerMtok ?? null,
  audioOutputPerMtok: p.audioOutputPerMtok ?? null,
  imageInputPerMtok: p.imageInputPerMtok ?? null,
  cachedImageInputPerMtok: p.cachedImageInputPerMtok ?? null,
  imageOutputPerMtok: p.imageOutputPerMtok ?? null,
  perMillionCharacters: p.perMillionCharacters ?? null,
  perImage: p.perImage ?? null,
  perThousandCalls: p.perThousandCalls ?? null,
  longContext: p.longContext ?? null,
});

const NO_PRICES: UnitPricesInput = {
  inputPerMtok: null, cachedInputPerMtok: null, outputPerMtok: null, audioInputPerMtok: null, perAudioMinute: null,
  cachedAudioInputPerMtok: null, audioOutputPerMtok: null, imageInputPerMtok: null, cachedImageInputPerMtok: null,
  imageOutputPerMtok: null, perMillionCharacters: null, perImage: null, perThousandCalls: null, longContext: null,
};

const actorName = (p: Principal) => (p as Principal & { name?: string }).email ?? (p as Principal & { name?: string }).name ?? p.id;

interface CandidateRow extends StoredUsageRow {
  /** Full precision text (keyset and update key); `created` is the same instant as a Date. */
  at: string;
  created: Date;
  id: string;
  model: string;
  service_tier: string | null;
  cost_nanos: string | null;
  price_id: number | null;
}

@Injectable()
export class PriceAdminService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly pricing: PricingService,
    private readonly audit: AuditService,
  ) {}

  async list(model: string | undefined, includeRetired: boolean): Promise<PriceView[]> {
    const qb = this.dataSource.getRepository(Price).createQueryBuilder('p').orderBy('p.model').addOrderBy('p.service_tier').addOrderBy('p.effective_from', 'DESC');
    if (model) qb.andWhere('p.model = :model', { model });
    if (!includeRetired) qb.andWhere('p.retired_at IS NULL');
    return (await qb.getMany()).map(view);
  }

  /** A new effective-dated price. Events already recorded keep their price (see correct()). */
  async add(input: AddPriceInput, actor: Principal, ip?: string): Promise<PriceView> {
    const saved = await this.dataSource.transaction(async (manager) => {
      const rows = (await manager.query(
        `INSERT INTO prices (model, service_tier, effective_from, ${PRICE_COMPONENT_COLUMNS}, source)
         VALUES ($1, $2, $3, ${COMPONENT_PARAMS}, ${SOURCE_PARAM}) ON CONFLICT DO NOTHING RETURNING id`,
        [input.model, input.serviceTier, input.effectiveFrom, ...this.values(input.prices), input.source],
      )) as Array<{ id: number }>;
      if (!rows.length) {
        throw conflict(`A price for ${input.model} (${input.serviceTier}) already starts at ${input.effectiveFrom}; correct it instead.`, 'effectiveFrom');
      }
      await this.audit.record(
        actor,
        { action: 'price.add', targetType: 'price', targetId: String(rows[0].id), details: { model: input.model, serviceTier: input.serviceTier, effectiveFrom: input.effectiveFrom, prices: input.prices } },
        ip,
        manager,
      );
      return manager.getRepository(Price).findOneByOrFail({ id: rows[0].id });
    });
    await this.pricing.reload();
    return view(saved);
  }

  /**
   * Replaces the price of `model`/`serviceTier` during [from, to): the rows starting in that period
   * are retired, the corrected price starts at `from`, and the price that was in effect before `to`
   * starts again at `to`. Every event of the period that this price applies to (or that was charged
   * at a replaced row) is re-costed with the same rules the gateway uses, and the rollups of the
   * hours and days touched are rebuilt from the ledger, all in one transaction.
   */
  async correct(input: CorrectPriceInput, actor: Principal, ip?: string): Promise<CorrectionResult> {
    const from = new Date(input.from);
    const to = input.to ? new Date(input.to) : null;
    const result = await this.dataSource.transaction(async (manager) => {
      // Writers wait (events queue in memory) so no rollup row changes under the rebuild.
      await manager.query(`LOCK TABLE prices, usage_hourly, usage_daily, usage_tag_hourly, usage_tag_daily IN SHARE ROW EXCLUSIVE MODE`);
      const repo = manager.getRepository(Price);
      const current = await repo
        .createQueryBuilder('p')
        .where('p.model = :model AND p.service_tier = :tier AND p.retired_at IS NULL', { model: input.model, tier: input.serviceTier })
        .orderBy('p.effective_from', 'ASC')
        .getMany();
      const inPeriod = current.filter((p) => p.effectiveFrom >= from && (!to || p.effectiveFrom < to));
      const beforeTo = to ? current.filter((p) => p.effectiveFrom < to).at(-1) : undefined;
      const startsAtTo = to ? current.find((p) => p.effectiveFrom.getTime() === to.getTime()) : undefined;
      const knownIds = new Set(
        ((await manager.query(`SELECT id FROM prices WHERE model = $1 AND service_tier = $2`, [input.model, input.serviceTier])) as Array<{ id: number }>).map((r) => r.id),
      );

      if (inPeriod.length) {
        await manager.query(`UPDATE prices SET retired_at = now(), retired_by = $2 WHERE id = ANY($1::int[])`, [inPeriod.map((p) => p.id), actorName(actor)]);
      }
      const insert = async (at: Date, prices: UnitPricesInput, source: string) =>
        ((await manager.query(
          `INSERT INTO prices (model, service_tier, effective_from, ${PRICE_COMPONENT_COLUMNS}, source)
           VALUES ($1, $2, $3, ${COMPONENT_PARAMS}, ${SOURCE_PARAM}) RETURNING id`,
          [input.model, input.serviceTier, at.toISOString(), ...this.values(prices), source],
        )) as Array<{ id: number }>)[0].id;
      const priceId = await insert(from, input.prices, `correction by ${actorName(actor)}: ${input.reason}`);
      let restoredPriceId: number | null = null;
      if (to && !startsAtTo) {
        // Without an earlier price, an all-empty row keeps the model unpriced after the period.
        const restore = beforeTo ? unitPrices(beforeTo) : NO_PRICES;
        restoredPriceId = await insert(to, restore, beforeTo ? `restored after correction of price ${beforeTo.id}` : 'unpriced after correction');
      }
      knownIds.add(priceId);
      if (restoredPriceId !== null) knownIds.add(restoredPriceId);

      const book = new PriceBook(await repo.createQueryBuilder('p').where('p.retired_at IS NULL').getMany());
      const recost = await this.recost(manager, input, from, to, book, knownIds);
      await this.audit.record(
        actor,
        {
          action: 'price.correct',
          targetType: 'price',
          targetId: String(priceId),
          details: {
            model: input.model,
            serviceTier: input.serviceTier,
            from: from.toISOString(),
            to: to?.toISOString() ?? null,
            reason: input.reason,
            newPrices: input.prices,
            previousPrices: current.filter((p) => inPeriod.includes(p) || p === beforeTo).map((p) => ({ id: p.id, effectiveFrom: p.effectiveFrom.toISOString(), ...unitPrices(p) })),
            retiredPriceIds: inPeriod.map((p) => p.id),
            restoredPriceId,
            eventsRecosted: recost.eventsRecosted,
            costBeforeNanos: recost.costBeforeNanos,
            costAfterNanos: recost.costAfterNanos,
          },
        },
        ip,
        manager,
      );
      return { priceId, restoredPriceId, retiredPriceIds: inPeriod.map((p) => p.id), ...recost };
    });
    await this.pricing.reload();
    return result;
  }

  /** The components as query parameters; the keyed ones go to jsonb as JSON text. */
  private values(p: UnitPricesInput): Array<string | null> {
    return PRICE_COMPONENTS.map(([key]) => {
      const value = p[key];
      return value === null || typeof value === 'string' ? value : JSON.stringify(value);
    });
  }

  /** Re-costs the period's events batch by batch (a cursor by key: memory stays flat), then rebuilds their rollups. */
  private async recost(manager: EntityManager, input: CorrectPriceInput, from: Date, to: Date | null, book: PriceBook, knownIds: Set<number>) {
    let after: [string, string] | null = null;
    let eventsRecosted = 0;
    let before = 0n;
    let afterCost = 0n;
    let first: Date | null = null;
    let last: Date | null = null;
    const models = new Set<string>();
    for (;;) {
      const rows = (await manager.query(
        `SELECT created_at::text AS at, created_at AS created, id, model, service_tier, ${STORED_USAGE_COLUMNS}, cost_nanos, price_id
         FROM usage_events
         WHERE created_at >= $1 AND ($2::timestamptz IS NULL OR created_at < $2)
           AND (model = $3 OR left(model, length($3) + 1) = $3 || '-')
           AND ($4::timestamptz IS NULL OR (created_at, id) > ($4::timestamptz, $5::uuid))
         ORDER BY created_at, id LIMIT ${BATCH}`,
        [from.toISOString(), to?.toISOString() ?? null, input.model, after?.[0] ?? null, after?.[1] ?? null],
      )) as CandidateRow[];
      if (!rows.length) break;
      after = [rows.at(-1)!.at, rows.at(-1)!.id];
      const changed: Array<{ at: string; id: string; cost: string | null; price: number | null }> = [];
      for (const row of rows) {
        const usage = storedUsage(row);
        // The gateway records calls without usage at cost 0 and no price: nothing to re-cost.
        if (!hasStoredUsage(usage)) continue;
        const at = row.created;
        const price = book.priceFor(row.model, row.service_tier ?? undefined, at);
        const ours = (price && price.model === input.model && price.serviceTier === input.serviceTier) || (row.price_id !== null && knownIds.has(row.price_id));
        if (!ours) continue;
        const cost = price ? costNanos(price, usage) : null;
        const priceId = price?.id ?? null;
        if (priceId === row.price_id && (cost?.toString() ?? null) === row.cost_nanos) continue;
        changed.push({ at: row.at, id: row.id, cost: cost?.toString() ?? null, price: priceId });
        before += BigInt(row.cost_nanos ?? 0);
        afterCost += cost ?? 0n;
        models.add(row.model);
        first ??= at;
        last = at;
      }
      if (changed.length) {
        await manager.query(
          `UPDATE usage_events e SET cost_nanos = u.cost, price_id = u.price
           FROM unnest($1::timestamptz[], $2::uuid[], $3::bigint[], $4::int[]) AS u(created_at, id, cost, price)
           WHERE e.created_at = u.created_at AND e.id = u.id`,
          [changed.map((c) => c.at), changed.map((c) => c.id), changed.map((c) => c.cost), changed.map((c) => c.price)],
        );
        eventsRecosted += changed.length;
      }
      if (rows.length < BATCH) break;
    }
    if (first && last) await this.rebuildRollups(manager, [...models], first, last);
    return { eventsRecosted, costBeforeNanos: before.toString(), costAfterNanos: afterCost.toString() };
  }

  /** Rebuilds the cost rollups of these models over the whole hours and UTC days touched, from the ledger. */
  private async rebuildRollups(manager: EntityManager, models: string[], first: Date, last: Date): Promise<void> {
    const floor = (d: Date, unit: number) => new Date(Math.floor(d.getTime() / unit) * unit);
    const spans = [
      { table: 'usage_hourly', time: 'hour', sql: USAGE_HOURLY_ROLLUP, lo: floor(first, HOUR_MS), hi: new Date(floor(last, HOUR_MS).getTime() + HOUR_MS) },
      { table: 'usage_daily', time: 'day', sql: USAGE_DAILY_ROLLUP, lo: floor(first, DAY_MS), hi: new Date(floor(last, DAY_MS).getTime() + DAY_MS) },
      // Spend by tag value carries cost too (the end user and tags come from the same events).
      { table: 'usage_tag_hourly', time: 'hour', sql: `${TAG_PAIRS}, ${USAGE_TAG_HOURLY_ROLLUP}`, lo: floor(first, HOUR_MS), hi: new Date(floor(last, HOUR_MS).getTime() + HOUR_MS) },
      { table: 'usage_tag_daily', time: 'day', sql: `${TAG_PAIRS}, ${USAGE_TAG_DAILY_ROLLUP}`, lo: floor(first, DAY_MS), hi: new Date(floor(last, DAY_MS).getTime() + DAY_MS) },
    ];
    for (const span of spans) {
      const params = [span.lo.toISOString(), span.hi.toISOString(), models];
      await manager.query(`DELETE FROM ${span.table} WHERE ${span.time} >= $1 AND ${span.time} < $2 AND model = ANY($3::text[])`, params);
      await manager.query(
        `WITH ins AS (SELECT * FROM usage_events WHERE created_at >= $1 AND created_at < $2 AND model = ANY($3::text[])), ${span.sql} SELECT 1`,
        params,
      );
    }
  }
}
