// `npm run cli -- orgs:… keys:… features:… gateway-keys:…`: orgs, their upstream and admin keys,
// features and gateway keys, without the dashboard.
import type { INestApplicationContext } from '@nestjs/common';
import { CLI_ACTOR, need, secret, type Commands } from '../cli/command.js';
import { validate } from '../http/validate.js';
import { adminKeySchema, createFeatureSchema, createOrgSchema, openaiKeyIdSchema } from './orgs.dto.js';
import { OrgsService, type Actor } from './orgs.service.js';

const orgs = (ctx: INestApplicationContext) => ctx.get(OrgsService);
const CLI: Actor = { principal: CLI_ACTOR };

export const ORGS_COMMANDS: Commands = {
  'orgs:create': {
    usage: 'orgs:create --name N --org-id org-… [--project proj_…] [--base-url URL] [--api-key sk-…|-]',
    run: async (ctx, _a, f) =>
      orgs(ctx).createOrg(
        validate(createOrgSchema, {
          name: f.name,
          openaiOrgId: f['org-id'],
          projectId: f.project,
          baseUrl: f['base-url'],
          apiKey: f['api-key'] ? await secret(f['api-key'], 'api-key') : undefined,
        }),
        CLI,
      ),
  },
  'orgs:list': { usage: 'orgs:list', run: (ctx) => orgs(ctx).listOrgs() },
  'orgs:suspend': {
    usage: 'orgs:suspend <org>                        stop all traffic to an org',
    run: async (ctx, [ref]) => orgs(ctx).updateOrg((await orgs(ctx).findOrg(need(ref, 'org'))).id, { status: 'suspended' }, CLI),
  },
  'orgs:activate': {
    usage: 'orgs:activate <org>',
    run: async (ctx, [ref]) => orgs(ctx).updateOrg((await orgs(ctx).findOrg(need(ref, 'org'))).id, { status: 'active' }, CLI),
  },
  'keys:add': {
    usage: 'keys:add <org> --api-key sk-…|- [--label L]  add an upstream key (newest carries traffic)',
    run: async (ctx, [ref], f) =>
      orgs(ctx).addUpstreamKey((await orgs(ctx).findOrg(need(ref, 'org'))).id, await secret(f['api-key'], 'api-key'), f.label as string | undefined, CLI),
  },
  'keys:revoke': {
    usage: 'keys:revoke <org> <key-id>',
    run: async (ctx, [ref, keyId]) => orgs(ctx).revokeUpstreamKey((await orgs(ctx).findOrg(need(ref, 'org'))).id, need(keyId, 'key-id'), CLI),
  },
  'features:create': {
    usage: 'features:create --slug S --name N --org <org> [--grant <org>,<org>] [--budget-usd X]',
    run: async (ctx, _a, f) => {
      const service = orgs(ctx);
      const grants = typeof f.grant === 'string' ? await Promise.all(f.grant.split(',').map((r) => service.findOrg(r.trim()))) : [];
      return service.createFeature(
        validate(createFeatureSchema, {
          slug: f.slug,
          name: f.name,
          defaultOrgId: (await service.findOrg(need(f.org, 'org'))).id,
          grantedOrgIds: grants.map((g) => g.id),
          monthlyBudgetUsd: f['budget-usd'],
        }),
        CLI,
      );
    },
  },
  'orgs:set-admin-key': {
    usage: 'orgs:set-admin-key <org> --api-key -       set or rotate the OpenAI admin key reconciliation reads usage and costs with',
    run: async (ctx, [ref], f) => {
      const org = await orgs(ctx).findOrg(need(ref, 'org'));
      return orgs(ctx).setAdminKey(org.id, validate(adminKeySchema, { adminKey: await secret(f['api-key'], 'api-key') }).adminKey, CLI);
    },
  },
  'orgs:remove-admin-key': {
    usage: 'orgs:remove-admin-key <org>               reconciliation stops for this org',
    run: async (ctx, [ref]) => {
      const org = await orgs(ctx).findOrg(need(ref, 'org'));
      await orgs(ctx).removeAdminKey(org.id, CLI);
      return { orgId: org.id, adminKey: null };
    },
  },
  'keys:set-openai-id': {
    usage: 'keys:set-openai-id <org> <key-id> --openai-key-id key_…|none   OpenAI\'s id for an upstream key (its usage groups by it)',
    run: async (ctx, [ref, keyId], f) => {
      const org = await orgs(ctx).findOrg(need(ref, 'org'));
      const given = need(f['openai-key-id'], 'openai-key-id');
      const { openaiKeyId } = validate(openaiKeyIdSchema, { openaiKeyId: given === 'none' ? null : given });
      return orgs(ctx).setUpstreamKeyOpenaiId(org.id, need(keyId, 'key-id'), openaiKeyId, CLI);
    },
  },
  'features:list': { usage: 'features:list', run: (ctx) => orgs(ctx).listFeatures() },
  'gateway-keys:issue': {
    usage: 'gateway-keys:issue <feature> [--name N]    prints the key once',
    run: async (ctx, [ref], f) => {
      const issued = await orgs(ctx).issueGatewayKey((await orgs(ctx).findFeature(need(ref, 'feature'))).id, (f.name as string) ?? '', CLI);
      return { ...issued, note: 'Store this key now: Tallygate keeps only its hash and cannot show it again.' };
    },
  },
  'gateway-keys:list': {
    usage: 'gateway-keys:list [feature]',
    run: async (ctx, [ref]) => orgs(ctx).listGatewayKeys(ref ? (await orgs(ctx).findFeature(ref)).id : undefined),
  },
  'gateway-keys:revoke': { usage: 'gateway-keys:revoke <key-id>', run: (ctx, [id]) => orgs(ctx).revokeGatewayKey(need(id, 'key-id'), CLI) },
};
