import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, Repository } from 'typeorm';
import { costNanos, MeteredUsage, modelFamily } from './cost.js';
import { Price, ServiceTier } from './price.entity.js';
import priceList from './price-list.json' with { type: 'json' };

interface PriceListFile {
  source: string;
  effective_from: string;
  prices: Array<{
    model: string;
    service_tier?: ServiceTier;
    input?: string;
    cached_input?: string;
    output?: string;
    audio_input?: string;
    per_audio_minute?: string;
  }>;
}

export interface PricedUsage {
  costNanos: bigint | null;
  priceId: number | null;
}

const REFRESH_MS = 60_000;

/** Prices live in Postgres (admins edit them); this keeps an in-memory copy for the hot path. */
@Injectable()
export class PricingService implements OnModuleDestroy {
  private readonly logger = new Logger(PricingService.name);
  private book = new PriceBook([]);
  private timer?: NodeJS.Timeout;

  constructor(@InjectRepository(Price) private readonly prices: Repository<Price>) {}

  /** Loads the shipped price list; rows already present (possibly edited by an admin) are kept. */
  async syncPriceList(): Promise<number> {
    const file: PriceListFile = priceList as PriceListFile;
    const rows = file.prices.map((p) => ({
      model: p.model,
      serviceTier: p.service_tier ?? 'default',
      effectiveFrom: new Date(file.effective_from),
      inputPerMtok: p.input ?? null,
      cachedInputPerMtok: p.cached_input ?? null,
      outputPerMtok: p.output ?? null,
      audioInputPerMtok: p.audio_input ?? null,
      perAudioMinute: p.per_audio_minute ?? null,
      source: file.source,
    }));
    const result = await this.prices
      .createQueryBuilder()
      .insert()
      .values(rows)
      .orIgnore()
      .execute();
    await this.reload();
    return result.identifiers.filter(Boolean).length;
  }

  async reload(): Promise<void> {
    this.book = new PriceBook(await this.prices.find({ where: { retiredAt: IsNull() } }));
  }

  /** Keeps the in-memory copy fresh so edits made on another replica apply within a minute. */
  startRefreshing(): void {
    this.timer ??= setInterval(() => this.reload().catch((e: Error) => this.logger.warn(`price reload failed: ${e.message}`)), REFRESH_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  /** The price in effect at `at` for the model (or its family) and tier; default tier as fallback. */
  priceFor(model: string, tier: string | undefined, at: Date): Price | undefined {
    return this.book.priceFor(model, tier, at);
  }

  price(model: string | undefined, tier: string | undefined, at: Date, usage: MeteredUsage): PricedUsage {
    return this.book.price(model, tier, at, usage);
  }
}

/** Current (not retired) prices, looked up the way the gateway prices a call; re-pricing uses the same rules. */
export class PriceBook {
  /** `${model}|${tier}` → prices, newest effective date first. */
  private readonly byModel = new Map<string, Price[]>();

  constructor(prices: readonly Price[]) {
    for (const price of [...prices].sort((a, b) => b.effectiveFrom.getTime() - a.effectiveFrom.getTime())) {
      const key = `${price.model}|${price.serviceTier}`;
      this.byModel.set(key, [...(this.byModel.get(key) ?? []), price]);
    }
  }

  /**
   * The price in effect at `at` for the model (or its family) in the tier OpenAI served. A tier
   * without a listed price is unpriced, not charged at the default rate: flex is about half, priority
   * about 1.7 times, so either fallback would be silently wrong.
   */
  priceFor(model: string, tier: string | undefined, at: Date): Price | undefined {
    const t = tier && tier !== 'auto' ? tier : 'default';
    const family = modelFamily(model);
    return this.inEffect(`${model}|${t}`, at) ?? (family === model ? undefined : this.inEffect(`${family}|${t}`, at));
  }

  private inEffect(key: string, at: Date): Price | undefined {
    const time = at.getTime();
    return this.byModel.get(key)?.find((p) => p.effectiveFrom.getTime() <= time);
  }

  price(model: string | undefined, tier: string | undefined, at: Date, usage: MeteredUsage): PricedUsage {
    const price = model ? this.priceFor(model, tier, at) : undefined;
    if (!price) return { costNanos: null, priceId: null };
    return { costNanos: costNanos(price, usage), priceId: price.id };
  }
}
