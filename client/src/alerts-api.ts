// The dashboard's calls to the alerts and budgets APIs, typed by the server's own contract.
import type { Alert, Channel, Delivery, FeatureHealthList, FeatureState, Rule } from '../../server/contract/alerts.js';
import type { BudgetList, BudgetStatus, FeatureForecast, FeatureForecastList } from '../../server/contract/budgets.js';
import { api } from './api.js';

export type { Alert, BudgetStatus, FeatureForecast, Channel, Delivery, FeatureHealthList, FeatureState, Rule };

export const STATE_LABELS: Record<FeatureState, string> = {
  ok: 'OK',
  throttled: 'Throttled',
  billing_failure: 'Billing failure',
  upstream_errors: 'Upstream errors',
  budget_exhausted: 'Budget exhausted',
  paused: 'Paused by a hard limit',
};

export const RULE_LABELS: Record<Rule['kind'], string> = {
  budget_threshold: 'Budget threshold crossed',
  budget_forecast: 'Forecast over budget',
  billing_failure: 'Billing failure of an org',
  headroom_low: 'Rate-limit headroom low',
  throttle_share: '429 share high',
  error_rate: 'Upstream error rate high',
  latency_p95: 'Upstream latency p95 high',
  reconciliation_drift: 'Reconciliation drift',
};

export const alertsApi = {
  alerts: (state: 'firing' | 'resolved' | 'all', signal?: AbortSignal) => api.get<{ alerts: Alert[] }>('/api/alerts', { state, limit: 200 }, signal).then((r) => r.alerts),
  rules: (signal?: AbortSignal) => api.get<{ rules: Rule[] }>('/api/alerts/rules', {}, signal).then((r) => r.rules),
  updateRule: (kind: string, patch: { enabled?: boolean; params?: Record<string, unknown>; silencedUntil?: string | null }) => api.patch<Rule>(`/api/alerts/rules/${encodeURIComponent(kind)}`, patch),
  acknowledge: (id: string) => api.post<Alert>(`/api/alerts/${id}/acknowledge`),
  silence: (id: string, until: string) => api.post<Alert>(`/api/alerts/${id}/silence`, { until }),
  channels: (signal?: AbortSignal) => api.get<{ channels: Channel[] }>('/api/alerts/channels', {}, signal).then((r) => r.channels),
  createChannel: (body: Record<string, unknown>) => api.post<Channel>('/api/alerts/channels', body),
  updateChannel: (id: string, patch: { enabled?: boolean; name?: string }) => api.patch<Channel>(`/api/alerts/channels/${id}`, patch),
  deleteChannel: (id: string) => api.delete<void>(`/api/alerts/channels/${id}`),
  sendTest: (id: string) => api.post<{ deliveryId: string }>(`/api/alerts/channels/${id}/test`),
  deliveries: (signal?: AbortSignal) => api.get<{ deliveries: Delivery[] }>('/api/alerts/deliveries', {}, signal).then((r) => r.deliveries),
  featureHealth: (signal?: AbortSignal) => api.get<FeatureHealthList>('/api/alerts/feature-health', {}, signal),
  featureForecasts: (tz: string, signal?: AbortSignal) => api.get<FeatureForecastList>('/api/budgets/features', { tz }, signal),
  createBudget: (body: Record<string, unknown>) => api.post<BudgetStatus>('/api/budgets', body),
  updateBudget: (id: string, patch: Record<string, unknown>) => api.patch<BudgetStatus>(`/api/budgets/${id}`, patch),
  deleteBudget: (id: string) => api.delete<void>(`/api/budgets/${id}`),
  budgets: (signal?: AbortSignal) => api.get<BudgetList>('/api/budgets', {}, signal).then((r) => r.budgets),
};
