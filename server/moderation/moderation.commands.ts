// CLI commands of moderation (registered by server/cli.ts): set, show and remove a feature's policy.
import { moderationPolicyInput } from '../contract/moderation.js';
import { validate } from '../http/validate.js';
import { ModerationService } from './moderation.service.js';

import { CLI_ACTOR, need, type Commands } from '../cli/command.js';

/** `violence=0.3,harassment=0.5` → { violence: 0.3, harassment: 0.5 } (validated by the schema). */
function thresholds(flag: string | boolean | undefined): Record<string, number> | undefined {
  if (typeof flag !== 'string' || flag === '') return undefined;
  return Object.fromEntries(
    flag.split(',').map((pair) => {
      const [name, value] = pair.split('=');
      return [name.trim(), Number(value)];
    }),
  );
}

export const MODERATION_COMMANDS: Commands = {
  'moderation:set': {
    usage:
      'moderation:set <feature> [--preset strict|default|lenient] [--threshold violence=0.3,…] [--guardrail off|monitor|block] [--fail open|closed] [--timeout-ms N] [--store-inputs true|false]',
    run: async (ctx, [feature], f) => {
      const service = ctx.get(ModerationService);
      await service.refresh();
      const input = validate(moderationPolicyInput, {
        preset: f.preset,
        thresholds: thresholds(f.threshold),
        guardrail: f.guardrail,
        failMode: f.fail,
        timeoutMs: typeof f['timeout-ms'] === 'string' ? Number(f['timeout-ms']) : undefined,
        storeInputs: typeof f['store-inputs'] === 'string' ? f['store-inputs'] === 'true' : undefined,
      });
      return service.set(need(feature, 'feature'), input, CLI_ACTOR);
    },
  },
  'moderation:show': {
    usage: 'moderation:show [<feature>]                the policy in force (every feature without one)',
    run: async (ctx, [feature]) => {
      const service = ctx.get(ModerationService);
      await service.refresh();
      return feature ? service.get(feature) : service.list();
    },
  },
  'moderation:remove': {
    usage: 'moderation:remove <feature>               back to OpenAI\'s own flags, no guardrail',
    run: async (ctx, [feature]) => {
      const service = ctx.get(ModerationService);
      await service.refresh();
      return service.remove(need(feature, 'feature'), CLI_ACTOR);
    },
  },
};
