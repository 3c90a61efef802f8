// Evaluates the alert rules on a schedule (and soon after a billing failure is seen): each rule lists the
// conditions true now; a new one opens an alert (once across replicas: see AlertsRepository.fire), one no
// longer true resolves it. Every replica evaluates; Postgres decides who fires and resolves.
import { Inject, Injectable, Logger, Optional, type OnApplicationBootstrap, type BeforeApplicationShutdown } from '@nestjs/common';
import { BudgetsService } from '../budgets/budgets.service.js';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { ruleParamSchemas, type RuleKind } from '../contract/alerts.js';
import { ReconciliationService } from '../reconciliation/reconciliation.service.js';
import { AlertsRepository, type Condition, type RuleRow } from './alerts.repository.js';

/** Drift runs the whole 7-day reconciliation report: at most this often. */
const DRIFT_EVERY_MS = 10 * 60_000;
/** After a billing failure is seen, evaluate within this (not a whole interval later). */
const SOON_MS = 1_000;

const pct = (part: number, whole: number) => (whole === 0 ? 0 : (100 * part) / whole);
const round1 = (n: number) => Math.round(n * 10) / 10;

@Injectable()
export class AlertsEvaluator implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Alerts');
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private driftAt = 0;
  private drift: Condition[] = [];
  /** Orgs with a billing alert open (as of the last pass): their first success triggers a pass. */
  billingOrgs = new Set<string>();

  constructor(
    private readonly repository: AlertsRepository,
    private readonly budgets: BudgetsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional() private readonly reconciliation?: ReconciliationService,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.ALERTS_EVAL_INTERVAL_MS === 0) return;
    this.timer = setInterval(() => void this.evaluate(), this.config.ALERTS_EVAL_INTERVAL_MS);
    this.timer.unref();
    this.evaluateSoon();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.soon);
    await this.running;
  }

  /** Something worth alerting on just happened (a billing failure): evaluate shortly. */
  evaluateSoon(): void {
    if (this.soon || this.stopped || this.config.ALERTS_EVAL_INTERVAL_MS === 0) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      void this.evaluate();
    }, SOON_MS);
    this.soon.unref();
  }

  /** One pass over every rule. Concurrent calls share the pass in flight. */
  evaluate(): Promise<void> {
    this.running ??= this.pass()
      .catch((error: Error) => this.logger.warn(`alert evaluation failed: ${error.message}`))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(): Promise<void> {
    const rules = await this.repository.rules();
    const open = await this.repository.openAlerts();
    const now = Date.now();
    for (const rule of rules) {
      if (this.stopped) return;
      const mine = open.filter((a) => a.rule_kind === rule.kind);
      if (!rule.enabled) {
        for (const alert of mine) await this.repository.resolve(alert.id, false);
        continue;
      }
      let conditions: Condition[];
      try {
        conditions = await this.conditions(rule, now);
      } catch (error) {
        this.logger.warn(`rule ${rule.kind} not evaluated: ${(error as Error).message}`);
        continue;
      }
      const notify = !rule.silenced_until || rule.silenced_until.getTime() <= now;
      const bySubject = new Map(mine.map((a) => [a.subject, a]));
      for (const c of conditions) {
        const existing = bySubject.get(c.subject);
        if (existing) {
          bySubject.delete(c.subject);
          await this.repository.touch(existing.id, c);
        } else {
          const id = await this.repository.fire(rule.kind, c, notify);
          if (id) this.logger.log(`alert firing: ${c.title}`);
        }
      }
      for (const gone of bySubject.values()) {
        const silenced = gone.silenced_until && gone.silenced_until.getTime() > now;
        if (await this.repository.resolve(gone.id, notify && !silenced)) this.logger.log(`alert resolved: ${gone.title}`);
      }
      if (rule.kind === 'billing_failure') this.billingOrgs = new Set(conditions.map((c) => c.orgId).filter((id): id is string => !!id));
    }
  }

  private params<K extends RuleKind>(rule: RuleRow & { kind: K }): ReturnType<(typeof ruleParamSchemas)[K]['parse']> {
    const parsed = ruleParamSchemas[rule.kind].safeParse(rule.params ?? {});
    return (parsed.success ? parsed.data : ruleParamSchemas[rule.kind].parse({})) as never;
  }

  private async conditions(rule: RuleRow, now: number): Promise<Condition[]> {
    switch (rule.kind) {
      case 'budget_threshold':
        return this.budgetThresholds();
      case 'budget_forecast':
        return this.budgetForecasts();
      case 'billing_failure':
        return this.billingFailures(this.params(rule as RuleRow & { kind: 'billing_failure' }).windowMinutes);
      case 'headroom_low': {
        const p = this.params(rule as RuleRow & { kind: 'headroom_low' });
        return (await this.repository.lowHeadroom(p.percent, p.minutes)).map((r) => ({
          subject: `org:${r.org_id}:model:${r.model}`,
          severity: 'warning',
          title: `Low rate-limit headroom: ${r.org_name} / ${r.model}`,
          summary: `${r.org_name} had less than ${p.percent}% of its ${r.model} limit left for ${p.minutes} minutes (lowest ${round1(r.worst_percent)}%).`,
          orgId: r.org_id,
        }));
      }
      case 'throttle_share': {
        const p = this.params(rule as RuleRow & { kind: 'throttle_share' });
        return (await this.repository.callWindows('org', p.windowMinutes))
          .filter((w) => w.calls >= p.minRequests && pct(w.throttled, w.calls) >= p.percent)
          .map((w) => ({
            subject: `org:${w.id}`,
            severity: 'warning',
            title: `Throttling: ${round1(pct(w.throttled, w.calls))}% of ${w.name}'s calls got 429`,
            summary: `${w.throttled} of ${w.calls} calls of ${w.name} in the last ${p.windowMinutes} min were rate-limited (429); the bound is ${p.percent}%.`,
            orgId: w.id,
          }));
      }
      case 'error_rate': {
        const p = this.params(rule as RuleRow & { kind: 'error_rate' });
        return (await this.repository.callWindows('feature', p.windowMinutes))
          .filter((w) => w.calls >= p.minRequests && pct(w.upstream_errors, w.calls) >= p.percent)
          .map((w) => ({
            subject: `feature:${w.id}`,
            severity: 'warning',
            title: `Upstream errors: ${round1(pct(w.upstream_errors, w.calls))}% of ${w.name}'s calls failed`,
            summary: `${w.upstream_errors} of ${w.calls} calls of ${w.name} in the last ${p.windowMinutes} min failed upstream (5xx, timeouts, unreachable); the bound is ${p.percent}%.`,
            orgId: w.org_id,
            featureIds: [w.id],
          }));
      }
      case 'latency_p95': {
        const p = this.params(rule as RuleRow & { kind: 'latency_p95' });
        return (await this.repository.callWindows('org', p.windowMinutes))
          .filter((w) => w.calls >= p.minRequests && w.p95_ms !== null && w.p95_ms > p.ms)
          .map((w) => ({
            subject: `org:${w.id}`,
            severity: 'warning',
            title: `Slow upstream: ${w.name}'s latency p95 is ${Math.round(w.p95_ms!)} ms`,
            summary: `The p95 latency of ${w.name}'s successful calls over the last ${p.windowMinutes} min is ${Math.round(w.p95_ms!)} ms, above the ${p.ms} ms bound.`,
            orgId: w.id,
          }));
      }
      case 'reconciliation_drift': {
        if (!this.reconciliation) return [];
        if (now - this.driftAt < DRIFT_EVERY_MS) return this.drift;
        const p = this.params(rule as RuleRow & { kind: 'reconciliation_drift' });
        this.drift = (await this.reconciliation.driftAbove({ percent: p.percent, usd: p.usd })).map((d) => ({
          subject: `org:${d.orgId}`,
          severity: 'warning',
          title: `Reconciliation drift: ${d.orgName} differs from OpenAI by ${round1(d.percent)}%`,
          summary: `OpenAI's cost and the ledger's differ by ${round1(d.percent)}% for ${d.orgName} from ${d.from} to ${d.to} (bound: ${p.percent}% or $${p.usd}); see Reconciliation for the causes.`,
          orgId: d.orgId,
          details: { differenceNanos: d.differenceNanos, openaiCostNanos: d.openaiCostNanos, ledgerCostNanos: d.ledgerCostNanos },
        }));
        this.driftAt = now;
        return this.drift;
      }
    }
  }

  private async budgetThresholds(): Promise<Condition[]> {
    const out: Condition[] = [];
    for (const b of await this.budgets.list()) {
      if (b.percent === null || new Date(b.periodStart).getTime() > Date.now()) continue;
      for (const t of b.thresholds) {
        if (b.percent < t) continue;
        const what = b.featureSlug ? `feature ${b.featureSlug}` : `org ${b.orgName}`;
        out.push({
          subject: `budget:${b.id}:${t}:${b.periodStart}`,
          severity: t >= 100 ? 'critical' : t >= 80 ? 'warning' : 'info',
          title: `Budget ${b.name} crossed ${t}%`,
          summary: `${b.name} (${what}) has used ${b.percent}% of its ${b.period === 'monthly' ? 'monthly' : 'custom-period'} budget (period from ${b.periodStart}, ${b.timeZone}).${t >= 100 && b.enforcement === 'hard' ? ' It is a hard budget: calls are refused until it renews or is raised.' : ''}`,
          orgId: b.orgId,
          featureIds: b.featureId ? [b.featureId] : [],
          details: { budgetId: b.id, threshold: t, spentNanos: b.spentNanos, amountNanos: b.amountNanos },
        });
      }
    }
    return out;
  }

  private async budgetForecasts(): Promise<Condition[]> {
    const out: Condition[] = [];
    for (const b of await this.budgets.list()) {
      if (b.forecastPercent === null || b.percent === null) continue;
      const bound = (BigInt(b.amountNanos) * BigInt(b.forecastPercent)) / 100n;
      if (BigInt(b.forecastNanos) < bound || BigInt(b.forecastNanos) === 0n) continue;
      const share = round1(Number((BigInt(b.forecastNanos) * 1000n) / BigInt(b.amountNanos)) / 10);
      out.push({
        subject: `forecast:${b.id}:${b.periodStart}`,
        severity: 'warning',
        title: `Budget ${b.name} is forecast at ${share}%`,
        summary: `At the current pace (${b.forecastMethod}), ${b.name} ends its period at ${share}% of its budget (alert above ${b.forecastPercent}%)${b.runsOutAt && b.runsOutAt !== 'exhausted' ? `; it runs out at ${b.runsOutAt}` : ''}.`,
        orgId: b.orgId,
        featureIds: b.featureId ? [b.featureId] : [],
        details: { budgetId: b.id, forecastNanos: b.forecastNanos, amountNanos: b.amountNanos, forecastMethod: b.forecastMethod },
      });
    }
    return out;
  }

  private async billingFailures(windowMinutes: number): Promise<Condition[]> {
    return (await this.repository.billingFailures(windowMinutes))
      .filter((r) => !r.last_ok || r.last_ok < r.last_failure)
      .map((r) => {
        const slugs = r.feature_slugs ?? [];
        return {
          subject: `org:${r.org_id}`,
          severity: 'critical',
          title: `Billing failure: org ${r.org_name} is refusing calls (${r.code ?? 'billing'})`,
          summary: `${r.failures} of ${r.calls} calls to org ${r.org_name} in the last ${windowMinutes} min failed with ${r.code ?? 'a billing error'}. Features now failing: ${slugs.join(', ') || '(none identified)'}. They fail until the org's billing (or its upstream key) is fixed.`,
          orgId: r.org_id,
          featureIds: r.feature_ids ?? [],
          details: { code: r.code, failures: r.failures, calls: r.calls, firstFailure: r.first_failure },
        } satisfies Condition;
      });
  }
}
