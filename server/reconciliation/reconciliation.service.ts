// Finance's reconciliation: per org and UTC day (and per model, and per OpenAI key id) the ledger's requests,
// tokens and cost beside OpenAI's own, the difference, and each gap explained where it can be: traffic with
// keys Tallygate does not hold, estimated ledger rows, spend not metered per call, and prices. Reads only:
// nothing here writes to the ledger. Every figure is labelled with its side (`ledger`, `openai`).
import { Injectable } from '@nestjs/common';
import { csvRow } from '../contract/csv.js';
import type { StatementGapKind, StatementReconciliation } from './reconciliation.types.js';
import { decimalToScaled, nanosToUsd } from '../pricing/cost.js';
import { modelFamily } from '../pricing/model-family.js';
import type {
  Gap,
  KeyLine,
  LedgerFigures,
  ModelLine,
  OrgDayLine,
  OrgReconciliationState,
  ReconciliationReport,
  ReportQuery,
  SideFigures,
  SyncStatus,
} from './reconciliation.dto.js';
import { ReconciliationRepository, type ReconOrgRow, type SyncStateRow } from './reconciliation.repository.js';
import { SYNC_ENDPOINTS, SyncService } from './sync.service.js';

const DAY_MS = 86_400_000;
/** Line items that are a model's tokens (`gpt-4o-mini-2024-07-18, input`); every other line item is not metered per call. */
const MODEL_LINE = /^(.+), (input|cached input|audio input|output|audio)$/;

interface Figures {
  requests: number;
  inputTokens: number;
  cachedTokens: number;
  outputTokens: number;
  cost: bigint;
}
const zero = (): Figures => ({ requests: 0, inputTokens: 0, cachedTokens: 0, outputTokens: 0, cost: 0n });
const side = (f: Figures): SideFigures => ({
  requests: f.requests,
  inputTokens: f.inputTokens,
  cachedTokens: f.cachedTokens,
  outputTokens: f.outputTokens,
  costNanos: f.cost.toString(),
});

interface ModelAcc {
  ledger: Figures & { estimatedRequests: number; estimatedCost: bigint; unpricedRequests: number };
  openai: Figures;
  /** OpenAI's cost by line kind (input, cached input, output...), for the price it implies. */
  lines: Map<string, bigint>;
}
interface DayAcc {
  orgId: string;
  day: string;
  models: Map<string, ModelAcc>;
  outside: Map<string, { requests: number; inputTokens: number; cachedTokens: number; outputTokens: number; cost: bigint }>;
  unmetered: Map<string, bigint>;
}

export interface Drift {
  orgId: string;
  orgName: string;
  /** OpenAI minus ledger over the window, nano-dollars. */
  differenceNanos: string;
  /** As a percentage of OpenAI's cost (0 when OpenAI's cost is 0). */
  percent: number;
  openaiCostNanos: string;
  ledgerCostNanos: string;
  from: string;
  to: string;
}

/** Percentage with two decimals, exact: 100 × a / b. */
function percent(a: bigint, b: bigint): string | null {
  if (b === 0n) return null;
  const scaled = (a * 10_000n) / b; // hundredths of a percent, truncated toward zero
  const abs = scaled < 0n ? -scaled : scaled;
  return `${scaled < 0n ? '-' : ''}${abs / 100n}.${(abs % 100n).toString().padStart(2, '0')}`;
}

/** USD per 1M tokens from nano-dollars over tokens, six decimals: nanos / tokens × 1e-3. */
function perMillion(nanos: bigint, tokens: number): string | null {
  if (tokens <= 0) return null;
  const micro = (nanos * 1000n * 1_000_000n + BigInt(tokens) * 500_000n) / (BigInt(tokens) * 1_000_000n); // USD per 1M × 1e6
  return `${micro / 1_000_000n}.${(micro % 1_000_000n).toString().padStart(6, '0')}`;
}

/** The statement's order of gap kinds. */
const GAP_KINDS: readonly StatementGapKind[] = ['outside_tallygate', 'estimated', 'unmetered', 'price', 'unexplained'];

const dayStart = (iso: string) => new Date(`${iso}T00:00:00Z`);

@Injectable()
export class ReconciliationService {
  constructor(
    private readonly repo: ReconciliationRepository,
    private readonly sync: SyncService,
  ) {}

  async states(orgId?: string): Promise<OrgReconciliationState[]> {
    const orgs = await this.repo.orgs(orgId);
    const ids = orgs.map((o) => o.id);
    const [states, leased] = await Promise.all([this.repo.syncStates(ids), this.repo.leasedOrgs(ids)]);
    return orgs.map((org) => this.state(org, states.filter((s) => s.org_id === org.id), leased.includes(org.id)));
  }

  private state(org: ReconOrgRow, rows: SyncStateRow[], leased: boolean): OrgReconciliationState {
    const running = (leased || this.sync.isRunning(org.id)) && rows.some((r) => r.run_started_at);
    const done = rows.reduce((n, r) => n + r.buckets_done, 0);
    const total = rows.reduce((n, r) => n + r.buckets_total, 0);
    const started = rows.reduce<number | null>((min, r) => (r.run_started_at && (min === null || r.run_started_at.getTime() < min) ? r.run_started_at.getTime() : min), null);
    let eta: string | null = null;
    if (running && started !== null && done > 0 && total > done) {
      const elapsed = Date.now() - started;
      eta = new Date(Date.now() + (elapsed / done) * (total - done)).toISOString();
    }
    const latestError = rows.filter((r) => r.last_error).sort((a, b) => (b.last_error_at?.getTime() ?? 0) - (a.last_error_at?.getTime() ?? 0))[0];
    const complete = rows.length === SYNC_ENDPOINTS.length;
    const successes = rows.map((r) => r.last_success_at?.getTime() ?? 0);
    const watermarks = rows.map((r) => r.watermark?.getTime() ?? 0);
    const sync: SyncStatus = {
      running,
      bucketsDone: done,
      bucketsTotal: total,
      eta,
      lastSuccessAt: complete && !successes.includes(0) ? new Date(Math.min(...successes)).toISOString() : null,
      lastError: latestError?.last_error ?? null,
      lastErrorAt: latestError?.last_error_at?.toISOString() ?? null,
      syncedUntil: complete && !watermarks.includes(0) ? new Date(Math.min(...watermarks)).toISOString() : null,
    };
    return { orgId: org.id, orgName: org.name, enabled: org.has_admin_key, keysWithoutOpenaiId: org.keys_without_openai_id, sync };
  }

  async report(query: ReportQuery): Promise<ReconciliationReport> {
    const from = dayStart(query.from);
    const to = new Date(dayStart(query.to).getTime() + DAY_MS);
    const states = await this.states(query.org);
    const orgIds = states.map((s) => s.orgId);
    const names = new Map(states.map((s) => [s.orgId, s.orgName]));
    const [ledger, usage, costs, keys] = await Promise.all([
      this.repo.ledgerDays(orgIds, from, to),
      this.repo.openaiUsageDays(orgIds, from, to),
      this.repo.openaiCostDays(orgIds, from, to),
      this.repo.upstreamKeyIds(orgIds),
    ]);
    const keyIds = new Map<string, Set<string>>();
    for (const k of keys) (keyIds.get(k.org_id) ?? keyIds.set(k.org_id, new Set()).get(k.org_id)!).add(k.openai_key_id);
    // Without any recorded key id, traffic through Tallygate cannot be told from traffic outside it: count it all as ours.
    const inside = (orgId: string, apiKeyId: string) => {
      const ids = keyIds.get(orgId);
      return !ids || apiKeyId === '' || ids.has(apiKeyId);
    };

    const days = new Map<string, DayAcc>();
    const dayOf = (orgId: string, day: string): DayAcc => {
      const key = `${day}|${orgId}`;
      let acc = days.get(key);
      if (!acc) days.set(key, (acc = { orgId, day, models: new Map(), outside: new Map(), unmetered: new Map() }));
      return acc;
    };
    const modelOf = (acc: DayAcc, model: string): ModelAcc => {
      let m = acc.models.get(model);
      if (!m) {
        m = { ledger: { ...zero(), estimatedRequests: 0, estimatedCost: 0n, unpricedRequests: 0 }, openai: zero(), lines: new Map() };
        acc.models.set(model, m);
      }
      return m;
    };
    const outsideOf = (acc: DayAcc, apiKeyId: string) => {
      let o = acc.outside.get(apiKeyId);
      if (!o) acc.outside.set(apiKeyId, (o = { requests: 0, inputTokens: 0, cachedTokens: 0, outputTokens: 0, cost: 0n }));
      return o;
    };

    for (const row of ledger) {
      const m = modelOf(dayOf(row.org_id, row.day), modelFamily(row.model ?? ''));
      m.ledger.requests += Number(row.requests);
      m.ledger.inputTokens += Number(row.input_tokens);
      m.ledger.cachedTokens += Number(row.cached_tokens);
      m.ledger.outputTokens += Number(row.output_tokens);
      m.ledger.cost += BigInt(row.cost_nanos);
      m.ledger.estimatedRequests += Number(row.estimated_requests);
      m.ledger.estimatedCost += BigInt(row.estimated_cost_nanos);
      m.ledger.unpricedRequests += Number(row.unpriced_requests);
    }
    for (const row of usage) {
      const acc = dayOf(row.org_id, row.day);
      const target = inside(row.org_id, row.api_key_id) ? modelOf(acc, modelFamily(row.model)).openai : outsideOf(acc, row.api_key_id);
      target.requests += Number(row.requests);
      target.inputTokens += Number(row.input_tokens);
      target.cachedTokens += Number(row.cached_tokens);
      target.outputTokens += Number(row.output_tokens);
    }
    for (const row of costs) {
      const acc = dayOf(row.org_id, row.day);
      const nanos = BigInt(row.nanos);
      const line = MODEL_LINE.exec(row.line_item);
      if (!line) acc.unmetered.set(row.line_item || '(no line item)', (acc.unmetered.get(row.line_item) ?? 0n) + nanos);
      else if (!inside(row.org_id, row.api_key_id)) outsideOf(acc, row.api_key_id).cost += nanos;
      else {
        const m = modelOf(acc, modelFamily(line[1]));
        m.openai.cost += nanos;
        m.lines.set(line[2], (m.lines.get(line[2]) ?? 0n) + nanos);
      }
    }

    const lines = [...days.values()]
      .sort((a, b) => a.day.localeCompare(b.day) || (names.get(a.orgId) ?? '').localeCompare(names.get(b.orgId) ?? ''))
      .map((acc) => {
        const syncedAt = states.find((s) => s.orgId === acc.orgId)?.sync.lastSuccessAt;
        const partial = !syncedAt || new Date(syncedAt).getTime() < dayStart(acc.day).getTime() + DAY_MS;
        return this.dayLine(acc, names.get(acc.orgId) ?? acc.orgId, keyIds.has(acc.orgId), partial ? syncedAt ?? null : undefined);
      });
    const sum = (pick: (l: OrgDayLine) => string) => lines.reduce((n, l) => n + BigInt(pick(l)), 0n);
    const ledgerCost = sum((l) => l.ledger.costNanos);
    const openaiCost = sum((l) => l.openai.costNanos);
    return {
      from: query.from,
      to: query.to,
      orgs: states,
      days: lines,
      totals: { ledgerCostNanos: ledgerCost.toString(), openaiCostNanos: openaiCost.toString(), differenceNanos: (openaiCost - ledgerCost).toString() },
    };
  }

  /** `partialSince`: set when OpenAI's numbers for the day were synced before it ended (null: never synced). */
  private dayLine(acc: DayAcc, orgName: string, keyIdsKnown: boolean, partialSince?: string | null): OrgDayLine {
    const lag =
      partialSince === undefined
        ? ''
        : `OpenAI's numbers for this day are synced only up to ${partialSince ?? 'never'}: calls since are in the ledger only, for now. `;
    const ledgerTotal = { ...zero(), estimatedRequests: 0, estimatedCost: 0n, unpricedRequests: 0 };
    const openaiTotal = zero();
    const gaps: Gap[] = [];
    const models: ModelLine[] = [];
    for (const [model, m] of [...acc.models.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      for (const k of ['requests', 'inputTokens', 'cachedTokens', 'outputTokens', 'estimatedRequests', 'unpricedRequests'] as const) ledgerTotal[k] += m.ledger[k];
      ledgerTotal.cost += m.ledger.cost;
      ledgerTotal.estimatedCost += m.ledger.estimatedCost;
      for (const k of ['requests', 'inputTokens', 'cachedTokens', 'outputTokens'] as const) openaiTotal[k] += m.openai[k];
      openaiTotal.cost += m.openai.cost;
      const difference = m.openai.cost - m.ledger.cost;
      models.push({ model, ledger: ledgerFigures(m.ledger), openai: side(m.openai), differenceNanos: difference.toString() });
      // Only money is a gap: token counts may differ at no cost (moderations report no usage to the gateway,
      // transcriptions report seconds to OpenAI's usage, not tokens).
      if (difference === 0n) continue;
      const countsEqual =
        m.openai.requests === m.ledger.requests &&
        m.openai.inputTokens === m.ledger.inputTokens &&
        m.openai.cachedTokens === m.ledger.cachedTokens &&
        m.openai.outputTokens === m.ledger.outputTokens;
      if (m.ledger.estimatedRequests > 0) {
        gaps.push({
          kind: 'estimated',
          model,
          nanos: difference.toString(),
          detail:
            `${m.ledger.estimatedRequests} ledger row(s) of ${model} are estimates (streams aborted, calls cut short) worth $${nanosToUsd(m.ledger.estimatedCost)}; ` +
            `OpenAI counted ${m.openai.inputTokens} input / ${m.openai.outputTokens} output tokens against the ledger's ${m.ledger.inputTokens} / ${m.ledger.outputTokens}.`,
        });
      } else if (countsEqual || m.ledger.unpricedRequests > 0) {
        const uncached = m.openai.inputTokens - m.openai.cachedTokens;
        const impliedPrice = { input: perMillion(m.lines.get('input') ?? 0n, uncached), output: perMillion(m.lines.get('output') ?? 0n, m.openai.outputTokens) };
        gaps.push({
          kind: 'price',
          model,
          nanos: difference.toString(),
          impliedPrice,
          detail:
            (m.ledger.unpricedRequests > 0
              ? `Tallygate has no price for ${model}: ${m.ledger.unpricedRequests} call(s) were recorded without a cost. `
              : `Calls and tokens agree but the cost does not: Tallygate's price for ${model} differs from OpenAI's. `) +
            `OpenAI's bill implies $${impliedPrice.input ?? '?'} input / $${impliedPrice.output ?? '?'} output per 1M tokens.`,
        });
      } else {
        gaps.push({
          kind: 'unexplained',
          model,
          nanos: difference.toString(),
          detail:
            lag +
            `OpenAI counted ${m.openai.requests} call(s), ${m.openai.inputTokens} input / ${m.openai.outputTokens} output tokens of ${model}; the ledger ` +
            `${m.ledger.requests}, ${m.ledger.inputTokens} / ${m.ledger.outputTokens} (calls in flight at a crash, or not through Tallygate with a key id not recorded).`,
        });
      }
    }
    if (acc.outside.size > 0) {
      let cost = 0n;
      const keys = [...acc.outside.entries()].map(([apiKeyId, o]) => {
        cost += o.cost;
        for (const k of ['requests', 'inputTokens', 'cachedTokens', 'outputTokens'] as const) openaiTotal[k] += o[k];
        return { apiKeyId, requests: o.requests, costNanos: o.cost.toString() };
      });
      openaiTotal.cost += cost;
      gaps.push({
        kind: 'outside_tallygate',
        nanos: cost.toString(),
        keys,
        detail: `${keys.reduce((n, k) => n + k.requests, 0)} call(s) made with ${keys.length} key(s) that are not this org's upstream keys in Tallygate: ${keys.map((k) => k.apiKeyId).join(', ')}.`,
      });
    }
    for (const [lineItem, nanos] of acc.unmetered) {
      openaiTotal.cost += nanos;
      gaps.push({ kind: 'unmetered', lineItem, nanos: nanos.toString(), detail: `"${lineItem}" is billed by OpenAI but not metered per call by any gateway.` });
    }
    if (!keyIdsKnown && openaiTotal.requests > 0) {
      gaps.push({
        kind: 'unexplained',
        nanos: '0',
        detail: "No upstream key of this org has OpenAI's key id recorded, so traffic outside Tallygate cannot be told apart: set it on each key (Admin → Orgs).",
      });
    }
    const difference = openaiTotal.cost - ledgerTotal.cost;
    return {
      day: acc.day,
      orgId: acc.orgId,
      orgName,
      ledger: ledgerFigures(ledgerTotal),
      openai: side(openaiTotal),
      differenceNanos: difference.toString(),
      differencePercent: percent(difference, openaiTotal.cost),
      gaps,
      models,
      partial: partialSince !== undefined,
    };
  }

  /** OpenAI's usage and costs per key id over the range, with the Tallygate upstream key each belongs to (null: outside). */
  async keys(query: ReportQuery & { org: string }): Promise<KeyLine[]> {
    const from = dayStart(query.from);
    const to = new Date(dayStart(query.to).getTime() + DAY_MS);
    const [usage, costs, keys] = await Promise.all([
      this.repo.openaiUsageDays([query.org], from, to),
      this.repo.openaiCostDays([query.org], from, to),
      this.repo.upstreamKeyIds([query.org]),
    ]);
    const lines = new Map<string, KeyLine>();
    const lineOf = (apiKeyId: string): KeyLine => {
      let line = lines.get(apiKeyId);
      if (!line) {
        const key = keys.find((k) => k.openai_key_id === apiKeyId);
        line = { apiKeyId, upstreamKey: key ? { id: key.id, masked: key.masked, label: key.label } : null, requests: 0, inputTokens: 0, outputTokens: 0, costNanos: '0' };
        lines.set(apiKeyId, line);
      }
      return line;
    };
    for (const row of usage) {
      const line = lineOf(row.api_key_id);
      line.requests += Number(row.requests);
      line.inputTokens += Number(row.input_tokens);
      line.outputTokens += Number(row.output_tokens);
    }
    for (const row of costs) {
      if (!MODEL_LINE.test(row.line_item) && row.api_key_id === '') continue; // org-wide charges belong to no key
      const line = lineOf(row.api_key_id);
      line.costNanos = (BigInt(line.costNanos) + BigInt(row.nanos)).toString();
    }
    return [...lines.values()].sort((a, b) => Number(BigInt(b.costNanos) - BigInt(a.costNanos)));
  }

  /** The report as CSV: one line per org × day × model, and one per org × day (model "(all)") with its gaps. */
  toCsv(report: ReconciliationReport): string {
    const usd = (n: string) => nanosToUsd(n);
    let out = csvRow([
      'day', 'org', 'model',
      'ledger_requests', 'ledger_input_tokens', 'ledger_output_tokens', 'ledger_cost_usd', 'ledger_estimated_requests', 'ledger_unpriced_requests',
      'openai_requests', 'openai_input_tokens', 'openai_output_tokens', 'openai_cost_usd',
      'difference_usd', 'difference_percent', 'gaps',
    ]);
    for (const d of report.days) {
      const gaps = d.gaps.map((g) => `${g.kind}${g.model ? ` ${g.model}` : ''}${g.lineItem ? ` ${g.lineItem}` : ''}: $${usd(g.nanos)}`).join('; ');
      out += csvRow([
        d.day, d.orgName, '(all)',
        d.ledger.requests, d.ledger.inputTokens, d.ledger.outputTokens, usd(d.ledger.costNanos), d.ledger.estimatedRequests, d.ledger.unpricedRequests,
        d.openai.requests, d.openai.inputTokens, d.openai.outputTokens, usd(d.openai.costNanos),
        usd(d.differenceNanos), d.differencePercent, gaps,
      ]);
      for (const m of d.models) {
        out += csvRow([
          d.day, d.orgName, m.model,
          m.ledger.requests, m.ledger.inputTokens, m.ledger.outputTokens, usd(m.ledger.costNanos), m.ledger.estimatedRequests, m.ledger.unpricedRequests,
          m.openai.requests, m.openai.inputTokens, m.openai.outputTokens, usd(m.openai.costNanos),
          usd(m.differenceNanos), null, null,
        ]);
      }
    }
    return out;
  }

  /**
   * Drift per org over the last `days` complete UTC days (OpenAI's costs settle a day late): what the
   * /metrics gauge shows and what an alert rule checks ("drift above X% or $Y").
   */
  async drift(days = 7, now = Date.now()): Promise<Drift[]> {
    const today = new Date(Math.floor(now / DAY_MS) * DAY_MS);
    const to = new Date(today.getTime() - DAY_MS).toISOString().slice(0, 10);
    const from = new Date(today.getTime() - days * DAY_MS).toISOString().slice(0, 10);
    const report = await this.report({ from, to });
    return report.orgs
      .filter((o) => o.enabled)
      .map((o) => {
        const lines = report.days.filter((d) => d.orgId === o.orgId);
        const openai = lines.reduce((n, l) => n + BigInt(l.openai.costNanos), 0n);
        const ledgerCost = lines.reduce((n, l) => n + BigInt(l.ledger.costNanos), 0n);
        const difference = openai - ledgerCost;
        return {
          orgId: o.orgId,
          orgName: o.orgName,
          differenceNanos: difference.toString(),
          percent: Number(percent(difference, openai) ?? '0'),
          openaiCostNanos: openai.toString(),
          ledgerCostNanos: ledgerCost.toString(),
          from,
          to,
        };
      });
  }

  /**
   * A month (`YYYY-MM`) of one org for its statement: the report over the month's UTC days, summed, with each gap
   * kind's amount, and whether OpenAI's numbers are synced past the month's end.
   */
  async month(orgId: string, month: string): Promise<StatementReconciliation> {
    const [year, m] = month.split('-').map(Number);
    const end = new Date(Date.UTC(year, m, 1));
    const from = `${month}-01`;
    const to = new Date(end.getTime() - DAY_MS).toISOString().slice(0, 10);
    const report = await this.report({ from, to, org: orgId });
    const state = report.orgs.find((o) => o.orgId === orgId);
    if (!state?.enabled) return { status: 'off', from, to, syncedAt: null, openai: null, ledger: null, difference: null, gaps: [] };
    const syncedAt = state.sync.lastSuccessAt;
    const lines = report.days.filter((d) => d.orgId === orgId);
    const openai = lines.reduce((n, l) => n + BigInt(l.openai.costNanos), 0n);
    const ledgerCost = lines.reduce((n, l) => n + BigInt(l.ledger.costNanos), 0n);
    const byKind = new Map<StatementGapKind, bigint>(GAP_KINDS.map((k) => [k, 0n]));
    for (const l of lines) for (const g of l.gaps) byKind.set(g.kind, (byKind.get(g.kind) ?? 0n) + BigInt(g.nanos));
    const amount = (side: 'openai' | 'ledger' | 'openai_minus_ledger', nanos: bigint) => ({ side, costNanos: nanos.toString(), costUsd: nanosToUsd(nanos) });
    return {
      status: syncedAt && new Date(syncedAt).getTime() >= end.getTime() ? 'complete' : 'partial',
      from,
      to,
      syncedAt,
      openai: amount('openai', openai),
      ledger: amount('ledger', ledgerCost),
      difference: { ...amount('openai_minus_ledger', openai - ledgerCost), percent: percent(openai - ledgerCost, openai) },
      gaps: GAP_KINDS.map((kind) => ({ kind, ...amount('openai_minus_ledger', byKind.get(kind)!) })),
    };
  }

  /** The alerts' hook: orgs whose drift is above `percent` % or `usd` dollars (either), in either direction. */
  async driftAbove(threshold: { percent?: number; usd?: string }, days = 7, now = Date.now()): Promise<Drift[]> {
    const usdNanos = threshold.usd === undefined ? undefined : decimalToScaled(threshold.usd, 9);
    return (await this.drift(days, now)).filter((d) => {
      const abs = BigInt(d.differenceNanos) < 0n ? -BigInt(d.differenceNanos) : BigInt(d.differenceNanos);
      return (threshold.percent !== undefined && Math.abs(d.percent) > threshold.percent) || (usdNanos !== undefined && abs > usdNanos);
    });
  }
}

function ledgerFigures(f: Figures & { estimatedRequests: number; estimatedCost: bigint; unpricedRequests: number }): LedgerFigures {
  return { ...side(f), estimatedRequests: f.estimatedRequests, estimatedCostNanos: f.estimatedCost.toString(), unpricedRequests: f.unpricedRequests };
}
