// The Finance page's Realtime section: voice sessions per feature over the chosen range, and the
// WebRTC/SIP sessions the gateway only issued keys or answered calls for (their media bypasses it).
import type { RealtimeActivity, RealtimeFeatureActivity } from '../../../server/contract/realtime.js';
import { api } from '../api.js';
import { idOf } from '../catalog.js';
import { DataTable } from '../charts.js';
import { clear, h } from '../dom.js';
import type { Filters } from '../filters.js';
import { resolveRange } from '../filters.js';
import { formatInt } from '../format.js';

const day = (at: Date) => at.toISOString().slice(0, 10);

export function realtimeSection() {
  const table = new DataTable<RealtimeFeatureActivity>('finance-realtime', 'Realtime sessions by feature', [
    { label: 'Feature', value: (r) => r.featureSlug },
    { label: 'Sessions', numeric: true, value: (r) => formatInt(r.sessions) },
    { label: 'Open now', numeric: true, value: (r) => formatInt(r.openSessions) },
    { label: 'Responses (metered)', numeric: true, value: (r) => formatInt(r.responses) },
    { label: 'Minutes', numeric: true, value: (r) => (r.sessionSeconds / 60).toFixed(1) },
    { label: 'Ended by a bound', numeric: true, value: (r) => formatInt(r.endedByGateway) },
    { label: 'WebRTC client secrets', numeric: true, value: (r) => formatInt(r.clientSecrets) },
    { label: 'SIP calls accepted', numeric: true, value: (r) => formatInt(r.callsAccepted) },
  ]);
  const note = h('div', { class: 'note' });
  return {
    el: h(
      'section',
      { class: 'card', 'aria-labelledby': 'realtime-title' },
      h(
        'header',
        { class: 'card-header' },
        h('h2', { id: 'realtime-title' }, 'Realtime voice'),
        h(
          'p',
          { class: 'card-desc' },
          'WebSocket sessions through the gateway are metered per response (their spend is the "realtime" endpoint family above). ' +
            'WebRTC and SIP media flows between the caller and OpenAI and cannot be metered by a gateway: those sessions are counted here, and their spend shows in the reconciliation with OpenAI.',
        ),
      ),
      note,
      table.el,
    ),
    async refresh(f: Filters, signal: AbortSignal) {
      const range = resolveRange(f);
      const to = new Date(range.to.getTime() + 86_400_000);
      try {
        const data = await api.get<RealtimeActivity>('/api/analytics/realtime', { from: day(range.from), to: day(to), feature: (f.feature && idOf('feature', f.feature)) || undefined }, signal);
        clear(note);
        table.setRows(data.features, undefined, 'No Realtime sessions or WebRTC keys in this range.');
      } catch (error) {
        if ((error as Error).name === 'AbortError') return;
        clear(note, h('p', { class: 'state-msg state-unavailable' }, `Realtime activity unavailable: ${(error as Error).message}`));
      }
    },
  };
}
