import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { costNanos, fineTunedKeys, MeteredUsage, type ToolCallKind } from './cost.js';
import { modelFamily } from './model-family.js';
import { Price, PRICE_COMPONENTS, ServiceTier } from './price.entity.js';
import { PricesRepository } from './prices.repository.js';
import priceList from './price-list.json' with { type: 'json' };

/** One row of price-list.json: USD decimals as published, with where they come from. */
export interface PriceListRow {
  model: string;
  service_tier?: ServiceTier;
  effective_from: string;
  source: string;
  read_on: string;
  note?: string;
  derived?: string;
  input?: string;
  cached_input?: string;
  output?: string;
  audio_input?: string;
  cached_audio_input?: string;
  audio_output?: string;
  image_input?: string;
  cached_image_input?: string;
  image_output?: string;
  per_audio_minute?: string;
  per_million_characters?: string;
  per_image?: Record<string, string>;
  per_thousand_calls?: Partial<Record<ToolCallKind, string>>;
  long_context?: { above_input_tokens: number; input: string | null; cached_input: string | null; output: string | null };
}

interface PriceListFile {
  format: number;
  prices: PriceListRow[];
}

/** The shipped price list (tests read their prices from it rather than restating numbers). */
export const shippedPriceList = (): readonly PriceListRow[] => (priceList as PriceListFile).prices;

/** What the prices table's `source` says for a shipped row: URL, date read, how derived, disagreements. */
export const shippedSource = (p: PriceListRow) =>
  [`${p.source} (read ${p.read_on})`, p.derived && `derived: ${p.derived}`, p.note && `note: ${p.note}`].filter(Boolean).join('; ');

/** A shipped row as the database stores it (and as costNanos reads it). */
export function priceFromList(p: PriceListRow): Omit<Price, 'id' | 'createdAt' | 'retiredAt' | 'retiredBy'> {
  return {
    model: p.model,
    serviceTier: p.service_tier ?? 'default',
    effectiveFrom: new Date(p.effective_from),
    inputPerMtok: p.input ?? null,
    cachedInputPerMtok: p.cached_input ?? null,
    outputPerMtok: p.output ?? null,
    audioInputPerMtok: p.audio_input ?? null,
    perAudioMinute: p.per_audio_minute ?? null,
    cachedAudioInputPerMtok: p.cached_audio_input ?? null,
    audioOutputPerMtok: p.audio_output ?? null,
    imageInputPerMtok: p.image_input ?? null,
    cachedImageInputPerMtok: p.cached_image_input ?? null,
    imageOutputPerMtok: p.image_output ?? null,
    perMillionCharacters: p.per_million_characters ?? null,
    perImage: p.per_image ?? null,
    perThousandCalls: p.per_thousand_calls ?? null,
    longContext: p.long_context
      ? { aboveInputTokens: p.long_context.above_input_tokens, inputPerMtok: p.long_context.input, cachedInputPerMtok: p.long_context.cached_input, outputPerMtok: p.long_context.output }
      : null,
    source: shippedSource(p),
  };
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

  constructor(private readonly prices: PricesRepository) {}

  /**
   * Loads the shipped price list. A row goes in only when no row, current or retired, has its model,
   * tier and start: so loading twice changes nothing, a price an admin added or corrected is never
   * overwritten, and a shipped row an admin's correction retired does not come back. New dated rows
   * in a newer list (a price change) are added and apply from their date.
   */
  async syncPriceList(): Promise<number> {
    const rows = shippedPriceList().map(priceFromList);
    const inserted = await this.prices.insertShipped(rows);
    await this.reload();
    return inserted;
  }

  async reload(): Promise<void> {
    this.book = new PriceBook(await this.prices.current());
  }

  /** Keeps the in-memory copy fresh so edits made on another replica apply within a minute. */
  startRefreshing(): void {
    this.timer ??= setInterval(() => this.reload().catch((e: Error) => this.logger.warn(`price reload failed: ${e.message}`)), REFRESH_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  /** The price in effect at `at` for the model (or its family) and tier; see PriceBook.priceFor. */
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
   * The price in effect at `at` for the model in the tier OpenAI served (the response's
   * `service_tier`; `auto` or none is the default tier). Lookup order: the exact model, then its
   * family (a dated snapshot such as `gpt-5-2025-08-07` prices as `gpt-5` unless it has its own
   * row); a fine-tuned model `ft:<base>:…` prices as `ft:<base>`, then `ft:<family of base>`, and
   * never as its base model. A tier without a listed price is unpriced, not charged at the default
   * rate: flex is half, priority about twice, so either fallback would be silently wrong.
   */
  priceFor(model: string, tier: string | undefined, at: Date): Price | undefined {
    const t = tier && tier !== 'auto' ? tier : 'default';
    const fineTuned = fineTunedKeys(model);
    if (fineTuned) return this.inEffect(`${fineTuned[0]}|${t}`, at) ?? (fineTuned[1] === fineTuned[0] ? undefined : this.inEffect(`${fineTuned[1]}|${t}`, at));
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
