// The newest rate-limit headers seen per org and model family: what /metrics and "headroom now"
// report. Updated on every response, so the hot path only sets fields on an existing object. With
// Redis (REDIS_URL), replicas share it: what changed here is pushed every SHARE_MS in one
// pipeline, and what the others saw is pulled as often, the newest observation winning, so every
// replica shows the same headroom within about a second. Without Redis: this process's own view.
import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { SharedState } from '../shared-state/shared-state.js';
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
const SHARE_MS = 500;
/** An observation nobody refreshed for a day is dropped from Redis. */
const SHARED_TTL_MS = 86_400_000;

@Injectable()
export class HeadroomSnapshot implements OnModuleInit, OnModuleDestroy {
  private readonly entries = new Map<string, LiveHeadroom>();
  /** Keys changed here since the last push. */
  private readonly dirty = new Set<string>();
  private timer?: ReturnType<typeof setInterval>;
  private readonly logger = new Logger('shared-state');

  constructor(private readonly shared: SharedState) {}

  onModuleInit(): void {
    if (this.shared.status === 'off') return;
    this.timer = setInterval(() => void this.share().catch((error: Error) => this.logger.debug?.(`headroom not shared: ${error.message}`)), SHARE_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  record(orgId: string, openaiOrgId: string, family: string, limits: RateLimitSnapshot, observedAt: number): void {
    const key = `${orgId}|${family}`;
    const current = this.entries.get(key);
    if (current) {
      if (observedAt < current.observedAt) return; // a long stream ending late carries older headers
      current.observedAt = observedAt;
      current.limits = limits;
    } else {
      // Model names come from clients; the label-bounding in metrics keeps families few, this caps memory.
      if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
      this.entries.set(key, { orgId, openaiOrgId, model: family, observedAt, limits });
    }
    if (this.timer) this.dirty.add(key);
  }

  all(): IterableIterator<LiveHeadroom> {
    return this.entries.values();
  }

  /** One round trip: push what changed here, pull everything, keep the newest of each. */
  private async share(): Promise<void> {
    const redis = this.shared.client;
    if (!redis) return;
    const hash = this.shared.key('headroom');
    const pipeline = redis.pipeline();
    if (this.dirty.size) {
      const fields: string[] = [];
      for (const key of this.dirty) {
        const entry = this.entries.get(key);
        if (entry) fields.push(key, JSON.stringify(entry));
      }
      this.dirty.clear();
      if (fields.length) pipeline.hset(hash, ...fields).pexpire(hash, SHARED_TTL_MS);
    }
    pipeline.hgetall(hash);
    const results = await pipeline.exec();
    const all = results?.at(-1)?.[1] as Record<string, string> | undefined;
    for (const [key, text] of Object.entries(all ?? {})) {
      const theirs = parse(text);
      if (!theirs) continue;
      const mine = this.entries.get(key);
      if (mine && mine.observedAt >= theirs.observedAt) continue;
      if (!mine && this.entries.size >= MAX_ENTRIES) continue;
      this.entries.set(key, theirs);
    }
  }
}

function parse(text: string): LiveHeadroom | undefined {
  try {
    const value = JSON.parse(text) as LiveHeadroom;
    return typeof value.orgId === 'string' && typeof value.model === 'string' && typeof value.observedAt === 'number' && typeof value.limits === 'object' ? value : undefined;
  } catch {
    return undefined;
  }
}
