// Admin price management: list, add an effective-dated price, and correct a past period, which
// re-costs the events of that period and their rollups in one transaction, with an audit record.
import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { Principal } from '../auth/principal.js';
import { AuditService } from '../auth/audit.service.js';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { badRequest, conflict } from '../http/openai-error.js';
import { retentionHorizon } from '../ledger/retention.js';
import { hasStoredUsage, storedUsage } from './stored-usage.js';
import { costNanos } from './cost.js';
import { Price, PRICE_COMPONENTS } from './price.entity.js';
import { PricesRepository, type RecostedRow } from './prices.repository.js';
import type { AddPriceInput, CorrectPriceInput, UnitPricesInput } from './prices.dto.js';
import { PriceBook, PricingService } from './pricing.service.js';
import type { CorrectionResult, PriceView } from '../contract/prices.js';

const BATCH = 5_000;

// What the routes answer is the API contract's (server/contract/prices.ts).
export type { CorrectionResult, PriceView } from '../contract/prices.js';

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

@Injectable()
export class PriceAdminService {
  constructor(
    private readonly prices: PricesRepository,
    private readonly pricing: PricingService,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async list(model: string | undefined, includeRetired: boolean): Promise<PriceView[]> {
    return (await this.prices.list(model, includeRetired)).map(view);
  }

  /** A new effective-dated price. Events already recorded keep their price (see correct()). */
  async add(input: AddPriceInput, actor: Principal, ip?: string): Promise<PriceView> {
    const saved = await this.prices.transaction(async (manager) => {
      const id = await this.prices.insert(
        manager,
        { model: input.model, serviceTier: input.serviceTier, effectiveFrom: input.effectiveFrom, components: this.values(input.prices), source: input.source },
        true,
      );
      if (id === null) {
        throw conflict(`A price for ${input.model} (${input.serviceTier}) already starts at ${input.effectiveFrom}; correct it instead.`, 'effectiveFrom');
      }
      await this.audit.record(
        actor,
        { action: 'price.add', targetType: 'price', targetId: String(id), details: { model: input.model, serviceTier: input.serviceTier, effectiveFrom: input.effectiveFrom, prices: input.prices } },
        ip,
        manager,
      );
      return this.prices.byId(manager, id);
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
    // The rebuild recomputes rollups from raw events: where those were removed it would erase them.
    const horizon = retentionHorizon(this.config.LEDGER_RETENTION_MONTHS);
    if (horizon && from < horizon) {
      throw badRequest(`Raw usage events before ${horizon.toISOString().slice(0, 10)} were removed by the ledger's retention (LEDGER_RETENTION_MONTHS=${this.config.LEDGER_RETENTION_MONTHS}), so that period cannot be re-costed. Correct from ${horizon.toISOString().slice(0, 10)} on.`, 'from', 'before_retention_horizon');
    }
    const result = await this.prices.transaction(async (manager) => {
      // Writers wait (events queue in memory) so no rollup row changes under the rebuild.
      await this.prices.lockForCorrection(manager);
      const current = await this.prices.liveFor(manager, input.model, input.serviceTier);
      const inPeriod = current.filter((p) => p.effectiveFrom >= from && (!to || p.effectiveFrom < to));
      const beforeTo = to ? current.filter((p) => p.effectiveFrom < to).at(-1) : undefined;
      const startsAtTo = to ? current.find((p) => p.effectiveFrom.getTime() === to.getTime()) : undefined;
      const knownIds = new Set(await this.prices.idsFor(manager, input.model, input.serviceTier));

      if (inPeriod.length) {
        await this.prices.retire(manager, inPeriod.map((p) => p.id), actorName(actor));
      }
      const insert = async (at: Date, prices: UnitPricesInput, source: string) =>
        (await this.prices.insert(manager, { model: input.model, serviceTier: input.serviceTier, effectiveFrom: at.toISOString(), components: this.values(prices), source }))!;
      const priceId = await insert(from, input.prices, `correction by ${actorName(actor)}: ${input.reason}`);
      let restoredPriceId: number | null = null;
      if (to && !startsAtTo) {
        // Without an earlier price, an all-empty row keeps the model unpriced after the period.
        const restore = beforeTo ? unitPrices(beforeTo) : NO_PRICES;
        restoredPriceId = await insert(to, restore, beforeTo ? `restored after correction of price ${beforeTo.id}` : 'unpriced after correction');
      }
      knownIds.add(priceId);
      if (restoredPriceId !== null) knownIds.add(restoredPriceId);

      const book = new PriceBook(await this.prices.live(manager));
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
      const rows = await this.prices.recostCandidates(manager, input.model, from, to, after, BATCH);
      if (!rows.length) break;
      after = [rows.at(-1)!.at, rows.at(-1)!.id];
      const changed: RecostedRow[] = [];
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
        await this.prices.setCosts(manager, changed);
        eventsRecosted += changed.length;
      }
      if (rows.length < BATCH) break;
    }
    if (first && last) await this.prices.rebuildCostRollups(manager, [...models], first, last);
    return { eventsRecosted, costBeforeNanos: before.toString(), costAfterNanos: afterCost.toString() };
  }
}
