// What the headroom and throttling API answers: plain types, shared with the dashboard (client/),
// so the two cannot drift apart.
import type { OrgState } from '../contract/errors.js';

export interface OrgRef {
  id: string;
  name: string;
  openaiOrgId: string;
}

export interface Headroom {
  limit: number;
  remaining: number;
  /** Time from the observation until the window was full again. */
  resetMs: number | null;
  resetAt: string | null;
  /** 1 - remaining / limit, when observed. */
  utilisation: number;
  /** The same, refilled linearly until resetAt: what is left of it now. */
  utilisationNow: number;
  /** limit × (1 - utilisationNow): what can be sent now, on the same projection. */
  remainingNow: number;
}

export interface LatestHeadroom {
  org: OrgRef;
  model: string;
  observedAt: string;
  requests: Headroom | null;
  tokens: Headroom | null;
  projectTokens: Headroom | null;
  /** The highest utilisationNow of the three. */
  utilisationNow: number;
  /** Whether the org's recent calls fail upstream (billing, its key, 5xx): room under a limit is no use then. */
  orgState?: OrgState;
}

export interface HeadroomPoint {
  minute: string;
  observedAt: string;
  requestsUtilisation: number | null;
  tokensUtilisation: number | null;
  projectTokensUtilisation: number | null;
  /** From the lowest remaining value seen during the minute. */
  peakRequestsUtilisation: number | null;
  peakTokensUtilisation: number | null;
  limitRequests: number | null;
  remainingRequests: number | null;
  limitTokens: number | null;
  remainingTokens: number | null;
  observations: number;
}

export interface ThrottleCounts {
  requests: number;
  rateLimitRequests: number;
  rateLimitTokens: number;
  requestTooLarge: number;
  /** Billing (insufficient_quota and its newer codes): not throttling. */
  quota: number;
  /** Answered 429 by the gateway's own pacing, without calling OpenAI. */
  paced: number;
  retries: number;
  /** rateLimitRequests + rateLimitTokens + requestTooLarge. */
  throttled: number;
}

export interface FeatureRef {
  id: string | null;
  slug: string | null;
}
