// The demo's reconciliation: admin keys for its orgs, OpenAI's key id on each upstream key, the simulator's
// bill seeded with the history the ledger was backfilled with (so past days reconcile), and live traffic
// with gaps to explain: calls made straight to OpenAI with a team's own key, streams the client aborts, an
// unpriced model, and a storage line item.
import OpenAI from 'openai';
import type { DataSource } from 'typeorm';
import type { OrgsService } from '../orgs/orgs.service.js';
import { simulatedKeyId, type Simulator, type UsageEndpoint } from '../simulator/simulator.js';
import { DEMO_ORGS } from './seed.js';

/** The chatbot org's second key (seed.ts), used without Tallygate: its calls show as "outside Tallygate". */
const directKey = () => DEMO_ORGS[0].keys[1];

const ENDPOINTS: Record<string, UsageEndpoint> = {
  'chat.completions': 'completions',
  completions: 'completions',
  responses: 'completions',
  embeddings: 'embeddings',
  moderations: 'moderations',
  'audio.transcriptions': 'audio_transcriptions',
  'audio.translations': 'audio_transcriptions',
};

/** Sets each org's admin key (once) and OpenAI's key id on its upstream keys. */
export async function seedDemoReconciliation(orgs: OrgsService): Promise<void> {
  for (const org of await orgs.listOrgs()) {
    const sim = DEMO_ORGS.find((o) => o.id === org.openaiOrgId);
    const adminKey = sim?.adminKeys?.[0];
    if (!sim || !adminKey) continue;
    if (!org.adminKey) await orgs.setAdminKey(org.id, adminKey, { principal: 'demo' });
    for (const key of org.upstreamKeys) {
      if (key.openaiKeyId) continue;
      // The demo's upstream keys are the simulator orgs' first keys; masked forms end in their last 4.
      const secret = sim.keys.find((k) => key.masked.endsWith(k.slice(-4)));
      if (secret) await orgs.setUpstreamKeyOpenaiId(org.id, key.id, simulatedKeyId(secret), { principal: 'demo' });
    }
  }
}

/**
 * The simulator keeps its bill in memory: each demo start bills it again with what the ledger holds from
 * before (the backfilled weeks and earlier runs), call by call.
 */
export async function seedSimulatorBill(db: DataSource, simulator: Simulator): Promise<number> {
  const rows: Array<{
    at: Date;
    openai_org_id: string;
    endpoint: string;
    model: string;
    input_tokens: number;
    cached_tokens: number;
    output_tokens: number;
    audio_input_tokens: number;
    audio_seconds: string | null;
  }> = await db.query(
    `SELECT e.created_at AS at, o.openai_org_id, e.endpoint, e.model, e.input_tokens, e.cached_tokens, e.output_tokens,
       e.audio_input_tokens, e.audio_seconds
     FROM usage_events e JOIN orgs o ON o.id = e.org_id
     WHERE e.model IS NOT NULL AND (e.outcome = 'ok' OR e.usage_source = 'estimated') AND e.endpoint <> 'models'`,
  );
  for (const row of rows) {
    const sim = DEMO_ORGS.find((o) => o.id === row.openai_org_id);
    const endpoint = ENDPOINTS[row.endpoint];
    if (!sim || !endpoint) continue;
    simulator.bill({
      at: row.at.getTime(),
      orgId: sim.id,
      apiKeyId: simulatedKeyId(sim.keys[0]),
      projectId: null,
      endpoint,
      model: row.model,
      requests: 1,
      inputTokens: row.input_tokens,
      cachedTokens: row.cached_tokens,
      outputTokens: row.output_tokens,
      audioInputTokens: row.audio_input_tokens,
      seconds: row.audio_seconds === null ? 0 : Number(row.audio_seconds),
    });
  }
  return rows.length;
}

/** A daily storage charge for the recommender over the demo's six weeks: spend no gateway meters per call. */
export function seedDemoCharges(simulator: Simulator): void {
  const day = 86_400_000;
  for (let t = Math.floor(Date.now() / day) * day - 42 * day; t <= Date.now(); t += day) {
    simulator.charge({ at: t + 3_600_000, orgId: 'org-recommender', lineItem: 'File storage', nanos: 33_000_000n, apiKeyId: null, projectId: null });
  }
}

/** Traffic with gaps for reconciliation to explain; returns a function that stops it. */
export function startGapTraffic(options: { simulatorUrl: string; gatewayUrl: string; chatbotKey: string }): () => void {
  const direct = new OpenAI({ baseURL: options.simulatorUrl, apiKey: directKey(), maxRetries: 0 });
  const gateway = new OpenAI({ baseURL: options.gatewayUrl, apiKey: options.chatbotKey, maxRetries: 0 });
  const calls: Array<() => Promise<unknown>> = [
    // A team calling OpenAI with its own key: billed to the org, never in the ledger.
    () => direct.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'A batch job that skips the gateway.' }] }),
    // A user closing the chat window mid-answer: the ledger estimates, OpenAI bills what it generated.
    async () => {
      const controller = new AbortController();
      const stream = await gateway.chat.completions.create(
        { model: 'gpt-4o-mini', stream: true, max_tokens: 300, messages: [{ role: 'user', content: 'Explain the refund policy in detail.' }] },
        { signal: controller.signal },
      );
      let chunks = 0;
      for await (const _ of stream) if (++chunks === 5) controller.abort();
    },
    // A model Tallygate's price list does not have yet.
    () => gateway.chat.completions.create({ model: 'computer-use-preview', messages: [{ role: 'user', content: 'Plan the escalation path for order #4411.' }] }),
  ];
  let i = 0;
  const timer = setInterval(() => void calls[i++ % calls.length]().catch(() => undefined), 4_000);
  timer.unref();
  return () => clearInterval(timer);
}
