// /api/admin/prices: the price list finance reads and admins add to or correct (docs/pricing.md).
import { z } from 'zod';
import { count, instant, nanos } from './common.js';
import { defineRoutes } from './route.js';

const USD = /^\d{1,8}(\.\d{1,6})?$/;
/** USD as published: per 1M tokens or per audio minute, up to 6 decimals (numeric(14, 6)). */
const usdRate = z
  .string()
  .regex(USD, 'expected a USD amount as a decimal string with at most 6 decimals, e.g. "2.50"')
  .nullable()
  .default(null);
const usdAmount = z.string().regex(USD, 'expected a USD amount as a decimal string with at most 6 decimals, e.g. "0.04"');
export const TOOL_CALL_KINDS = ['web_search', 'web_search_preview', 'file_search'] as const;

export const unitPricesSchema = z.strictObject({
  inputPerMtok: usdRate,
  cachedInputPerMtok: usdRate,
  outputPerMtok: usdRate,
  audioInputPerMtok: usdRate,
  perAudioMinute: usdRate,
  cachedAudioInputPerMtok: usdRate,
  audioOutputPerMtok: usdRate,
  imageInputPerMtok: usdRate,
  cachedImageInputPerMtok: usdRate,
  imageOutputPerMtok: usdRate,
  /** USD per 1M input characters (tts-1). */
  perMillionCharacters: usdRate,
  /** USD per image keyed `size/quality` (`1024x1024/hd`) or `size` for models with one quality. */
  perImage: z.record(z.string().regex(/^\d+x\d+(\/[a-z]+)?$/, 'expected a size such as 1024x1024, optionally /quality'), usdAmount).nullable().default(null),
  /** USD per 1,000 calls of a built-in tool. */
  perThousandCalls: z.partialRecord(z.enum(TOOL_CALL_KINDS), usdAmount).nullable().default(null),
  /** Rates that replace the text rates for a call whose input passes aboveInputTokens. */
  longContext: z
    .strictObject({ aboveInputTokens: z.int().positive(), inputPerMtok: usdRate, cachedInputPerMtok: usdRate, outputPerMtok: usdRate })
    .nullable()
    .default(null),
});
export type UnitPricesInput = z.infer<typeof unitPricesSchema>;

const tier = z.enum(['default', 'flex', 'priority', 'batch']).default('default');
const instantParam = z.iso.datetime({ offset: true, message: 'expected an instant such as 2025-03-01T00:00:00Z' });

export const listPricesQuerySchema = z.strictObject({
  model: z.string().min(1).max(200).optional(),
  includeRetired: z.enum(['true', 'false']).default('false'),
});

export const addPriceSchema = z.strictObject({
  model: z.string().min(1).max(200),
  serviceTier: tier,
  effectiveFrom: instantParam,
  prices: unitPricesSchema,
  source: z.string().min(1).max(500).default('admin'),
});
export type AddPriceInput = z.infer<typeof addPriceSchema>;

export const correctPriceSchema = z
  .strictObject({
    model: z.string().min(1).max(200),
    serviceTier: tier,
    from: instantParam,
    /** Omitted: the corrected price stays in effect from `from` on. */
    to: instantParam.optional(),
    prices: unitPricesSchema,
    reason: z.string().min(3, 'say why the price is corrected (it goes in the audit log)').max(1000),
  })
  .refine((v) => !v.to || new Date(v.from) < new Date(v.to), { message: 'from must be before to', path: ['to'] });
export type CorrectPriceInput = z.infer<typeof correctPriceSchema>;

// ---------------------------------------------------------------- answers

/** A price's rates as stored (every one present; null where the price has none). */
export const unitRatesSchema = z.object(unitPricesSchema.shape).extend({
  perImage: z.record(z.string(), z.string()).nullable(),
  perThousandCalls: z.partialRecord(z.enum(TOOL_CALL_KINDS), z.string()).nullable(),
  longContext: z
    .object({ aboveInputTokens: z.number().int(), inputPerMtok: z.string().nullable(), cachedInputPerMtok: z.string().nullable(), outputPerMtok: z.string().nullable() })
    .nullable(),
});

export const priceSchema = unitRatesSchema.extend({
  id: z.number().int(),
  model: z.string(),
  serviceTier: z.string(),
  effectiveFrom: instant,
  source: z.string(),
  createdAt: instant,
  /** Replaced by a correction (events were charged at it before). */
  retiredAt: instant.nullable(),
  retiredBy: z.string().nullable(),
});
export type PriceView = z.infer<typeof priceSchema>;

export const correctionResultSchema = z.object({
  priceId: z.number().int(),
  restoredPriceId: z.number().int().nullable(),
  retiredPriceIds: z.array(z.number().int()),
  eventsRecosted: count,
  costBeforeNanos: nanos,
  costAfterNanos: nanos,
});
export type CorrectionResult = z.infer<typeof correctionResultSchema>;

export const priceRoutes = defineRoutes({
  list: { method: 'GET', path: '/api/admin/prices', summary: 'The price list (current prices; retired ones with includeRetired=true)', roles: ['finance'], query: listPricesQuerySchema, response: z.array(priceSchema) },
  add: { method: 'POST', path: '/api/admin/prices', summary: 'Add a price from a date on', roles: ['admin'], body: addPriceSchema, response: priceSchema, status: 201 },
  correct: { method: 'POST', path: '/api/admin/prices/corrections', summary: 'Correct a price over a past period and re-cost its events', roles: ['admin'], body: correctPriceSchema, response: correctionResultSchema },
});
