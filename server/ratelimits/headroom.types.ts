// What the headroom and throttling API answers is the API contract's (server/contract/ratelimits.ts). Kept for existing imports.
export type { FeatureRef, Headroom, HeadroomPoint, LatestHeadroom, OrgRef, ThrottleCounts } from '../contract/ratelimits.js';
