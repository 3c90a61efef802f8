// The simulator's stored objects (files, batches, responses, vector stores, …): per org, in memory, with file
// bytes on disk under one temp directory, and OpenAI's cursor pagination over them.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JsonObject } from './payload.js';

/** `file-…`, `batch_…`, `vs_…`: OpenAI's prefixes and 24 hex-ish characters. */
export function newObjectId(prefix: string): string {
  return `${prefix}${randomBytes(12).toString('hex')}`;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

export interface ListQuery {
  after?: string;
  before?: string;
  limit?: string | number;
  order?: string;
}

export interface ListPage<T> {
  object: 'list';
  data: T[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

/**
 * One page of `items` (oldest first, as stored) the way OpenAI's list endpoints page: newest first unless
 * `order=asc`, `after`/`before` an id of the previous page, `limit` capped at `maxLimit`.
 */
export function listPage<T extends { id: string }>(
  items: Iterable<T>,
  query: ListQuery,
  defaults: { limit?: number; maxLimit?: number; order?: 'asc' | 'desc' } = {},
): ListPage<T> {
  const order = query.order === 'asc' || query.order === 'desc' ? query.order : (defaults.order ?? 'desc');
  let ordered = [...items];
  if (order === 'desc') ordered.reverse();
  const requested = Number(query.limit ?? defaults.limit ?? 20);
  const limit = Math.max(1, Math.min(defaults.maxLimit ?? 100, Number.isFinite(requested) ? Math.floor(requested) : 20));
  if (query.after) {
    const at = ordered.findIndex((item) => item.id === query.after);
    ordered = at < 0 ? [] : ordered.slice(at + 1);
  }
  if (query.before) {
    const at = ordered.findIndex((item) => item.id === query.before);
    if (at >= 0) ordered = ordered.slice(Math.max(0, at - limit), at);
  }
  const data = ordered.slice(0, limit);
  return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: ordered.length > limit };
}

/** Objects of one kind for one org, in creation order. */
export class Collection<T extends { id: string }> {
  private readonly byId = new Map<string, T>();

  get(id: string): T | undefined {
    return this.byId.get(id);
  }

  add(item: T): T {
    this.byId.set(item.id, item);
    return item;
  }

  delete(id: string): boolean {
    return this.byId.delete(id);
  }

  values(): IterableIterator<T> {
    return this.byId.values();
  }

  get size(): number {
    return this.byId.size;
  }
}

/** An object the API returns as is, plus the id every stored object has. */
export type StoredObject = JsonObject & { id: string };

export class ResourceStore {
  private dir: string | undefined;
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private readonly orgs = new Map<string, Map<string, Collection<{ id: string }>>>();

  /** The collection `kind` of `orgId`; each kind keeps one element type, fixed by its caller. */
  collection<T extends { id: string }>(orgId: string, kind: string): Collection<T> {
    let kinds = this.orgs.get(orgId);
    if (!kinds) {
      kinds = new Map();
      this.orgs.set(orgId, kinds);
    }
    let collection = kinds.get(kind);
    if (!collection) {
      collection = new Collection();
      kinds.set(kind, collection);
    }
    return collection as unknown as Collection<T>;
  }

  /** A fresh path for stored bytes (uploads, batch output); the directory goes away with the simulator. */
  pathFor(name: string): string {
    if (!this.dir) {
      this.dir = mkdtempSync(join(tmpdir(), 'tallygate-sim-'));
      mkdirSync(this.dir, { recursive: true });
    }
    return join(this.dir, name);
  }

  /** Runs `step` after `ms` (a job's next phase); pending steps are dropped when the simulator closes. */
  later(ms: number, step: () => void | Promise<void>): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void Promise.resolve()
        .then(step)
        .catch(() => undefined);
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }

  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
    this.orgs.clear();
  }
}
