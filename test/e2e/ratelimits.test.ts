// Headroom, throttling and /metrics, driven through the gateway with the official SDK: an org with
// tight limits pushed past its TPM and RPM, and an org whose billing is broken.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LatestHeadroom, ThrottleCounts } from '../../server/ratelimits/headroom.types.js';
import { ADMIN_TOKEN, startStack, type Stack } from '../support/stack.js';

let stack: Stack;
type Headers = Record<string, string>;

beforeAll(async () => {
  stack = await startStack({
    orgs: [{ id: 'org-tight', limits: { 'gpt-4o-mini': { rpm: 5, tpm: 1000 } } }, { id: 'org-roomy' }, { id: 'org-broke', outOfCredit: true }],
  });
});
afterAll(() => stack?.close());

const api = async <T>(path: string, token: string | null = ADMIN_TOKEN): Promise<{ status: number; body: T }> => {
  const res = await fetch(`${stack.url}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: (await res.json()) as T };
};

const ask = (maxTokens: number) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Count to three' }], max_tokens: maxTokens });

/** Sends one chat call; returns the status and the x-ratelimit-* headers the client saw. */
async function call(client: OpenAI, maxTokens: number): Promise<{ status: number; code?: string | null; headers: Headers }> {
  try {
    const { response } = await client.chat.completions.create(ask(maxTokens)).withResponse();
    return { status: response.status, headers: Object.fromEntries(response.headers) };
  } catch (error) {
    if (!(error instanceof OpenAI.APIError)) throw error;
    return { status: error.status ?? 0, code: error.code, headers: Object.fromEntries(error.headers ?? new Headers()) };
  }
}

/** Prometheus text → { 'name{a="x",b="y"}': value } with labels sorted, so tests can look samples up. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`unparseable metrics line: ${line}`);
    const labels = match[2] ? [...match[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => `${m[1]}="${m[2]}"`).sort().join(',') : '';
    samples.set(`${match[1]}{${labels}}`, Number(match[3]));
  }
  return samples;
}
const sample = (name: string, labels: Record<string, string>) =>
  `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',')}}`;

// The API's own response types: the test reads what the API says it returns.
type LatestRow = LatestHeadroom;
interface Summary extends ThrottleCounts {
  org: { openaiOrgId: string };
  feature: { slug: string };
}

describe('an org driven past its TPM and RPM, and an org out of credit', () => {
  const seen: Array<{ status: number; code?: string | null; headers: Headers }> = [];

  beforeAll(async () => {
    const tight = stack.client(stack.features[0]);
    // 1000 TPM: 600 reserved output fits once, then not again; 2000 can never fit (request too large).
    seen.push(await call(tight, 600));
    seen.push(await call(tight, 600));
    seen.push(await call(tight, 2000));
    // 5 RPM: four more small calls use up the minute, two more are refused on requests.
    for (let i = 0; i < 6; i++) seen.push(await call(tight, 5));
    // The SDK retries a billing 429 like any other: three attempts, two of them retries.
    const broke = stack.client(stack.features[2], { maxRetries: 2 });
    await expect(broke.chat.completions.create(ask(5))).rejects.toMatchObject({ status: 429, code: 'insufficient_quota' });
    await stack.ledger.flush();
  }, 30_000);

  it('the simulator refused what we expect (the scenario itself is right)', () => {
    expect(seen.map((s) => s.code ?? s.status)).toEqual([200, 'rate_limit_exceeded', 'rate_limit_exceeded', 200, 200, 200, 200, 'rate_limit_exceeded', 'rate_limit_exceeded']);
    const sim = stack.sim.stats().orgs;
    expect(sim['org-tight'].rateLimited).toEqual({ requests: 2, tokens: 2, quota: 0 });
    expect(sim['org-broke'].rateLimited.quota).toBe(3);
  });

  it('reports the latest limit, remaining and reset per org and model as the simulator last sent them', async () => {
    const { status, body } = await api<{ data: LatestRow[] }>('/api/headroom/latest?org=org-tight');
    expect(status).toBe(200);
    expect(body.data).toHaveLength(1);
    const [row] = body.data;
    const last = seen.at(-1)!.headers;
    expect(row.model).toBe('gpt-4o-mini');
    expect(row.requests).toMatchObject({ limit: 5, remaining: Number(last['x-ratelimit-remaining-requests']) });
    expect(row.requests!.remaining).toBe(0);
    expect(row.requests!.utilisation).toBe(1);
    expect(row.tokens).toMatchObject({ limit: 1000, remaining: Number(last['x-ratelimit-remaining-tokens']) });
    // The requests window refills within 60 s of the observation, so "now" is already a little below 1.
    expect(row.requests!.resetMs).toBeGreaterThan(0);
    expect(row.requests!.resetMs).toBeLessThanOrEqual(60_000);
    expect(row.requests!.utilisationNow).toBeLessThanOrEqual(1);
    expect(row.requests!.utilisationNow).toBeGreaterThan(0.8);
    expect(Date.now() - Date.parse(row.observedAt)).toBeLessThan(30_000);
  });

  it('keeps one history row per org, model and minute, not one per request', async () => {
    const { rows } = await stack.db.query(`SELECT org_id, model, minute, observations FROM ratelimit_minutes`);
    const keys = new Set(rows.map((r) => `${r.org_id}|${r.model}|${(r.minute as Date).toISOString()}`));
    expect(keys.size).toBe(rows.length);
    expect(rows.reduce((n, r) => n + (r.observations as number), 0)).toBeGreaterThanOrEqual(9);
    expect(rows.length).toBeLessThanOrEqual(4); // two orgs, at most two minutes each
    const { body } = await api<{ data: Array<{ model: string; points: Array<{ requestsUtilisation: number; peakRequestsUtilisation: number }> }> }>(
      '/api/headroom/series?org=org-tight&model=gpt-4o-mini-2024-07-18',
    );
    expect(body.data).toHaveLength(1);
    expect(body.data[0].points.at(-1)!.peakRequestsUtilisation).toBe(1);
  });

  it('filters headroom by feature: the orgs that feature may use', async () => {
    const { body } = await api<{ data: LatestRow[] }>(`/api/headroom/latest?feature=${stack.features[2].slug}`);
    expect(body.data.map((r) => r.org.openaiOrgId)).toEqual(['org-broke']);
  });

  it('lists the org closest to its limit first', async () => {
    const { body } = await api<{ data: LatestRow[] }>('/api/headroom/closest?limit=5');
    expect(body.data[0].org.openaiOrgId).toBe('org-tight');
  });

  it('splits 429s per feature by kind, and counts the billing org as quota, never as throttling', async () => {
    const { status, body } = await api<{ data: Summary[] }>('/api/throttling/summary');
    expect(status).toBe(200);
    const tight = body.data.find((s) => s.org.openaiOrgId === 'org-tight')!;
    expect(tight).toMatchObject({ requests: 9, rateLimitRequests: 2, rateLimitTokens: 1, requestTooLarge: 1, quota: 0, throttled: 4, retries: 0 });
    const broke = body.data.find((s) => s.org.openaiOrgId === 'org-broke')!;
    expect(broke).toMatchObject({ requests: 3, quota: 3, throttled: 0, rateLimitRequests: 0, rateLimitTokens: 0, retries: 2 });
    expect(broke.feature.slug).toBe(stack.features[2].slug);

    const series = await api<{ data: Array<{ feature: { slug: string }; points: Array<{ minute: string; throttled: number }> }> }>(
      `/api/throttling/series?feature=${stack.features[0].slug}`,
    );
    expect(series.body.data.flatMap((s) => s.points).reduce((n, p) => n + p.throttled, 0)).toBe(4);
  });

  it('serves parseable Prometheus metrics that agree with the simulator', async () => {
    const res = await fetch(`${stack.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const m = parseMetrics(await res.text());
    const last = seen.at(-1)!.headers;
    const tight = { org: 'org-tight', model: 'gpt-4o-mini' };
    expect(m.get(sample('tallygate_ratelimit_limit', { ...tight, resource: 'requests' }))).toBe(5);
    expect(m.get(sample('tallygate_ratelimit_remaining', { ...tight, resource: 'requests' }))).toBe(Number(last['x-ratelimit-remaining-requests']));
    expect(m.get(sample('tallygate_ratelimit_remaining', { ...tight, resource: 'tokens' }))).toBe(Number(last['x-ratelimit-remaining-tokens']));
    const labels = { ...tight, feature: stack.features[0].slug };
    expect(m.get(sample('tallygate_requests_total', labels))).toBe(9);
    expect(m.get(sample('tallygate_429_total', { ...labels, kind: 'rate_limit_requests' }))).toBe(2);
    expect(m.get(sample('tallygate_429_total', { ...labels, kind: 'rate_limit_tokens' }))).toBe(1);
    expect(m.get(sample('tallygate_429_total', { ...labels, kind: 'request_too_large' }))).toBe(1);
    const broke = { org: 'org-broke', model: 'gpt-4o-mini', feature: stack.features[2].slug };
    expect(m.get(sample('tallygate_429_total', { ...broke, kind: 'quota' }))).toBe(3);
    expect(m.get(sample('tallygate_retries_total', broke))).toBe(2);
    // Engineers read /metrics: usage, never money.
    expect([...m.keys()].map((key) => key.split('{')[0]).filter((name) => /cost|usd|spend|nanos|budget/i.test(name))).toEqual([]);
    expect(m.get(sample('tallygate_tokens_total', { ...labels, type: 'output' }))).toBeGreaterThan(0);
    expect(m.get('tallygate_gateway_added_latency_seconds_count{}')).toBe(12);
    // Every sample is per org, model and feature (or fewer labels): nothing per request.
    expect([...m.keys()].every((k) => !/req_|[0-9a-f]{8}-[0-9a-f]{4}-/.test(k))).toBe(true);

    // The ledger's own health: once flushed, every event of this replica is a row, none waiting.
    await stack.ledger.flush();
    const after = parseMetrics(await (await fetch(`${stack.url}/metrics`)).text());
    const rows = Number((await stack.db.query('SELECT count(*) AS n FROM usage_events')).rows[0].n);
    expect(rows).toBeGreaterThan(0);
    expect(after.get('tallygate_ledger_events_total{result="written"}')).toBe(rows);
    expect(after.get('tallygate_ledger_events_total{result="rejected"}')).toBe(0);
    expect(after.get('tallygate_ledger_queued_events{}')).toBe(0);
  });

  it('is for engineers: the API refuses anonymous callers and rejects bad ranges in OpenAI shape', async () => {
    expect((await api('/api/headroom/latest', null)).status).toBe(401);
    expect((await api('/api/throttling/summary', null)).status).toBe(401);
    const bad = await api<{ error: { type: string; param: string } }>('/api/headroom/series?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z');
    expect(bad.status).toBe(400);
    expect(bad.body.error.type).toBe('invalid_request_error');
  });
});
