import { describe, expect, it } from 'vitest';
import { costNanos, decimalToScaled, fineTunedKeys, type MeteredUsage, type UnitPrices } from '../../server/pricing/cost.js';
import { modelFamily } from '../../server/pricing/model-family.js';
import type { Price } from '../../server/pricing/price.entity.js';
import { PriceBook, priceFromList, shippedPriceList, type PriceListRow } from '../../server/pricing/pricing.service.js';

const prices = (p: Partial<UnitPrices>): UnitPrices => ({
  inputPerMtok: null,
  cachedInputPerMtok: null,
  outputPerMtok: null,
  audioInputPerMtok: null,
  perAudioMinute: null,
  ...p,
});
const usage = (u: Partial<MeteredUsage>): MeteredUsage => ({ inputTokens: 0, cachedTokens: 0, audioInputTokens: 0, outputTokens: 0, reasoningTokens: 0, ...u });

// Prices come from the shipped list, so a test states a rule, never a number OpenAI may change.
const list = shippedPriceList();
const rows = (model: string, tier = 'default') => list.filter((p) => p.model === model && (p.service_tier ?? 'default') === tier);
const row = (model: string, tier = 'default'): PriceListRow => {
  const found = rows(model, tier);
  if (!found.length) throw new Error(`${model} (${tier}) is not in the price list`);
  return found.reduce((a, b) => (a.effective_from > b.effective_from ? a : b));
};
const listed = (model: string, tier = 'default') => priceFromList(row(model, tier));
/** Pico-dollars per unit for a USD-per-1M rate from the list; units × this, summed, then rounded once. */
const pico = (usdPerMillion: string | null | undefined) => {
  if (usdPerMillion === null || usdPerMillion === undefined) throw new Error('the list lacks a rate this test needs');
  return decimalToScaled(usdPerMillion, 6);
};
const nanos = (picoTotal: bigint) => (picoTotal + 500n) / 1000n;
const book = new PriceBook(list.map((p, i) => ({ ...priceFromList(p), id: i + 1, createdAt: new Date(0), retiredAt: null, retiredBy: null }) as Price));
const at = (iso: string) => new Date(iso);
const NOW = at('2026-12-01T12:00:00Z');

describe('cost', () => {
  it('follows (input - cached) * in + cached * cached_in + output * out exactly', () => {
    const mini = listed('gpt-4o-mini');
    expect(costNanos(mini, usage({ inputTokens: 3000, cachedTokens: 1024, outputTokens: 500, reasoningTokens: 100 }))).toBe(
      nanos(BigInt(3000 - 1024) * pico(mini.inputPerMtok) + 1024n * pico(mini.cachedInputPerMtok) + 500n * pico(mini.outputPerMtok)),
    );
  });

  it('charges cached tokens at the input price when a model has no cache discount', () => {
    expect(costNanos(prices({ inputPerMtok: '0.50', outputPerMtok: '1.50' }), usage({ inputTokens: 10, cachedTokens: 4 }))).toBe(5000n);
  });

  it('keeps sub-nano prices exact until one final half-up rounding', () => {
    // $0.0125/1M = 12.5 pico a token: 3 tokens = 37.5 nanos → 38, 2 tokens = 25.
    expect(costNanos(prices({ inputPerMtok: '0.0125' }), usage({ inputTokens: 3 }))).toBe(38n);
    expect(costNanos(prices({ inputPerMtok: '0.0125' }), usage({ inputTokens: 2 }))).toBe(25n);
  });

  it('bills whisper per started second at the per-minute price', () => {
    const whisper = listed('whisper-1');
    const perMinutePico = decimalToScaled(whisper.perAudioMinute!, 12);
    expect(costNanos(whisper, usage({ audioSeconds: 60 }))).toBe(nanos(perMinutePico));
    expect(costNanos(whisper, usage({ audioSeconds: 3.2 }))).toBe(nanos((perMinutePico * 4n) / 60n));
    expect(costNanos(whisper, usage({ audioSeconds: 3 }))).toBe(nanos((perMinutePico * 3n) / 60n));
  });

  it('prices audio input tokens apart from text input tokens', () => {
    const transcribe = listed('gpt-4o-transcribe');
    expect(costNanos(transcribe, usage({ inputTokens: 120, audioInputTokens: 100, outputTokens: 30 }))).toBe(
      nanos(20n * pico(transcribe.inputPerMtok) + 100n * pico(transcribe.audioInputPerMtok) + 30n * pico(transcribe.outputPerMtok)),
    );
  });

  it('is unknown (null), never $0, when the price lacks a component the usage needs', () => {
    expect(costNanos(listed('text-embedding-3-small'), usage({ inputTokens: 10, outputTokens: 5 }))).toBeNull();
    expect(costNanos(listed('whisper-1'), usage({}))).toBeNull();
    // Text rates only: audio tokens on gpt-4o-audio-preview are not priced in our sources.
    expect(costNanos(listed('gpt-4o-audio-preview'), usage({ inputTokens: 100, audioInputTokens: 80, outputTokens: 10 }))).toBeNull();
  });

  it('parses only plain decimals', () => {
    expect(decimalToScaled('2.125', 6)).toBe(2_125_000n);
    expect(decimalToScaled('10', 6)).toBe(10_000_000n);
    expect(() => decimalToScaled('1e-3', 6)).toThrow();
    expect(() => decimalToScaled('-1', 6)).toThrow();
  });

  it('maps dated snapshots and aliases to their family', () => {
    expect(modelFamily('gpt-4o-2024-08-06')).toBe('gpt-4o');
    expect(modelFamily('gpt-4o-mini-2024-07-18')).toBe('gpt-4o-mini');
    expect(modelFamily('gpt-3.5-turbo-0125')).toBe('gpt-3.5-turbo');
    expect(modelFamily('omni-moderation-latest')).toBe('omni-moderation');
    expect(modelFamily('gpt-4.1-mini')).toBe('gpt-4.1-mini');
    expect(modelFamily('gpt-5-2025-08-07')).toBe('gpt-5');
    expect(modelFamily('gpt-5.1-2025-11-13')).toBe('gpt-5.1');
  });
});

describe('price components', () => {
  it('bills a long-context call at the long-context rates above the threshold, and not at it', () => {
    const gpt54 = listed('gpt-5.4');
    const long = gpt54.longContext!;
    const call = (inputTokens: number) => usage({ inputTokens, cachedTokens: 1000, outputTokens: 2000 });
    expect(costNanos(gpt54, call(long.aboveInputTokens))).toBe(
      nanos(BigInt(long.aboveInputTokens - 1000) * pico(gpt54.inputPerMtok) + 1000n * pico(gpt54.cachedInputPerMtok) + 2000n * pico(gpt54.outputPerMtok)),
    );
    expect(costNanos(gpt54, call(long.aboveInputTokens + 1))).toBe(
      nanos(BigInt(long.aboveInputTokens + 1 - 1000) * pico(long.inputPerMtok) + 1000n * pico(long.cachedInputPerMtok) + 2000n * pico(long.outputPerMtok)),
    );
    // A tier whose long-context rates are not published is unpriced above the threshold.
    const priority = listed('gpt-5.4', 'priority');
    expect(costNanos(priority, call(long.aboveInputTokens))).not.toBeNull();
    expect(costNanos(priority, call(long.aboveInputTokens + 1))).toBeNull();
  });

  it('bills per-character speech by the characters, and does not call an unmeasured one free', () => {
    const tts = listed('tts-1');
    const hd = listed('tts-1-hd');
    expect(costNanos(tts, usage({ characters: 1234 }))).toBe(nanos(1234n * pico(tts.perMillionCharacters)));
    expect(costNanos(hd, usage({ characters: 1234 }))).toBe(nanos(1234n * pico(hd.perMillionCharacters)));
    expect(costNanos(tts, usage({}))).toBeNull();
  });

  it('bills token-priced speech by text tokens in and audio tokens out, even without the output breakdown', () => {
    const tts = listed('gpt-4o-mini-tts');
    const expected = nanos(40n * pico(tts.inputPerMtok) + 900n * pico(tts.audioOutputPerMtok));
    expect(costNanos(tts, usage({ inputTokens: 40, outputTokens: 900, audioOutputTokens: 900 }))).toBe(expected);
    expect(costNanos(tts, usage({ inputTokens: 40, outputTokens: 900 }))).toBe(expected);
    // Characters are informational for it.
    expect(costNanos(tts, usage({ inputTokens: 40, outputTokens: 900, characters: 150 }))).toBe(expected);
  });

  it('bills per image by size and quality, and an unlisted size is unpriced', () => {
    const dalle3 = listed('dall-e-3');
    const dalle2 = listed('dall-e-2');
    const perImage = (p: UnitPrices, key: string) => decimalToScaled(p.perImage![key], 12);
    expect(costNanos(dalle3, usage({ images: [{ size: '1024x1792', quality: 'hd', count: 2 }, { size: '1024x1024', quality: 'standard', count: 1 }] }))).toBe(
      nanos(2n * perImage(dalle3, '1024x1792/hd') + perImage(dalle3, '1024x1024/standard')),
    );
    expect(costNanos(dalle2, usage({ images: [{ size: '512x512', count: 3 }] }))).toBe(nanos(3n * perImage(dalle2, '512x512')));
    expect(costNanos(dalle3, usage({ images: [{ size: '512x512', quality: 'standard', count: 1 }] }))).toBeNull();
    expect(costNanos(dalle3, usage({}))).toBeNull();
  });

  it('prices image tokens apart from text tokens for gpt-image models', () => {
    const image = listed('gpt-image-1');
    const u = usage({ inputTokens: 300, imageInputTokens: 200, cachedTokens: 50, cachedImageTokens: 40, outputTokens: 4160, imageOutputTokens: 4160 });
    const expected = nanos(
      90n * pico(image.inputPerMtok) + 10n * pico(image.cachedInputPerMtok) + 160n * pico(image.imageInputPerMtok) + 40n * pico(image.cachedImageInputPerMtok) + 4160n * pico(image.imageOutputPerMtok),
    );
    expect(costNanos(image, u)).toBe(expected);
    // Image is its only output: a usage block without output details prices the same.
    expect(costNanos(image, { ...u, imageOutputTokens: undefined })).toBe(expected);
  });

  it('prices realtime audio and image tokens, cached and not, and audio output', () => {
    const rt = listed('gpt-realtime');
    const u = usage({ inputTokens: 1000, audioInputTokens: 600, imageInputTokens: 100, cachedTokens: 500, cachedAudioTokens: 300, cachedImageTokens: 50, outputTokens: 800, audioOutputTokens: 700 });
    expect(costNanos(rt, u)).toBe(
      nanos(
        150n * pico(rt.inputPerMtok) + 150n * pico(rt.cachedInputPerMtok) + 300n * pico(rt.audioInputPerMtok) + 300n * pico(rt.cachedAudioInputPerMtok) +
          50n * pico(rt.imageInputPerMtok) + 50n * pico(rt.cachedImageInputPerMtok) + 100n * pico(rt.outputPerMtok) + 700n * pico(rt.audioOutputPerMtok),
      ),
    );
  });

  it('adds per-call tool fees by kind, and a tool call the price does not cover makes the call unpriced', () => {
    const gpt5 = listed('gpt-5');
    const perCall = (kind: 'web_search' | 'file_search') => decimalToScaled(gpt5.perThousandCalls![kind]!, 9);
    const u = usage({ inputTokens: 2000, outputTokens: 300, toolCalls: { web_search: 3, file_search: 2 } });
    expect(costNanos(gpt5, u)).toBe(nanos(2000n * pico(gpt5.inputPerMtok) + 300n * pico(gpt5.outputPerMtok) + 3n * perCall('web_search') + 2n * perCall('file_search')));
    // The non-reasoning preview fee differs from the reasoning one, as OpenAI publishes it.
    expect(listed('gpt-4o').perThousandCalls!.web_search_preview).not.toBe(gpt5.perThousandCalls!.web_search_preview);
    expect(costNanos(listed('gpt-4o-audio-preview'), usage({ inputTokens: 10, outputTokens: 5, toolCalls: { web_search: 1 } }))).toBeNull();
    expect(costNanos(gpt5, usage({ inputTokens: 10, outputTokens: 5, toolCalls: { web_search: 0 } }))).toBe(nanos(10n * pico(gpt5.inputPerMtok) + 5n * pico(gpt5.outputPerMtok)));
  });
});

describe('price book', () => {
  const u = usage({ inputTokens: 5000, cachedTokens: 1000, outputTokens: 700 });
  const expectedAt = (p: PriceListRow) => {
    const price = priceFromList(p);
    return nanos(4000n * pico(price.inputPerMtok) + 1000n * pico(price.cachedInputPerMtok) + 700n * pico(price.outputPerMtok));
  };

  it('applies a dated price change from its date: the day before keeps the old price', () => {
    const history = rows('o3').sort((a, b) => a.effective_from.localeCompare(b.effective_from));
    expect(history.length).toBeGreaterThanOrEqual(2);
    const [before, after] = history.slice(-2);
    const change = new Date(after.effective_from).getTime();
    const dayBefore = book.price('o3', undefined, new Date(change - 86_400_000), u);
    const dayAfter = book.price('o3', undefined, new Date(change + 86_400_000), u);
    expect(dayBefore.costNanos).toBe(expectedAt(before));
    expect(dayAfter.costNanos).toBe(expectedAt(after));
    expect(dayBefore.costNanos).not.toBe(dayAfter.costNanos);
    // The dated snapshot follows the same history.
    expect(book.price('o3-2025-04-16', undefined, new Date(change - 86_400_000), u).costNanos).toBe(expectedAt(before));
    // Before the first listed price the model is unpriced, not free.
    expect(book.price('o3', undefined, new Date(new Date(before.effective_from).getTime() - 1), u).costNanos).toBeNull();
  });

  it('prices a gpt-5 dated snapshot as its family, and a snapshot with its own row at that row', () => {
    expect(book.priceFor('gpt-5-2025-08-07', undefined, NOW)?.model).toBe('gpt-5');
    expect(book.price('gpt-5-2025-08-07', undefined, NOW, u).costNanos).toBe(expectedAt(row('gpt-5')));
    expect(book.priceFor('gpt-5-mini-2025-08-07', undefined, NOW)?.model).toBe('gpt-5-mini');
    expect(book.priceFor('gpt-4o-2024-11-20', undefined, NOW)?.model).toBe('gpt-4o');
    expect(book.priceFor('gpt-4o-2024-05-13', undefined, NOW)?.model).toBe('gpt-4o-2024-05-13');
    expect(book.price('gpt-4o-2024-05-13', undefined, NOW, u).costNanos).not.toBe(book.price('gpt-4o', undefined, NOW, u).costNanos);
    expect(book.priceFor('gpt-5-chat-latest', undefined, NOW)?.model).toBe('gpt-5-chat-latest');
  });

  it('prices a fine-tuned model at the fine-tuned rate of its base, never at the base price, else unpriced', () => {
    const ft = 'ft:gpt-4o-mini-2024-07-18:acme:support-bot:9x8y7z';
    expect(fineTunedKeys(ft)).toEqual(['ft:gpt-4o-mini-2024-07-18', 'ft:gpt-4o-mini']);
    expect(book.price(ft, undefined, NOW, usage({ inputTokens: 1000, outputTokens: 100 })).costNanos).toBe(
      nanos(1000n * pico(row('ft:gpt-4o-mini-2024-07-18').input) + 100n * pico(row('ft:gpt-4o-mini-2024-07-18').output)),
    );
    expect(book.price(ft, undefined, NOW, u).costNanos).not.toBe(book.price('gpt-4o-mini-2024-07-18', undefined, NOW, u).costNanos);
    // Every gpt-3.5-turbo snapshot's fine-tunes share one row.
    expect(book.priceFor('ft:gpt-3.5-turbo-0125:acme::abc', undefined, NOW)?.model).toBe('ft:gpt-3.5-turbo');
    // No published fine-tuned price in our sources: unpriced, although gpt-4.1 itself is priced.
    expect(book.priceFor('gpt-4.1-2025-04-14', undefined, NOW)).toBeDefined();
    expect(book.price('ft:gpt-4.1-2025-04-14:acme:x:abc', undefined, NOW, u)).toEqual({ costNanos: null, priceId: null });
  });

  it('picks the row of the tier OpenAI served: standard, batch, flex, priority; an unlisted tier is unpriced', () => {
    const std = book.price('gpt-5', 'default', NOW, u).costNanos!;
    expect(book.price('gpt-5', undefined, NOW, u).costNanos).toBe(std);
    expect(book.price('gpt-5', 'auto', NOW, u).costNanos).toBe(std);
    for (const tier of ['batch', 'flex', 'priority'] as const) {
      expect(book.priceFor('gpt-5', tier, NOW)?.serviceTier).toBe(tier);
      expect(book.price('gpt-5-2025-08-07', tier, NOW, u).costNanos).toBe(expectedAt(row('gpt-5', tier)));
    }
    expect(book.price('gpt-5', 'flex', NOW, u).costNanos).toBeLessThan(std);
    expect(book.price('gpt-5', 'priority', NOW, u).costNanos).toBeGreaterThan(std);
    // gpt-4o-mini has no flex row: unpriced rather than charged at another tier's rate.
    expect(book.price('gpt-4o-mini', 'flex', NOW, u)).toEqual({ costNanos: null, priceId: null });
    expect(book.price('gpt-5', 'scale', NOW, u)).toEqual({ costNanos: null, priceId: null });
  });

  it('leaves a model nobody priced unpriced (NULL), never $0, and moderation free', () => {
    expect(book.price('some-new-model', undefined, NOW, u)).toEqual({ costNanos: null, priceId: null });
    expect(book.price('omni-moderation-latest', undefined, NOW, usage({ inputTokens: 100 })).costNanos).toBe(0n);
  });
});

describe('the shipped price list', () => {
  it('gives every row a source, the date it was read, a start date and exact decimals', () => {
    for (const p of list) {
      expect(p.source, p.model).toMatch(/\S/);
      expect(p.read_on, p.model).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(Number.isNaN(new Date(p.effective_from).getTime()), p.model).toBe(false);
      const price = priceFromList(p);
      for (const value of [price.inputPerMtok, price.cachedInputPerMtok, price.outputPerMtok, price.audioInputPerMtok, price.perAudioMinute, price.cachedAudioInputPerMtok,
        price.audioOutputPerMtok, price.imageInputPerMtok, price.cachedImageInputPerMtok, price.imageOutputPerMtok, price.perMillionCharacters,
        ...Object.values(price.perImage ?? {}), ...Object.values(price.perThousandCalls ?? {})]) {
        if (value !== null && value !== undefined) expect(() => decimalToScaled(value, 6), `${p.model}: ${value}`).not.toThrow();
      }
    }
    const keys = list.map((p) => `${p.model}|${p.service_tier ?? 'default'}|${p.effective_from}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("covers today's line-up", () => {
    const models = new Set(list.map((p) => p.model));
    for (const model of ['gpt-5', 'gpt-5-mini', 'gpt-5-nano', 'gpt-5-chat-latest', 'gpt-5-codex', 'gpt-5-pro', 'gpt-5.1', 'gpt-5.2', 'gpt-5.4', 'gpt-5.5',
      'gpt-4.1', 'gpt-4.1-mini', 'gpt-4.1-nano', 'gpt-4o', 'gpt-4o-mini', 'o1', 'o1-pro', 'o3', 'o3-mini', 'o3-pro', 'o4-mini', 'o3-deep-research', 'o4-mini-deep-research',
      'gpt-4-turbo', 'gpt-realtime', 'gpt-realtime-mini', 'gpt-4o-realtime-preview', 'gpt-4o-mini-realtime-preview', 'gpt-audio', 'gpt-audio-mini', 'gpt-4o-audio-preview',
      'gpt-4o-search-preview', 'gpt-4o-mini-search-preview', 'whisper-1', 'gpt-4o-transcribe', 'gpt-4o-mini-transcribe', 'tts-1', 'tts-1-hd', 'gpt-4o-mini-tts',
      'gpt-image-1', 'gpt-image-1-mini', 'dall-e-3', 'dall-e-2', 'text-embedding-3-small', 'text-embedding-3-large', 'omni-moderation']) {
      expect(models.has(model), model).toBe(true);
    }
    for (const tier of ['batch', 'flex', 'priority']) expect(list.some((p) => p.service_tier === tier), tier).toBe(true);
  });
});
