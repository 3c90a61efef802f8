// The batches module's CLI commands (server/cli.ts lists them with the others).
import type { INestApplicationContext } from '@nestjs/common';
import { PricingService } from '../pricing/pricing.service.js';
import { BatchesService } from './batches.service.js';

type Flags = Record<string, string | boolean | undefined>;
type Command = { usage: string; run(ctx: INestApplicationContext, args: string[], flags: Flags): Promise<unknown> };

export const BATCH_COMMANDS: Record<string, Command> = {
  'batches:meter': {
    usage: 'batches:meter <batch_id> [--org O]        poll a batch now and meter it at batch prices if final (--org: one the gateway never saw)',
    run: async (ctx, [id], f) => {
      if (!id) throw new Error('missing <batch_id>');
      // Prices as the gateway loads them at start: the shipped list plus admins' edits.
      await ctx.get(PricingService).syncPriceList();
      return ctx.get(BatchesService).meterNow(id, typeof f.org === 'string' ? f.org : undefined);
    },
  },
  'batches:list': {
    usage: 'batches:list [--limit N]                  batches seen through the gateway: status, lines metered, cost',
    run: (ctx, _a, f) => ctx.get(BatchesService).list(Math.min(500, Number(f.limit ?? 50) || 50)),
  },
};
