// A feature's month by tag value: "what did acme cost us in November?". One line per value and
// model, the values past the tag's cap as "(other)" and the calls without the tag as "(untagged)",
// so the lines add up exactly to the feature's month (both rollups come from the same inserts).
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AnalyticsService, topTagValues } from '../analytics/analytics.service.js';
import { csvRow } from '../contract/csv.js';
import { queryUsage, type UsageRow } from '../analytics/rollups.repository.js';
import type { TagCatalog, TagStatement, TagStatementLine, TagStatementQuery } from '../contract/attribution.js';
import { notFound } from '../http/openai-error.js';
import { nanosToUsd } from '../pricing/cost.js';
import { AttributionRepository, tagsSeen } from './attribution.repository.js';
import { AttributionService } from './attribution.service.js';

@Injectable()
export class TagStatementService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly analytics: AnalyticsService,
    private readonly repository: AttributionRepository,
    private readonly attribution: AttributionService,
  ) {}

  async statement(input: TagStatementQuery): Promise<TagStatement> {
    const feature = await this.repository.featureExists(input.feature);
    if (!feature) throw notFound(`No feature "${input.feature}": use a feature id or slug.`);
    const [year, month] = input.month.split('-').map(Number);
    const next = month === 12 ? `${year + 1}-01` : `${year}-${String(month + 1).padStart(2, '0')}`;
    const range = await this.analytics.resolveRange(`${input.month}-01`, `${next}-01`, input.tz, { wholeHours: true });
    const dimension = input.tag === 'endUser' ? 'endUser' : 'tag';
    const base = { from: range.from, to: range.to, tz: input.tz, filters: { feature: [feature.id] } };
    const [tagged, all] = await Promise.all([
      queryUsage(this.dataSource, { ...base, groupBy: [dimension, 'model'], tagged: { tag: dimension === 'endUser' ? '' : input.tag } }),
      queryUsage(this.dataSource, { ...base, groupBy: ['model'] }),
    ]);
    const rows = topTagValues(tagged, all, dimension, [dimension, 'model'], Number.MAX_SAFE_INTEGER, true).filter(
      (r) => input.value === undefined || (r.kind === 'value' && r.groups[dimension] === input.value),
    );
    const lines: TagStatementLine[] = rows.map((r) => ({
      value: r.kind === 'value' ? (r.groups[dimension] ?? null) : null,
      kind: r.kind!,
      model: r.groups.model ?? null,
      ...amounts(r),
    }));
    lines.sort((a, b) => (BigInt(b.costNanos) > BigInt(a.costNanos) ? 1 : BigInt(b.costNanos) < BigInt(a.costNanos) ? -1 : 0));
    const subtotals = new Map<string, TagStatement['subtotals'][number]>();
    for (const l of lines) {
      const key = `${l.kind}|${l.value ?? ''}`;
      const s = subtotals.get(key) ?? { value: l.value, kind: l.kind, costNanos: '0', costUsd: '', requests: 0, unpricedRequests: 0 };
      s.costNanos = (BigInt(s.costNanos) + BigInt(l.costNanos)).toString();
      s.costUsd = nanosToUsd(s.costNanos);
      s.requests += l.requests;
      s.unpricedRequests += l.unpricedRequests;
      subtotals.set(key, s);
    }
    const total = all.reduce((t, r) => ({ cost: t.cost + r.costNanos, requests: t.requests + r.requests, unpriced: t.unpriced + r.unpricedRequests }), {
      cost: 0n,
      requests: 0n,
      unpriced: 0n,
    });
    return {
      feature,
      month: input.month,
      tz: input.tz,
      tag: input.tag,
      lines,
      subtotals: [...subtotals.values()].sort((a, b) => (BigInt(b.costNanos) > BigInt(a.costNanos) ? 1 : BigInt(b.costNanos) < BigInt(a.costNanos) ? -1 : 0)),
      total: { costNanos: total.cost.toString(), costUsd: nanosToUsd(total.cost), requests: Number(total.requests), unpricedRequests: Number(total.unpriced) },
    };
  }

  static readonly CSV_HEADER = ['feature', 'month', 'tz', 'tag', 'value', 'model', 'requests', 'input_tokens', 'cached_input_tokens', 'output_tokens', 'unpriced_requests', 'cost_nanos', 'cost_usd'];

  /** Values are what callers sent: csvRow guards them against spreadsheet formulas. */
  toCsv(s: TagStatement): string {
    const label = (l: { kind: string; value: string | null }) => (l.kind === 'value' ? l.value : `(${l.kind})`);
    let out = csvRow(TagStatementService.CSV_HEADER);
    for (const l of s.lines) {
      out += csvRow([s.feature.slug, s.month, s.tz, s.tag, label(l), l.model, l.requests, l.inputTokens, l.cachedTokens, l.outputTokens, l.unpricedRequests, l.costNanos, l.costUsd]);
    }
    const t = s.total;
    return out + csvRow([s.feature.slug, s.month, s.tz, s.tag, 'TOTAL', null, t.requests, null, null, null, t.unpricedRequests, t.costNanos, t.costUsd]);
  }

  /** The filter bar's tags: those declared and those with traffic in the range, with their busiest values. */
  async catalog(from: Date, to: Date): Promise<TagCatalog> {
    const [seen, declared] = await Promise.all([tagsSeen(this.dataSource, from, to, 100), this.repository.tags()]);
    const byName = new Map(seen.filter((t) => t.tag !== '').map((t) => [t.tag, t.values ?? []]));
    const names = [...new Set([...declared.map((d) => d.name), ...byName.keys()])].sort();
    return {
      tags: names.map((name) => ({ name, declared: this.attribution.isDeclared(name), values: byName.get(name) ?? [] })),
      endUsers: seen.some((t) => t.tag === ''),
    };
  }
}

function amounts(r: UsageRow): Omit<TagStatementLine, 'value' | 'kind' | 'model'> {
  return {
    requests: Number(r.requests),
    inputTokens: Number(r.inputTokens),
    cachedTokens: Number(r.cachedTokens),
    outputTokens: Number(r.outputTokens),
    costNanos: r.costNanos.toString(),
    costUsd: nanosToUsd(r.costNanos),
    unpricedRequests: Number(r.unpricedRequests),
  };
}
