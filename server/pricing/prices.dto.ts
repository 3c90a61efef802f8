import { z } from 'zod';

/** USD as published: per 1M tokens or per audio minute, up to 6 decimals (numeric(14, 6)). */
const usd = z
  .string()
  .regex(/^\d{1,8}(\.\d{1,6})?$/, 'expected a USD amount as a decimal string with at most 6 decimals, e.g. "2.50"')
  .nullable()
  .default(null);

export const unitPricesSchema = z.strictObject({
  inputPerMtok: usd,
  cachedInputPerMtok: usd,
  outputPerMtok: usd,
  audioInputPerMtok: usd,
  perAudioMinute: usd,
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
