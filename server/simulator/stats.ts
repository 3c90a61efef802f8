// Counters the simulator keeps so tests and benchmarks can compare what the gateway recorded with what happened upstream.

export interface SimulatorCounters {
  requests: number;
  /** 429s by kind: RPM, TPM (including "request too large") and billing. */
  rateLimited: { requests: number; tokens: number; quota: number };
  /** 500 and 503 responses. */
  serverErrors: number;
  /** Streams that were cut, stalled or failed mid-way on purpose. */
  brokenStreams: number;
  /** Usage of the responses that were delivered whole. */
  usage: {
    promptTokens: number;
    cachedTokens: number;
    completionTokens: number;
    reasoningTokens: number;
    audioSeconds: number;
    /** Images generated, edited or varied (dall-e is billed per image). */
    images: number;
    /** Characters of speech input (tts-1 is billed per character). */
    characters: number;
  };
}

export interface SimulatorOrgStats extends SimulatorCounters {
  /** Keyed by the model the client asked for. */
  models: Record<string, SimulatorCounters>;
}

export interface SimulatorStats {
  startedAt: string;
  /** Every request that reached a route, failures (401, 404, 400) included. */
  totalRequests: number;
  unauthorized: number;
  /** Keyed by org id; an org's `requests` also counts calls without a model (GET /v1/models). */
  orgs: Record<string, SimulatorOrgStats>;
}

export interface DeliveredUsage {
  promptTokens?: number;
  cachedTokens?: number;
  completionTokens?: number;
  reasoningTokens?: number;
  audioSeconds?: number;
  images?: number;
  characters?: number;
  /** Part of promptTokens that is audio (billed at its own rate); the bill uses it, the counters do not. */
  audioInputTokens?: number;
  /** Realtime: part of cachedTokens that is audio, and part of completionTokens that is audio (the bill uses them). */
  cachedAudioTokens?: number;
  audioOutputTokens?: number;
}

export type Outcome = 'rate-limited-requests' | 'rate-limited-tokens' | 'quota' | 'server-error' | 'broken-stream';

function emptyCounters(): SimulatorCounters {
  return {
    requests: 0,
    rateLimited: { requests: 0, tokens: 0, quota: 0 },
    serverErrors: 0,
    brokenStreams: 0,
    usage: { promptTokens: 0, cachedTokens: 0, completionTokens: 0, reasoningTokens: 0, audioSeconds: 0, images: 0, characters: 0 },
  };
}

export class StatsRecorder {
  private stats: SimulatorStats = StatsRecorder.empty();

  private static empty(): SimulatorStats {
    return { startedAt: new Date().toISOString(), totalRequests: 0, unauthorized: 0, orgs: {} };
  }

  reset(): void {
    this.stats = StatsRecorder.empty();
  }

  snapshot(): SimulatorStats {
    return structuredClone(this.stats);
  }

  arrived(): void {
    this.stats.totalRequests++;
  }

  unauthorized(): void {
    this.stats.unauthorized++;
  }

  orgRequest(orgId: string): void {
    this.org(orgId).requests++;
  }

  modelRequest(orgId: string, model: string): void {
    this.model(orgId, model).requests++;
  }

  outcome(orgId: string, model: string, outcome: Outcome): void {
    for (const counters of [this.org(orgId), this.model(orgId, model)]) {
      switch (outcome) {
        case 'rate-limited-requests':
          counters.rateLimited.requests++;
          break;
        case 'rate-limited-tokens':
          counters.rateLimited.tokens++;
          break;
        case 'quota':
          counters.rateLimited.quota++;
          break;
        case 'server-error':
          counters.serverErrors++;
          break;
        case 'broken-stream':
          counters.brokenStreams++;
          break;
      }
    }
  }

  delivered(orgId: string, model: string, usage: DeliveredUsage): void {
    for (const counters of [this.org(orgId), this.model(orgId, model)]) {
      counters.usage.promptTokens += usage.promptTokens ?? 0;
      counters.usage.cachedTokens += usage.cachedTokens ?? 0;
      counters.usage.completionTokens += usage.completionTokens ?? 0;
      counters.usage.reasoningTokens += usage.reasoningTokens ?? 0;
      counters.usage.audioSeconds += usage.audioSeconds ?? 0;
      counters.usage.images += usage.images ?? 0;
      counters.usage.characters += usage.characters ?? 0;
    }
  }

  private org(orgId: string): SimulatorOrgStats {
    let org = this.stats.orgs[orgId];
    if (!org) {
      org = { ...emptyCounters(), models: {} };
      this.stats.orgs[orgId] = org;
    }
    return org;
  }

  private model(orgId: string, model: string): SimulatorCounters {
    const org = this.org(orgId);
    let counters = org.models[model];
    if (!counters) {
      counters = emptyCounters();
      org.models[model] = counters;
    }
    return counters;
  }
}
