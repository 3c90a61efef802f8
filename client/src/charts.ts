// Chart.js panels with the conventions every dashboard chart follows: an axis titled with its
// unit, a legend, unit-aware tooltips, loading/empty/error states, a data table underneath, and
// in-place updates (chart.update('none')) so a live refresh never flickers.
import { Chart, registerables, type ChartConfiguration, type ChartDataset, type TooltipItem } from 'chart.js';
import { clear, h } from './dom.js';
import { formatCompact, formatInt, formatMs, formatPct } from './format.js';

Chart.register(...registerables);
Chart.defaults.font.family = getComputedStyle(document.documentElement).getPropertyValue('--font').trim() || 'system-ui, sans-serif';
Chart.defaults.color = '#374151';
Chart.defaults.borderColor = '#e5e7eb';

declare global {
  interface Window {
    /** Every chart on the page by id, for browser tests (they read data, not pixels). */
    __charts: Record<string, Chart>;
  }
}
window.__charts = {};

export type Unit = 'usd' | 'tokens' | 'rpm' | 'tpm' | 'requests' | 'ms' | 'ratio' | 'count';

const UNIT_TITLE: Record<Unit, string> = {
  usd: 'Spend ($)',
  tokens: 'Tokens',
  rpm: 'Requests (req/min)',
  tpm: 'Tokens (tokens/min)',
  requests: 'Requests',
  ms: 'Milliseconds (ms)',
  ratio: 'Share (%)',
  count: 'Count',
};

export function formatUnit(value: number, unit: Unit, axis = false): string {
  switch (unit) {
    case 'usd':
      return axis ? `$${value >= 1000 ? formatCompact(value) : value.toLocaleString('en-US', { maximumFractionDigits: value === 0 ? 0 : value < 0.01 ? 6 : value < 1 ? 4 : 2 })}` : `$${value.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: value < 1 ? 6 : 2 })}`;
    case 'tokens':
      return `${axis ? formatCompact(value) : formatInt(value)} tokens`;
    case 'rpm':
      return `${axis ? formatCompact(value) : formatInt(value)} req/min`;
    case 'tpm':
      return `${axis ? formatCompact(value) : formatInt(value)} tokens/min`;
    case 'requests':
      return `${axis ? formatCompact(value) : formatInt(value)} req`;
    case 'ms':
      return formatMs(value);
    case 'ratio':
      return formatPct(value, axis ? 0 : 1);
    case 'count':
      return axis ? formatCompact(value) : formatInt(value);
  }
}

// Okabe–Ito plus Tableau tones: distinguishable with common colour-vision deficiencies.
export const PALETTE = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#56b4e9', '#d55e00', '#6b7280', '#f0e442', '#1d4ed8', '#7c3aed'];
export const color = (i: number) => PALETTE[i % PALETTE.length];

export interface Series {
  label: string;
  data: Array<number | null>;
  type?: 'bar' | 'line';
  color?: string;
  dashed?: boolean;
  /** Drawn as a reference line (a limit), never stacked. */
  reference?: boolean;
  stack?: string;
}

export interface PanelOptions {
  id: string;
  title: string;
  type: 'bar' | 'line';
  unit: Unit;
  stacked?: boolean;
  horizontal?: boolean;
  description?: string;
  /** Hide the legend when there is a single unlabeled series. */
  legend?: boolean;
  /** What an empty chart means, e.g. "No traffic in this range". */
  emptyText?: string;
  /** Draw missing values (null) as gaps, not joined across: for observations, not counts. */
  gaps?: boolean;
  /** The value axis ends here (1 for a share of a limit). */
  max?: number;
}

/** The last bucket of a range that ends now is still filling: its label says so. */
export function markPartial(labels: string[], partial: boolean): string[] {
  return partial && labels.length ? [...labels.slice(0, -1), `${labels[labels.length - 1]} (so far)`] : labels;
}

export type PanelState = 'loading' | 'ready' | 'empty' | 'error' | 'unavailable';

/** A card with a chart and its states. setData() may be called on every refresh. */
export class ChartPanel {
  readonly el: HTMLElement;
  readonly chart: Chart;
  readonly footer: HTMLElement;
  private readonly status: HTMLElement;
  private readonly canvasWrap: HTMLElement;
  private signature = '';

  constructor(private readonly options: PanelOptions) {
    const canvas = h('canvas', { role: 'img', 'aria-label': `${options.title} chart` });
    this.status = h('div', { class: 'chart-status', role: 'status', 'aria-live': 'polite' });
    this.canvasWrap = h('div', { class: 'chart-wrap' }, canvas, this.status);
    this.footer = h('div', { class: 'card-footer' });
    this.el = h(
      'section',
      { class: 'card chart-card', 'data-chart': options.id, 'aria-labelledby': `${options.id}-title` },
      h('header', { class: 'card-header' }, h('h2', { id: `${options.id}-title` }, options.title), options.description ? h('p', { class: 'card-desc' }, options.description) : null),
      this.canvasWrap,
      this.footer,
    );
    this.chart = new Chart(canvas, this.config());
    window.__charts[options.id] = this.chart;
    this.setState('loading');
  }

  private config(): ChartConfiguration {
    const { unit, stacked, horizontal } = this.options;
    const valueAxis = {
      stacked: !!stacked,
      beginAtZero: true,
      title: { display: true, text: UNIT_TITLE[unit] },
      ticks: { callback: (v: number | string) => formatUnit(Number(v), unit, true), precision: unit === 'ms' || unit === 'requests' || unit === 'count' ? 0 : undefined },
      grace: '5%',
      max: this.options.max,
    };
    const categoryAxis = { stacked: !!stacked, grid: { display: false }, ticks: { maxRotation: 0, autoSkip: true, autoSkipPadding: 12 } };
    return {
      type: this.options.type,
      data: { labels: [], datasets: [] },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        indexAxis: horizontal ? 'y' : 'x',
        interaction: { mode: 'index', intersect: false },
        scales: horizontal ? { x: valueAxis, y: categoryAxis } : { x: categoryAxis, y: valueAxis },
        plugins: {
          legend: { display: this.options.legend !== false, position: 'bottom', labels: { boxWidth: 12, usePointStyle: true } },
          tooltip: {
            callbacks: {
              label: (item: TooltipItem<'bar' | 'line'>) => {
                const value = horizontal ? item.parsed.x : item.parsed.y;
                return `${item.dataset.label ?? ''}: ${value === null ? '—' : formatUnit(value, unit)}`;
              },
            },
          },
        },
      },
    } as ChartConfiguration;
  }

  setState(state: PanelState, message = ''): void {
    this.el.dataset.state = state;
    this.el.setAttribute('aria-busy', String(state === 'loading'));
    const text =
      state === 'loading' ? 'Loading…' : state === 'empty' ? (message || this.options.emptyText || 'No data for these filters.') : message;
    clear(this.status, text ? h('p', { class: `state-msg state-${state}` }, text) : null);
    this.status.hidden = state === 'ready';
    this.canvasWrap.classList.toggle('dim', state !== 'ready');
  }

  /** Shows an error but keeps the last good data visible behind it. */
  setError(message: string): void {
    this.setState(this.chart.data.datasets.length && this.el.dataset.state === 'ready' ? 'ready' : 'error', message);
    this.el.dataset.state = 'error';
    this.status.hidden = false;
    clear(this.status, h('p', { class: 'state-msg state-error' }, message));
  }

  setUnavailable(message: string): void {
    this.setState('unavailable', message);
  }

  setData(labels: string[], all: Series[]): void {
    // A series that is zero (or missing) in every bucket says nothing: it would only crowd the legend.
    const series = all.filter((s) => s.reference || s.data.some((v) => v !== null && v !== 0));
    const signature = JSON.stringify([labels, series]);
    const hasValues = series.some((s) => !s.reference);
    if (signature !== this.signature) {
      this.signature = signature;
      this.chart.data.labels = labels;
      this.chart.data.datasets = series.map((s, i) => this.dataset(s, i));
      this.chart.update('none');
    }
    this.setState(hasValues ? 'ready' : 'empty');
  }

  private dataset(s: Series, i: number): ChartDataset {
    const c = s.color ?? color(i);
    const type = s.type ?? this.options.type;
    return {
      type,
      label: s.label,
      data: s.data,
      backgroundColor: type === 'line' ? `${c}22` : c,
      borderColor: c,
      borderWidth: type === 'line' ? 2 : 0,
      borderDash: s.dashed || s.reference ? [6, 4] : undefined,
      pointRadius: type === 'line' ? (s.data.length > 60 ? 0 : 2) : undefined,
      pointHoverRadius: 4,
      tension: 0.2,
      spanGaps: !this.options.gaps,
      fill: false,
      stack: s.reference ? `ref-${i}` : s.stack,
      order: s.reference ? -1 : i,
    } as ChartDataset;
  }

  destroy(): void {
    if (window.__charts[this.options.id] === this.chart) delete window.__charts[this.options.id];
    this.chart.destroy();
  }
}

export interface Column<R> {
  label: string;
  value: (row: R) => string | Node;
  numeric?: boolean;
}

/** A table that re-renders only when its content changed, keeping scroll and focus otherwise. */
export class DataTable<R> {
  readonly el: HTMLElement;
  private readonly tbody: HTMLTableSectionElement;
  private readonly tfoot: HTMLTableSectionElement;
  private signature = '';

  constructor(
    readonly id: string,
    caption: string,
    private readonly columns: Column<R>[],
  ) {
    this.tbody = h('tbody');
    this.tfoot = h('tfoot');
    this.el = h(
      'div',
      { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': caption },
      h(
        'table',
        { 'data-table': id },
        h('caption', { class: 'sr-only' }, caption),
        h('thead', {}, h('tr', {}, ...columns.map((c) => h('th', { scope: 'col', class: c.numeric ? 'num' : '' }, c.label)))),
        this.tbody,
        this.tfoot,
      ),
    );
  }

  setRows(rows: R[], footer?: Array<string | Node>, emptyText = 'No rows for these filters.'): void {
    const cells = rows.map((r) => this.columns.map((c) => c.value(r)));
    const signature = JSON.stringify([cells.map((row) => row.map((v) => (typeof v === 'string' ? v : v.textContent))), footer?.map((v) => (typeof v === 'string' ? v : v.textContent))]);
    if (signature === this.signature) return;
    this.signature = signature;
    if (!rows.length) {
      clear(this.tbody, h('tr', {}, h('td', { colspan: this.columns.length, class: 'empty' }, emptyText)));
    } else {
      // data-label: at phone width each row becomes a card that names its values (styles.css).
      clear(this.tbody, ...cells.map((row) => h('tr', {}, ...row.map((v, i) => h('td', { class: this.columns[i].numeric ? 'num' : '', 'data-label': this.columns[i].label }, v)))));
    }
    clear(this.tfoot, footer ? h('tr', {}, ...footer.map((v, i) => h(i === 0 ? 'th' : 'td', { class: this.columns[i]?.numeric ? 'num' : '', scope: i === 0 ? 'row' : null }, v))) : null);
  }
}
