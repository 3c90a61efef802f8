// Shared glue between data loads and panels: one place decides how a failed load is shown.
import { ApiError } from './api.js';
import { ChartPanel } from './charts.js';
import { clear, h } from './dom.js';
import { nanosToUsd } from './format.js';
import type { GroupedSeries } from './analytics.js';
import type { Series } from './charts.js';

export function failureText(error: unknown): { text: string; unavailable: boolean } {
  if (error instanceof ApiError) {
    if (error.status === 404) return { text: 'Not available on this gateway yet (its API is missing).', unavailable: true };
    if (error.status === 403) return { text: 'Your role may not see this.', unavailable: true };
    return { text: `Could not load: ${error.message}`, unavailable: false };
  }
  return { text: `Could not load: ${(error as Error).message}`, unavailable: false };
}

/** Runs a load for a panel; returns undefined (and shows why) when it failed. */
export async function load<T>(panel: ChartPanel | null, work: Promise<T>, note?: HTMLElement): Promise<T | undefined> {
  try {
    const result = await work;
    if (note) clear(note);
    return result;
  } catch (error) {
    if ((error as Error).name === 'AbortError') return undefined;
    const { text, unavailable } = failureText(error);
    if (panel) {
      if (unavailable) panel.setUnavailable(text);
      else panel.setError(text);
    }
    if (note) clear(note, h('p', { class: `state-msg ${unavailable ? 'state-unavailable' : 'state-error'}` }, text));
    return undefined;
  }
}

/** Cost series (nano-dollars) as dollar series for drawing. */
export function costSeries(data: GroupedSeries, stack = 'spend'): Series[] {
  return data.groups.map((g) => ({ label: g.name, data: g.values.map((v) => nanosToUsd(v)), stack }));
}

/** An exact CSV built in the browser from what a table shows (amounts from nano-dollars, not floats). */
export function downloadRowsCsv(filename: string, header: string[], rows: Array<Array<string | number>>): void {
  // Values from callers (model names, tag values) are data: one a spreadsheet would run as a formula gets a leading '.
  const escape = (v: string | number) => {
    const text = typeof v === 'string' && /^[=+\-@\t\r]/.test(v) ? `'${v}` : String(v);
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  const text = [header, ...rows].map((r) => r.map(escape).join(',')).join('\r\n') + '\r\n';
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }));
  const link = h('a', { href: url, download: filename });
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
