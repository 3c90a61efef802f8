import { z } from 'zod';

/** USD as published: per 1M tokens or per audio minute, up to 6 decimals (numeric(14, 6)). */
const usd = z
  .string()
  .regex(/^\d{1,8}(\.\d{1,6})?$/, 'expected a USD amount as a decimal string with at most 6 decimals, e.g. "2.50"')
  .nullable()
  .default(null);

const usdAmount = z.string().regex(/^\d{1,8}(\.\d{1,6})?$/, 'expected a USD amount as a decimal string with at most 6 decimals, e.g. "0.04"');

export const unitPricesSchema = z.strictObject({
  inputPerMtok: usd,
  cachedInputPerMtok: usd,
  outputPerMtok: usd,
  audioInputPerMtok: usd,
  perAudioMinute: usd,
  cachedAudioInputPerMtok: usd,
  audioOutputPerMtok: usd,
  imageInputPerMtok: usd,
  cachedImageInputPerMtok: usd,
  imageOutputPerMtok: usd,
  /** USD per 1M input characters (tts-1). */
  perMillionCharacters: usd,
  /** USD per image keyed `size/quality` (`1024x1024/hd`) or `size` for models with one quality. */
  perImage: z.record(z.string().regex(/^\d+x\d+(\/[a-z]+)?$/, 'expected a size such as 1024x1024, optionally /quality'), usdAmount).nullable().default(null),
  /** USD per 1,000 calls of a built-in tool. */
  perThousandCalls: z.partialRecord(z.enum(['web_search', 'web_search_preview', 'file_search']), usdAmount).nullable().default(null),
  /** Rates that replace the text rates for a call whose input passes aboveInputTokens. */
  longContext: z
    .strictObject({ aboveInputTokens: z.int().positive(), inputPerMtok: usd, cachedInputPerMtok: usd, outputPerMtok: usd })
    .nullable()
    .default(null),
});
export type UnitPricesInput = z.infer<typeof unitPricesSchema>;

const tier = z.enum(['default', 'flex', 'priority', 'batch']).default('default');
const instant = z.iso.datetime({ offset: true, message: 'expected an instant such as 2025-03-01T00:00:00Z' });

export const listPricesQuerySchema = z.strictObject({
  model: z.string().min(1).max(200).optional(),
  includeRetired: z.enum(['true', 'false']).default('false'),
});

export const addPriceSchema = z.strictObject({
  model: z.string().min(1).max(200),
  serviceTier: tier,
  effectiveFrom: instant,
  prices: unitPricesSchema,
  source: z.string().min(1).max(500).default('admin'),
});
export type AddPriceInput = z.infer<typeof addPriceSchema>;

export const correctPriceSchema = z
  .strictObject({
    model: z.string().min(1).max(200),
    serviceTier: tier,
    from: instant,
    /** Omitted: the corrected price stays in effect from `from` on. */
    to: instant.optional(),
    prices: unitPricesSchema,
    reason: z.string().min(3, 'say why the price is corrected (it goes in the audit log)').max(1000),
  })
  .refine((v) => !v.to || new Date(v.from) < new Date(v.to), { message: 'from must be before to', path: ['to'] });
export type CorrectPriceInput = z.infer<typeof correctPriceSchema>;
