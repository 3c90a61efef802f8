// Cells the headroom tables share (Rate limits, Overview): a limit's use, what is left and when it
// is full again on one projection to now, and whether the org's calls fail upstream.
import type { LatestHeadroom } from './analytics.js';
import { h } from './dom.js';
import { formatDateTime, formatDuration, formatInt, formatPct } from './format.js';

type Limit = LatestHeadroom['requests'];

/** "94% used · 1 of 20 left · full in 54 s", all on the same projection to now. */
export function limitCell(v: Limit): string | Node {
  if (!v) return '—';
  const resetIn = v.resetAt ? Date.parse(v.resetAt) - Date.now() : null;
  const reset = resetIn === null ? 'reset unknown' : resetIn <= 0 ? 'full again' : `full in ${formatDuration(resetIn / 1000)}`;
  return h(
    'span',
    { class: 'limit-cell', 'data-used': v.utilisationNow.toFixed(4), 'data-remaining': v.remainingNow },
    h('strong', {}, `${formatPct(v.utilisationNow, 0)} used`),
    ` · ${formatInt(v.remainingNow)} of ${formatInt(v.limit)} left · ${reset}`,
  );
}

const STATE_TEXT: Record<NonNullable<LatestHeadroom['orgState']>['state'], string> = {
  ok: 'ok',
  idle: 'no calls in 15 min',
  billing: 'failing: billing',
  upstream_auth: 'failing: upstream key refused',
  upstream_5xx: 'failing: OpenAI errors',
};

export function stateCell(r: LatestHeadroom, tz: string): Node {
  const s = r.orgState ?? { state: 'idle' as const, requests: 0, failures: 0, since: null };
  const failing = s.state !== 'ok' && s.state !== 'idle';
  return h(
    'span',
    { class: `org-state state-${failing ? 'failing' : s.state}`, 'data-state': s.state, title: failing ? `${s.failures} of ${s.requests} calls in the last 15 minutes failed` : null },
    STATE_TEXT[s.state],
    failing ? ` (${formatPct(s.failures / Math.max(1, s.requests), 0)} of calls${s.since ? `, since ${formatDateTime(s.since, tz)}` : ''})` : null,
  );
}

