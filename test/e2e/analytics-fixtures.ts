// Usage events for the analytics tests, written through the real ledger writer (so the rollups are
// the ones production maintains), plus a small RFC 4180 CSV reader and an authenticated GET.
import { usageEvent, type UsageEvent } from '../../server/ledger/usage-event.js';
import { ADMIN_TOKEN, type Stack } from '../support/stack.js';

export { usageEvent };

export async function writeEvents(stack: Stack, events: UsageEvent[]): Promise<void> {
  for (const e of events) stack.ledger.record(e);
  await stack.ledger.flush();
  const [{ n }] = (await stack.db.query(`SELECT count(*)::int AS n FROM usage_events WHERE id = ANY($1::uuid[])`, [events.map((e) => e.id)])).rows;
  if (n !== events.length) throw new Error(`ledger wrote ${n} of ${events.length} events`);
}

export async function api(stack: Stack, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${stack.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
  });
}

export async function getJson<T>(stack: Stack, path: string): Promise<T> {
  const response = await api(stack, path);
  const body = await response.text();
  if (response.status !== 200) throw new Error(`GET ${path} → ${response.status}: ${body}`);
  return JSON.parse(body) as T;
}

/** RFC 4180: quoted fields with "" escapes and embedded commas/newlines; CRLF rows. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += c;
  }
  if (field || row.length) throw new Error('CSV does not end with CRLF');
  return rows;
}
