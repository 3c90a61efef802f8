// Six weeks of plausible past usage for a first demo run, so month-to-date, forecasts and
// month-over-month comparisons have something to compare. Written through the ledger writer
// like live traffic, and priced with the same price table.
import type { LedgerWriter } from '../ledger/ledger.writer.js';
import { usageEvent, type UsageEvent } from '../ledger/usage-event.js';
import type { MeteredUsage } from '../pricing/cost.js';
import type { PricingService } from '../pricing/pricing.service.js';

interface Profile {
  featureId: string;
  orgId: string;
  perHour: number;
  calls: Array<{ endpoint: string; model: string; usage: () => MeteredUsage; weight: number }>;
}

const tokens = (min: number, max: number) => Math.round(min + Math.random() * (max - min));
const usage = (input: number, output: number, extra: Partial<MeteredUsage> = {}): MeteredUsage => ({
  inputTokens: input,
  cachedTokens: 0,
  audioInputTokens: 0,
  outputTokens: output,
  reasoningTokens: 0,
  ...extra,
});

export function demoProfiles(ids: { chatbot: [string, string]; recommender: [string, string]; transcripts: [string, string] }): Profile[] {
  return [
    {
      featureId: ids.chatbot[0],
      orgId: ids.chatbot[1],
      perHour: 40,
      calls: [
        { endpoint: 'chat.completions', model: 'gpt-4o-mini', weight: 6, usage: () => { const i = tokens(200, 2400); return usage(i, tokens(40, 400), { cachedTokens: i > 1024 ? 1024 : 0 }); } },
        { endpoint: 'chat.completions', model: 'gpt-4o', weight: 1, usage: () => usage(tokens(300, 1500), tokens(60, 300)) },
        { endpoint: 'moderations', model: 'omni-moderation-latest', weight: 3, usage: () => usage(0, 0) },
      ],
    },
    {
      featureId: ids.recommender[0],
      orgId: ids.recommender[1],
      perHour: 25,
      calls: [
        { endpoint: 'embeddings', model: 'text-embedding-3-small', weight: 5, usage: () => usage(tokens(50, 4000), 0) },
        { endpoint: 'responses', model: 'gpt-4.1-mini', weight: 2, usage: () => usage(tokens(300, 1200), tokens(100, 500)) },
        { endpoint: 'completions', model: 'gpt-3.5-turbo-instruct', weight: 1, usage: () => usage(tokens(10, 60), tokens(10, 30)) },
      ],
    },
    {
      featureId: ids.transcripts[0],
      orgId: ids.transcripts[1],
      perHour: 8,
      calls: [
        { endpoint: 'audio.transcriptions', model: 'whisper-1', weight: 4, usage: () => ({ ...usage(0, 0), audioSeconds: tokens(20, 900) }) },
        { endpoint: 'audio.transcriptions', model: 'gpt-4o-mini-transcribe', weight: 1, usage: () => { const audio = tokens(200, 3000); return usage(audio + 20, tokens(100, 800), { audioInputTokens: audio }); } },
      ],
    },
  ];
}

function weighted<T extends { weight: number }>(items: T[]): T {
  let r = Math.random() * items.reduce((s, i) => s + i.weight, 0);
  for (const item of items) if ((r -= item.weight) <= 0) return item;
  return items[items.length - 1];
}

/** Records `days` of history ending now; returns how many events were queued. */
export function backfillHistory(ledger: LedgerWriter, pricing: PricingService, profiles: Profile[], days: number): number {
  const now = Date.now();
  let count = 0;
  for (let hourAgo = days * 24; hourAgo >= 1; hourAgo--) {
    const hourStart = now - hourAgo * 3_600_000;
    const hourOfDay = new Date(hourStart).getUTCHours();
    const daily = 0.35 + 0.65 * Math.max(0, Math.sin(((hourOfDay - 6) / 24) * 2 * Math.PI)); // busier in the day
    const growth = 0.7 + 0.3 * (1 - hourAgo / (days * 24)); // traffic has grown over the weeks
    for (const profile of profiles) {
      const n = Math.round(profile.perHour * daily * growth * (0.8 + Math.random() * 0.4));
      for (let i = 0; i < n; i++) {
        const call = weighted(profile.calls);
        const createdAt = new Date(hourStart + Math.random() * 3_600_000);
        const throttled = profile.perHour >= 40 && Math.random() < 0.04;
        const metered = throttled ? usage(0, 0) : call.usage();
        const priced = throttled || (metered.inputTokens === 0 && !metered.audioSeconds)
          ? { costNanos: 0n, priceId: null }
          : pricing.price(call.model, 'default', createdAt, metered);
        const latency = tokens(150, 1200) + metered.outputTokens * 8;
        ledger.record(historicalEvent(profile, call.endpoint, call.model, createdAt, metered, priced, latency, throttled));
        count++;
      }
    }
  }
  return count;
}

function historicalEvent(
  profile: Profile,
  endpoint: string,
  model: string,
  createdAt: Date,
  metered: MeteredUsage,
  priced: { costNanos: bigint | null; priceId: number | null },
  latencyMs: number,
  throttled: boolean,
): UsageEvent {
  return usageEvent({
    createdAt,
    orgId: profile.orgId,
    featureId: profile.featureId,
    endpoint,
    model,
    serviceTier: endpoint.startsWith('chat') ? 'default' : null,
    streamed: endpoint === 'chat.completions' && Math.random() < 0.5,
    status: throttled ? 429 : 200,
    outcome: throttled ? 'error' : 'ok',
    errorKind: throttled ? 'rate_limit_tokens' : null,
    errorType: throttled ? 'tokens' : null,
    errorCode: throttled ? 'rate_limit_exceeded' : null,
    ...metered,
    audioSeconds: metered.audioSeconds ?? null,
    audioSource: metered.audioSeconds ? 'reported' : null,
    usageSource: throttled || (metered.inputTokens === 0 && !metered.audioSeconds) ? 'none' : 'reported',
    costNanos: priced.costNanos === null ? null : priced.costNanos.toString(),
    priceId: priced.priceId,
    latencyMs,
    ttfbMs: Math.round(latencyMs * 0.3),
    retryCount: throttled ? 1 : 0,
    // Attribution (docs/attribution.md): most calls name the customer they were for, the chatbot its end user.
    ...demoAttribution(endpoint),
  });
}

/** Customers with a realistic skew (a few large, a long tail), an env, and end users for chat. */
const CUSTOMERS = ['acme', 'acme', 'acme', 'globex', 'globex', 'initech', 'umbrella', 'hooli', 'stark', 'wayne'];
function demoAttribution(endpoint: string): Pick<UsageEvent, 'tags' | 'endUser'> {
  if (Math.random() < 0.15) return {}; // untagged: internal jobs
  const tags = { customer: CUSTOMERS[Math.floor(Math.random() * CUSTOMERS.length)], env: Math.random() < 0.9 ? 'prod' : 'staging' };
  return { tags, endUser: endpoint.startsWith('chat') ? `user-${Math.floor(Math.random() * 40)}` : null };
}
