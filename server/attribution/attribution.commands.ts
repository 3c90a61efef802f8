// CLI commands of attribution (`npm run cli -- tags:declare customer --max-values 500`), registered
// by server/cli.ts. They build the service on the CLI's DataSource without the HTTP module.
import type { INestApplicationContext } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '../auth/audit.service.js';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { declareTagSchema, featureAttributionSchema, tagName, updateTagSchema } from '../contract/attribution.js';
import { validate } from '../http/validate.js';
import { AttributionRepository } from './attribution.repository.js';
import { AttributionService } from './attribution.service.js';

type Flags = Record<string, string | boolean | undefined>;
interface Command {
  usage: string;
  run(ctx: INestApplicationContext, args: string[], flags: Flags): Promise<unknown>;
}

/** The flags these commands read (added to the CLI's parser). */
export const ATTRIBUTION_FLAGS = ['max-values', 'max-length', 'description', 'default', 'require'];

const CLI = { principal: 'cli' };
const service = async (ctx: INestApplicationContext) => {
  const attribution = new AttributionService(new AttributionRepository(ctx.get(DataSource)), ctx.get(AuditService), ctx.get<AppConfig>(APP_CONFIG));
  await attribution.reload();
  return attribution;
};
const number = (value: string | boolean | undefined) => (typeof value === 'string' ? Number(value) : undefined);
const string = (value: string | boolean | undefined) => (typeof value === 'string' ? value : undefined);
const need = (value: string | undefined, name: string): string => {
  if (!value) throw new Error(`missing <${name}>`);
  return value;
};
/** `customer=acme,env=prod`; an empty string is no tags. */
const pairs = (text: string) =>
  Object.fromEntries(
    text
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)
      .map((p) => {
        const at = p.indexOf('=');
        if (at < 1) throw new Error(`--default expects name=value pairs, got "${p}"`);
        return [p.slice(0, at).trim(), p.slice(at + 1).trim()];
      }),
  );

export const ATTRIBUTION_COMMANDS: Record<string, Command> = {
  'tags:list': { usage: 'tags:list                                 declared tags and their limits', run: async (ctx) => (await service(ctx)).listTags() },
  'tags:declare': {
    usage: 'tags:declare <name> [--max-values N] [--max-length N] [--description D]   declare a tag (or change its limits)',
    run: async (ctx, [name], f) => {
      const attribution = await service(ctx);
      const exists = (await attribution.listTags()).some((t) => t.name === name);
      if (exists) {
        const patch = validate(updateTagSchema, { maxValues: number(f['max-values']), maxLength: number(f['max-length']), description: string(f.description) });
        return attribution.updateTag(validate(tagName, need(name, 'name')), patch, CLI);
      }
      const input = validate(declareTagSchema, { name, maxValues: number(f['max-values']), maxLength: number(f['max-length']), description: string(f.description) });
      return attribution.declareTag(input, CLI);
    },
  },
  'tags:remove': { usage: 'tags:remove <name>', run: async (ctx, [name]) => (await service(ctx)).removeTag(need(name, 'name'), CLI) },
  'features:tags': {
    usage: 'features:tags <feature> [--default name=value,…] [--require name,…]   show or set a feature’s default and required tags',
    run: async (ctx, [feature], f) => {
      const attribution = await service(ctx);
      const current = await attribution.featureAttribution(need(feature, 'feature'));
      if (f.default === undefined && f.require === undefined) return current;
      const input = validate(featureAttributionSchema, {
        defaultTags: typeof f.default === 'string' ? pairs(f.default) : current.defaultTags,
        requiredTags: typeof f.require === 'string' ? f.require.split(',').map((s) => s.trim()).filter(Boolean) : current.requiredTags,
      });
      return attribution.setFeatureAttribution(feature, input, CLI);
    },
  },
};
