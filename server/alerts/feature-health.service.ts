// Each feature's state now, from the last few minutes of the ledger and the budgets: so a billing failure
// in one org reads as exactly the features on it being down.
import { Injectable } from '@nestjs/common';
import { BudgetsService } from '../budgets/budgets.service.js';
import { HardBudgets } from '../budgets/hard-budgets.js';
import type { FeatureHealth, FeatureHealthList } from '../contract/alerts.js';
import { AlertsRepository } from './alerts.repository.js';

/** The board reads this much of the ledger. */
export const HEALTH_WINDOW_MINUTES = 5;
/** Share of a feature's calls throttled or failed upstream that marks it (below it is noise). */
const TROUBLE_PERCENT = 10;

@Injectable()
export class FeatureHealthService {
  constructor(
    private readonly repository: AlertsRepository,
    private readonly budgets: BudgetsService,
    private readonly hardBudgets: HardBudgets,
  ) {}

  async board(): Promise<FeatureHealthList> {
    const [features, billing, windows, refusals, budgets, open] = await Promise.all([
      this.repository.features(),
      this.repository.billingFailures(HEALTH_WINDOW_MINUTES),
      this.repository.callWindows('feature', HEALTH_WINDOW_MINUTES),
      this.repository.budgetRefusals(HEALTH_WINDOW_MINUTES),
      this.budgets.list(),
      this.repository.openAlerts(),
    ]);
    const iso = (d: Date | string) => new Date(d).toISOString();
    const failingOrgs = billing.filter((b) => !b.last_ok || b.last_ok < b.last_failure);
    const out: FeatureHealth[] = features.map((f) => {
      const base = { featureId: f.id, featureSlug: f.slug, featureName: f.name, orgId: f.org_id, orgName: f.org_name };
      const w = windows.find((x) => x.id === f.id);
      const requests = w?.calls ?? 0;
      const refused = refusals.find((r) => r.feature_id === f.id);
      const hard = this.hardBudgets.exhausted(f.id, f.org_id);
      if (hard || refused) {
        const alert = open.find((a) => a.rule_kind === 'budget_threshold' && a.feature_ids.includes(f.id) && a.subject.includes(':100:'));
        return { ...base, state: 'paused', since: alert ? iso(alert.started_at) : refused ? iso(refused.since) : null, reason: `Hard budget ${hard ? `"${hard.name}" ` : ''}reached: calls are refused (429) until it renews or is raised.`, requests };
      }
      const broke = failingOrgs.find((b) => (b.feature_ids ?? []).includes(f.id));
      if (broke) {
        const alert = open.find((a) => a.rule_kind === 'billing_failure' && a.org_id === broke.org_id);
        return {
          ...base,
          orgId: broke.org_id,
          orgName: broke.org_name,
          state: 'billing_failure',
          since: iso(alert?.started_at ?? broke.first_failure),
          reason: `Org ${broke.org_name} refuses calls with ${broke.code ?? 'a billing error'} (${broke.failures} of ${broke.calls} calls in ${HEALTH_WINDOW_MINUTES} min).`,
          requests,
        };
      }
      if (w && w.calls > 0 && (100 * w.upstream_errors) / w.calls >= TROUBLE_PERCENT) {
        return { ...base, state: 'upstream_errors', since: w.first_trouble && iso(w.first_trouble), reason: `${w.upstream_errors} of ${w.calls} calls failed upstream in ${HEALTH_WINDOW_MINUTES} min.`, requests };
      }
      if (w && w.calls > 0 && (100 * w.throttled) / w.calls >= TROUBLE_PERCENT) {
        return { ...base, state: 'throttled', since: w.first_trouble && iso(w.first_trouble), reason: `${w.throttled} of ${w.calls} calls were rate-limited (429) in ${HEALTH_WINDOW_MINUTES} min.`, requests };
      }
      const soft = budgets.find((b) => b.featureId === f.id && b.exhausted);
      if (soft) {
        const alert = open.find((a) => a.rule_kind === 'budget_threshold' && a.subject.startsWith(`budget:${soft.id}:`));
        return { ...base, state: 'budget_exhausted', since: alert ? iso(alert.started_at) : null, reason: `Soft budget "${soft.name}" is used up (calls still go through).`, requests };
      }
      return { ...base, state: 'ok', since: null, reason: requests ? `${requests} calls in ${HEALTH_WINDOW_MINUTES} min, no trouble.` : `No calls in ${HEALTH_WINDOW_MINUTES} min.`, requests };
    });
    return { windowMinutes: HEALTH_WINDOW_MINUTES, features: out };
  }
}
