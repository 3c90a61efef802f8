// `npm run cli -- prices:…`: the shipped price list.
import type { Commands } from '../cli/command.js';
import { PricingService } from './pricing.service.js';

export const PRICING_COMMANDS: Commands = {
  'prices:sync': {
    usage: 'prices:sync                               load the shipped price list (keeps edited rows)',
    run: async (ctx) => ({ inserted: await ctx.get(PricingService).syncPriceList() }),
  },
};
