// Monthly statement per org: one line per feature, model and unit price, read from the rollups.
// Line costs are sums of per-event integer nano-dollars, so the lines add up to the total exactly.
import { Injectable } from '@nestjs/common';
import { notFound } from '../http/openai-error.js';
import { nanosToUsd } from '../pricing/cost.js';
import type { StatementQueryInput } from './analytics.dto.js';
import { AnalyticsService, labelOf } from './analytics.service.js';
import { ReconciliationService } from '../reconciliation/reconciliation.service.js';
import { csvRow } from './csv.js';
import { AnalyticsRepository } from './analytics.repository.js';
import { RollupsRepository, type UsageRow } from './rollups.repository.js';
import type { UnitPricesUsd, StatementLine, Statement } from './statement.types.js';

const minutes = (seconds: string) => {
  const millis = BigInt(seconds.replace('.', ''));
  const tenThousandths = (millis * 10n + 30n) / 60n; // minutes x 1e4, half up
  return `${tenThousandths / 10_000n}.${(tenThousandths % 10_000n).toString().padStart(4, '0')}`;
};

const addSeconds = (a: string, b: string) => {
  const sum = BigInt(a.replace('.', '')) + BigInt(b.replace('.', ''));
  return `${sum / 1000n}.${(sum % 1000n).toString().padStart(3, '0')}`;
};

/** The line counts of price components beyond text tokens, in CSV order. */
const COMPONENT_KEYS = ['audioOutputTokens', 'imageInputTokens', 'imageOutputTokens', 'characters', 'images', 'webSearchCalls', 'webSearchPreviewCalls', 'fileSearchCalls'] as const;
const ZERO_COMPONENTS = Object.fromEntries(COMPONENT_KEYS.map((k) => [k, 0])) as Record<(typeof COMPONENT_KEYS)[number], number>;
/** A keyed price (per image size, per tool) in one CSV cell: `1024x1024/hd=0.08; 1024x1792/hd=0.12`. */
const keyed = (prices: Record<string, string> | null | undefined) => (prices ? Object.entries(prices).map(([k, v]) => `${k}=${v}`).join('; ') : null);

@Injectable()
export class StatementService {
  constructor(
    private readonly store: AnalyticsRepository,
    private readonly rollups: RollupsRepository,
    private readonly analytics: AnalyticsService,
    private readonly reconciliation: ReconciliationService,
  ) {}

  async statement(input: StatementQueryInput): Promise<Statement> {
    const org = await this.store.org(input.org);
    if (!org) throw notFound(`No org with id ${input.org}.`);
    const [year, month] = input.month.split('-').map(Number);
    const next = month === 12 ? `${year + 1}-01` : `${year}-${String(month + 1).padStart(2, '0')}`;
    const range = await this.analytics.resolveRange(`${input.month}-01`, `${next}-01`, input.tz, { wholeHours: true });
    const rows = await this.rollups.usage({
      from: range.from,
      to: range.to,
      tz: input.tz,
      groupBy: ['feature', 'model', 'price'],
      filters: { org: [org.id] },
    });
    const priceIds = [...new Set(rows.map((r) => r.groups.price).filter((p): p is string => p !== null && p !== undefined))].map(Number);
    const prices = new Map<number, UnitPricesUsd>();
    if (priceIds.length) {
      const found = await this.store.pricesByIds(priceIds);
      for (const p of found) {
        const id = Number(p.id);
        prices.set(id, {
          priceId: id,
          effectiveFrom: (p.effective_from as Date).toISOString(),
          serviceTier: p.service_tier as string,
          inputPerMtok: p.input_per_mtok as string | null,
          cachedInputPerMtok: p.cached_input_per_mtok as string | null,
          outputPerMtok: p.output_per_mtok as string | null,
          audioInputPerMtok: p.audio_input_per_mtok as string | null,
          perAudioMinute: p.per_audio_minute as string | null,
          cachedAudioInputPerMtok: p.cached_audio_input_per_mtok as string | null,
          audioOutputPerMtok: p.audio_output_per_mtok as string | null,
          imageInputPerMtok: p.image_input_per_mtok as string | null,
          cachedImageInputPerMtok: p.cached_image_input_per_mtok as string | null,
          imageOutputPerMtok: p.image_output_per_mtok as string | null,
          perMillionCharacters: p.per_million_characters as string | null,
          perImage: p.per_image as Record<string, string> | null,
          perThousandCalls: p.per_thousand_calls as Record<string, string> | null,
          retired: p.retired_at !== null,
        });
      }
    }
    const [labels, reconciliation] = await Promise.all([this.analytics.labels(), this.reconciliation.month(org.id, input.month)]);
    const lines = rows.map((r) => this.line(r, labelOf(labels, 'feature', r.groups.feature ?? null), prices));
    lines.sort((a, b) => a.feature.localeCompare(b.feature) || (a.model ?? '').localeCompare(b.model ?? '') || (a.unitPrices?.effectiveFrom ?? '').localeCompare(b.unitPrices?.effectiveFrom ?? ''));
    const total = lines.reduce(
      (t, l) => ({
        requests: t.requests + l.requests,
        inputTokens: t.inputTokens + l.inputTokens,
        cachedTokens: t.cachedTokens + l.cachedTokens,
        audioInputTokens: t.audioInputTokens + l.audioInputTokens,
        outputTokens: t.outputTokens + l.outputTokens,
        reasoningTokens: t.reasoningTokens + l.reasoningTokens,
        audioSeconds: addSeconds(t.audioSeconds, l.audioSeconds),
        audioMinutes: '',
        ...(Object.fromEntries(COMPONENT_KEYS.map((k) => [k, t[k] + l[k]])) as typeof ZERO_COMPONENTS),
        costNanos: (BigInt(t.costNanos) + BigInt(l.costNanos)).toString(),
        costUsd: '',
        estimatedRequests: t.estimatedRequests + l.estimatedRequests,
        unpricedRequests: t.unpricedRequests + l.unpricedRequests,
      }),
      { requests: 0, inputTokens: 0, cachedTokens: 0, audioInputTokens: 0, outputTokens: 0, reasoningTokens: 0, audioSeconds: '0.000', audioMinutes: '', ...ZERO_COMPONENTS, costNanos: '0', costUsd: '', estimatedRequests: 0, unpricedRequests: 0 },
    );
    total.audioMinutes = minutes(total.audioSeconds);
    total.costUsd = nanosToUsd(total.costNanos);
    return {
      org,
      month: input.month,
      tz: input.tz,
      from: range.from.toISOString(),
      to: range.to.toISOString(),
      currency: 'USD',
      approximate: range.approximate,
      lines,
      total,
      reconciliation,
    };
  }

  private line(r: UsageRow, feature: string, prices: Map<number, UnitPricesUsd>): StatementLine {
    const priceId = r.groups.price ? Number(r.groups.price) : null;
    return {
      featureId: r.groups.feature ?? null,
      feature,
      model: r.groups.model ?? null,
      requests: Number(r.requests),
      failedRequests: Number(r.errors),
      notMeteredRequests: Number(r.notMeteredRequests),
      inputTokens: Number(r.inputTokens),
      cachedTokens: Number(r.cachedTokens),
      audioInputTokens: Number(r.audioInputTokens),
      outputTokens: Number(r.outputTokens),
      reasoningTokens: Number(r.reasoningTokens),
      audioSeconds: r.audioSeconds,
      audioMinutes: minutes(r.audioSeconds),
      audioOutputTokens: Number(r.audioOutputTokens),
      imageInputTokens: Number(r.imageInputTokens),
      imageOutputTokens: Number(r.imageOutputTokens),
      characters: Number(r.characters),
      images: Number(r.images),
      webSearchCalls: Number(r.webSearchCalls),
      webSearchPreviewCalls: Number(r.webSearchPreviewCalls),
      fileSearchCalls: Number(r.fileSearchCalls),
      unitPrices: priceId === null ? null : (prices.get(priceId) ?? null),
      costNanos: r.costNanos.toString(),
      costUsd: nanosToUsd(r.costNanos),
      estimatedRequests: Number(r.estimatedRequests),
      unpricedRequests: Number(r.unpricedRequests),
    };
  }

  static readonly CSV_HEADER = [
    'org', 'month', 'time_zone', 'feature', 'model', 'service_tier', 'price_id', 'requests', 'input_tokens', 'cached_input_tokens',
    'audio_input_tokens', 'output_tokens', 'reasoning_tokens', 'audio_minutes', 'input_usd_per_mtok', 'cached_input_usd_per_mtok',
    'output_usd_per_mtok', 'audio_input_usd_per_mtok', 'usd_per_audio_minute', 'unpriced_requests', 'cost_nanos', 'cost_usd',
    // Added after the first columns, so existing readers keep their places.
    'audio_output_tokens', 'image_input_tokens', 'image_output_tokens', 'characters', 'images', 'web_search_calls',
    'web_search_preview_calls', 'file_search_calls', 'audio_output_usd_per_mtok', 'image_input_usd_per_mtok',
    'image_output_usd_per_mtok', 'usd_per_million_characters', 'usd_per_image', 'usd_per_thousand_tool_calls',
  ];

  /** The statement as CSV: a header, one row per line, and a TOTAL row. */
  toCsv(s: Statement): string {
    const rows = [csvRow(StatementService.CSV_HEADER)];
    for (const l of s.lines) {
      const p = l.unitPrices;
      rows.push(
        csvRow([
          s.org.name, s.month, s.tz, l.feature, l.model, p?.serviceTier, p?.priceId, l.requests, l.inputTokens, l.cachedTokens,
          l.audioInputTokens, l.outputTokens, l.reasoningTokens, l.audioMinutes, p?.inputPerMtok, p?.cachedInputPerMtok,
          p?.outputPerMtok, p?.audioInputPerMtok, p?.perAudioMinute, l.unpricedRequests, l.costNanos, l.costUsd,
          ...COMPONENT_KEYS.map((k) => l[k]), p?.audioOutputPerMtok, p?.imageInputPerMtok, p?.imageOutputPerMtok,
          p?.perMillionCharacters, keyed(p?.perImage), keyed(p?.perThousandCalls),
        ]),
      );
    }
    const t = s.total;
    rows.push(
      csvRow([
        s.org.name, s.month, s.tz, 'TOTAL', null, null, null, t.requests, t.inputTokens, t.cachedTokens, t.audioInputTokens,
        t.outputTokens, t.reasoningTokens, t.audioMinutes, null, null, null, null, null, t.unpricedRequests, t.costNanos, t.costUsd,
        ...COMPONENT_KEYS.map((k) => t[k]), null, null, null, null, null, null,
      ]),
    );
    // The reconciliation block after a blank row: one row per figure, each naming its side (docs/reconciliation.md).
    const r = s.reconciliation;
    rows.push('\r\n', csvRow(StatementService.RECONCILIATION_HEADER));
    const figure = (figure: string, a: { side: string; costNanos: string; costUsd: string } | null, percent?: string | null) =>
      csvRow([s.org.name, s.month, r.from, r.to, r.status, r.syncedAt, figure, a?.side, a?.costNanos, a?.costUsd, percent]);
    if (r.status === 'off') rows.push(figure('reconciliation off: no admin key', null));
    else {
      rows.push(figure('openai_cost', r.openai), figure('ledger_cost', r.ledger), figure('difference', r.difference, r.difference?.percent));
      for (const g of r.gaps) rows.push(figure(`gap:${g.kind}`, g));
    }
    return rows.join('');
  }

  static readonly RECONCILIATION_HEADER = ['org', 'month', 'from_utc_day', 'to_utc_day', 'reconciliation', 'openai_synced_at', 'figure', 'side', 'cost_nanos', 'cost_usd', 'percent'];
}
