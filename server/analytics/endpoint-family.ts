// The endpoint families the spend views break down by, derived from the ledger's endpoint name in
// this one place: the TypeScript function and the SQL expression are generated from the same rules.

import type { EndpointFamily } from '../contract/analytics.js';

export { ENDPOINT_FAMILIES, type EndpointFamily } from '../contract/analytics.js';

/** Each family's endpoint names: exact names, and a prefix for the routes under a resource (`images.edits`, `responses.retrieve`). */
const RULES: ReadonlyArray<{ family: EndpointFamily; names: readonly string[]; prefix?: string }> = [
  { family: 'chat', names: ['chat.completions', 'completions'], prefix: 'chat.' },
  { family: 'responses', names: ['responses'], prefix: 'responses.' },
  { family: 'embeddings', names: ['embeddings'] },
  { family: 'images', names: [], prefix: 'images.' },
  { family: 'speech', names: ['audio.speech'] },
  { family: 'transcription', names: ['audio.transcriptions', 'audio.translations'] },
  // The lines of Batch API batches (metered by server/batches/ at batch prices), and the batches routes.
  { family: 'batch', names: ['batch'], prefix: 'batches.' },
  // Voice sessions (one row per response over the WebSocket) and their HTTP routes (client secrets, calls).
  { family: 'realtime', names: ['realtime'], prefix: 'realtime.' },
];

export function endpointFamily(endpoint: string): EndpointFamily {
  for (const rule of RULES) {
    if (rule.names.includes(endpoint) || (rule.prefix !== undefined && endpoint.startsWith(rule.prefix))) return rule.family;
  }
  return 'other';
}

const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** The same rules as a SQL CASE over `column` (an endpoint name column). Constants only: safe to inline. */
export function endpointFamilySql(column: string): string {
  const whens = RULES.map(({ family, names, prefix }) => {
    const tests = [...(names.length ? [`${column} IN (${names.map(quote).join(', ')})`] : []), ...(prefix ? [`left(${column}, ${prefix.length}) = ${quote(prefix)}`] : [])];
    return `WHEN ${tests.join(' OR ')} THEN ${quote(family)}`;
  });
  return `(CASE ${whens.join(' ')} ELSE 'other' END)`;
}
