// Errors by kind per org and feature, cut into episodes (runs of minutes with failures), each with
// the minute it started and a sentence saying what it means; and each org's state now, so an org
// whose calls fail for billing is not shown as "healthy" because its limits have room.
import { Injectable } from '@nestjs/common';
import { EPISODE_GAP_MINUTES, RECENT_MINUTES, type ErrorClass, type ErrorEpisode, type ErrorGroup, type OrgState } from '../contract/errors.js';
import { ErrorsRepository, type ErrorFilters, type FailedMinuteRow } from './errors.repository.js';

const MINUTE = 60_000;
/** An org is failing when at least this share of its recent calls failed for one upstream reason. */
const FAILING_SHARE = 0.1;
/** How far back the start of a failing org's current episode is looked for. */
const LOOKBACK_MINUTES = 24 * 60;

/** Runs of minutes with failures; a gap of more than EPISODE_GAP_MINUTES quiet minutes starts a new one. */
export function episodes(minutes: Array<{ minute: Date; failures: number }>, to: Date): ErrorEpisode[] {
  const out: ErrorEpisode[] = [];
  let current: { start: number; last: number; failures: number } | null = null;
  const close = () => {
    if (!current) return;
    out.push({
      start: new Date(current.start).toISOString(),
      end: new Date(current.last + MINUTE).toISOString(),
      failures: current.failures,
      ongoing: to.getTime() - (current.last + MINUTE) <= EPISODE_GAP_MINUTES * MINUTE,
    });
  };
  for (const m of [...minutes].sort((a, b) => a.minute.getTime() - b.minute.getTime())) {
    const t = m.minute.getTime();
    if (current && t - current.last <= (EPISODE_GAP_MINUTES + 1) * MINUTE) {
      current.last = t;
      current.failures += m.failures;
    } else {
      close();
      current = { start: t, last: t, failures: m.failures };
    }
  }
  close();
  return out;
}

/** What a kind of failure means for whoever reads the page, and what to do about it. */
export function explain(kind: ErrorClass, status: number, type: string | null, code: string | null): string {
  const what = [status, type, code && code !== type ? code : null].filter(Boolean).join(' ');
  switch (kind) {
    case 'billing':
      return `OpenAI refused this org's calls for billing (${what}): the org is out of credit or over its spend limit. Its features fail until someone adds credit or raises the limit in the org's OpenAI billing settings.`;
    case 'upstream_auth':
      return status === 403
        ? `OpenAI refused access (${what}): the org's key may not use this model or endpoint (project permissions, or an unsupported region). Check the key's project permissions in OpenAI.`
        : `OpenAI refused this org's upstream key (${what}): the key was revoked, mistyped or belongs to another org. Tallygate's gateway keys are fine; rotate the org's upstream key in Admin → Orgs.`;
    case 'upstream_5xx':
      return `OpenAI answered with a server error or did not answer in time (${what}). Usually brief and retried by the SDK; if it lasts, check status.openai.com.`;
    case 'gateway':
      return `Tallygate answered without asking OpenAI (${what}): held too long by its own pacing, a feature's hard budget, or the gateway shutting down or without its store.`;
    case 'rate_limit':
      return `OpenAI's rate limit (${what}): see headroom above; spread the calls or ask OpenAI for a higher tier.`;
    case 'request':
      return `The request itself was refused or abandoned (${what}): bad parameters, an unknown model, or the client went away. Fix it in the calling code.`;
  }
}

type Mode = { status: number; type: string | null; code: string | null; failures: number };

@Injectable()
export class ErrorsService {
  constructor(private readonly repository: ErrorsRepository) {}

  async byKind(q: ErrorFilters): Promise<ErrorGroup[]> {
    const [minutes, calls] = await Promise.all([this.repository.failedMinutes(q), this.repository.callCounts(q)]);
    const groups = new Map<string, { org: string; feature: string | null; kind: ErrorClass; minutes: FailedMinuteRow[]; modes: Map<string, Mode> }>();
    for (const row of minutes) {
      const key = `${row.org_id}|${row.feature_id}|${row.kind}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { org: row.org_id, feature: row.feature_id, kind: row.kind, minutes: [], modes: new Map() }));
      g.minutes.push(row);
      const modeKey = `${row.status}|${row.error_type}|${row.error_code}`;
      const mode = g.modes.get(modeKey) ?? { status: row.status, type: row.error_type, code: row.error_code, failures: 0 };
      mode.failures += row.failures;
      g.modes.set(modeKey, mode);
    }
    const requests = new Map(calls.map((c) => [`${c.org_id}|${c.feature_id}`, c.requests]));
    const names = await this.repository.names(
      [...new Set([...groups.values()].map((g) => g.org))],
      [...new Set([...groups.values()].flatMap((g) => (g.feature ? [g.feature] : [])))],
    );
    return [...groups.values()]
      .map((g): ErrorGroup => {
        const top = [...g.modes.values()].sort((a, b) => b.failures - a.failures)[0];
        const failures = g.minutes.reduce((s, m) => s + m.failures, 0);
        const org = names.orgs.get(g.org);
        const feature = g.feature ? names.features.get(g.feature) : undefined;
        return {
          org: { id: g.org, name: org?.name ?? g.org, openaiOrgId: org?.openaiOrgId ?? '' },
          feature: { id: g.feature, slug: feature?.slug ?? null, name: feature?.name ?? null },
          kind: g.kind,
          failures,
          // The rollup is written by the same batch as the ledger rows: never fewer calls than failures.
          requests: Math.max(failures, requests.get(`${g.org}|${g.feature}`) ?? 0),
          status: top.status,
          errorType: top.type,
          errorCode: top.code,
          explanation: explain(g.kind, top.status, top.type, top.code),
          episodes: episodes(g.minutes, q.to),
        };
      })
      .sort((a, b) => b.failures - a.failures || a.org.name.localeCompare(b.org.name));
  }

  /** Per org: failing for billing, its upstream key or OpenAI's servers in the last RECENT_MINUTES, or ok. */
  async orgStates(q: Omit<ErrorFilters, 'from' | 'to'>, now = new Date()): Promise<Map<string, OrgState>> {
    const window = { ...q, from: new Date(now.getTime() - RECENT_MINUTES * MINUTE), to: now };
    const [minutes, calls] = await Promise.all([this.repository.failedMinutes({ ...window, feature: undefined }), this.repository.callCounts({ ...window, feature: undefined })]);
    const states = new Map<string, OrgState>();
    for (const c of calls) {
      const s = states.get(c.org_id) ?? { state: 'ok', requests: 0, failures: 0, since: null };
      s.requests += c.requests;
      states.set(c.org_id, s);
    }
    const byKind = new Map<string, { failures: number; minutes: FailedMinuteRow[] }>();
    for (const m of minutes) {
      if (m.kind !== 'billing' && m.kind !== 'upstream_auth' && m.kind !== 'upstream_5xx') continue;
      const key = `${m.org_id}|${m.kind}`;
      const entry = byKind.get(key) ?? { failures: 0, minutes: [] };
      entry.failures += m.failures;
      entry.minutes.push(m);
      byKind.set(key, entry);
    }
    for (const [key, entry] of byKind) {
      const [org, kind] = key.split('|') as [string, 'billing' | 'upstream_auth' | 'upstream_5xx'];
      const s = states.get(org) ?? { state: 'ok', requests: 0, failures: 0, since: null };
      s.requests = Math.max(s.requests, entry.failures);
      if (entry.failures / s.requests >= FAILING_SHARE && entry.failures > s.failures) Object.assign(s, { state: kind, failures: entry.failures });
      states.set(org, s);
    }
    // When did it start? Failing orgs are few: look back a day for the start of their current episode.
    for (const [org, s] of states) {
      if (s.state === 'ok' || s.state === 'idle') continue;
      const day = await this.repository.failedMinutes({ org, from: new Date(now.getTime() - LOOKBACK_MINUTES * MINUTE), to: now });
      s.since = episodes(day.filter((m) => m.kind === s.state), now).at(-1)?.start ?? null;
    }
    return states;
  }
}
