// The newest rate-limit headers this process saw, per org and model family: what /metrics reports
// now. Updated on every response, so the hot path only sets fields on an existing object.
import { Injectable } from '@nestjs/common';
import type { RateLimitSnapshot } from '../ledger/rate-limit-snapshot.js';

export interface LiveHeadroom {
  orgId: string;
  openaiOrgId: string;
  /** Model family. */
  model: string;
  /** Epoch ms when the headers were received. */
  observedAt: number;
  limits: RateLimitSnapshot;
}

const MAX_ENTRIES = 10_000;

@Injectable()
export class HeadroomSnapshot {
  private readonly entries = new Map<string, LiveHeadroom>();

  record(orgId: string, openaiOrgId: string, family: string, limits: RateLimitSnapshot, observedAt: number): void {
    const key = `${orgId}|${family}`;
    const current = this.entries.get(key);
    if (current) {
      if (observedAt < current.observedAt) return; // a long stream ending late carries older headers
      current.observedAt = observedAt;
      current.limits = limits;
      return;
    }
    // Model names come from clients; the label-bounding in metrics keeps families few, this caps memory.
    if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(key, { orgId, openaiOrgId, model: family, observedAt, limits });
  }

  all(): IterableIterator<LiveHeadroom> {
    return this.entries.values();
  }
}
