// What a page is to the shell: an element, a refresh the shell calls on filter changes and on
// every live tick, and which filters it uses.
import type { Me, Role } from './auth.js';
import type { Filters } from './filters.js';

export type FilterName = 'range' | 'org' | 'feature' | 'model' | 'bucket' | 'tz';

export interface PageContext {
  me: Me;
  filters: Filters;
  /** Aborted when the page is left or a newer refresh starts. */
  signal: AbortSignal;
  /** true on the periodic live refresh, false on first load and filter changes. */
  live: boolean;
}

export interface Page {
  el: HTMLElement;
  refresh(ctx: PageContext): Promise<void>;
  destroy?(): void;
}

export interface PageDef {
  path: string;
  title: string;
  roles: Role[];
  filters: FilterName[];
  /** Seconds between live refreshes; 0 for pages that only change when the user acts. */
  liveEvery: number;
  create(me: Me): Page;
}
