// The demo's orgs, features and keys: three OpenAI orgs, one feature each, as DESIGN.md describes.
import type { SimulatedOrg } from '../simulator/simulator.js';
import type { Actor, OrgsService } from '../orgs/orgs.service.js';

const DEMO: Actor = { principal: 'demo' };

export interface DemoFeature {
  slug: string;
  name: string;
  orgId: string;
  /** Upper snake case of the slug: OPENAI_API_KEY_<ENV> in demo.env. */
  env: string;
  budgetUsd: number;
}

export const DEMO_ORGS: SimulatedOrg[] = [
  // Runs close to its limits, so the dashboard has throttling to show.
  // Its second key is used around the gateway (demo/reconciliation.ts); admin keys read usage and costs.
  { id: 'org-chatbot', keys: ['sk-demo-chatbot-7c1e9a2b44d0', 'sk-demo-chatbot-direct-1f6a2c8e0b7d'], adminKeys: ['sk-admin-demo-chatbot-3b71c0d95e2a'], limits: { 'gpt-4o-mini': { rpm: 90, tpm: 12_000 }, 'gpt-4o': { rpm: 20, tpm: 6_000 } } },
  // Has a billing problem: its credit runs out now and then (see traffic.ts).
  { id: 'org-recommender', keys: ['sk-demo-recommender-5f3a8d21c9e7'], adminKeys: ['sk-admin-demo-recommender-a8e24f6b1c90'] },
  { id: 'org-transcripts', keys: ['sk-demo-transcripts-92b4e6f1a3d8'], adminKeys: ['sk-admin-demo-transcripts-5d09e7a3b4f1'] },
];

export const DEMO_FEATURES: DemoFeature[] = [
  { slug: 'customer-service-chatbot', name: 'Customer-service chatbot', orgId: 'org-chatbot', env: 'CUSTOMER_SERVICE_CHATBOT', budgetUsd: 50 },
  { slug: 'content-recommendation', name: 'Content recommendation', orgId: 'org-recommender', env: 'CONTENT_RECOMMENDATION', budgetUsd: 20 },
  { slug: 'video-transcripts', name: 'Video transcripts', orgId: 'org-transcripts', env: 'VIDEO_TRANSCRIPTS', budgetUsd: 30 },
];

/** Creates what is missing (idempotent across demo runs); returns feature slug → feature id. */
export async function seedDemo(orgs: OrgsService, upstreamUrl: string): Promise<Map<string, string>> {
  const existingOrgs = await orgs.listOrgs();
  const orgIds = new Map<string, string>();
  for (const sim of DEMO_ORGS) {
    const found = existingOrgs.find((o) => o.openaiOrgId === sim.id);
    if (found) {
      // The simulator may listen on another port this run.
      if (found.baseUrl !== upstreamUrl) await orgs.updateOrg(found.id, { baseUrl: upstreamUrl }, DEMO);
      orgIds.set(sim.id, found.id);
      continue;
    }
    const created = await orgs.createOrg({ name: sim.id.replace(/^org-/, ''), openaiOrgId: sim.id, baseUrl: upstreamUrl, apiKey: sim.keys[0], keyLabel: 'demo' }, DEMO);
    orgIds.set(sim.id, created.id);
  }
  const existingFeatures = await orgs.listFeatures();
  const featureIds = new Map<string, string>();
  for (const feature of DEMO_FEATURES) {
    const found = existingFeatures.find((f) => f.slug === feature.slug);
    const id =
      found?.id ??
      (await orgs.createFeature({ slug: feature.slug, name: feature.name, defaultOrgId: orgIds.get(feature.orgId)!, monthlyBudgetUsd: feature.budgetUsd }, DEMO)).id;
    featureIds.set(feature.slug, id);
  }
  return featureIds;
}
