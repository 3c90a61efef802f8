// CLI commands for alerts (registered in server/cli.ts): what fires, the channels, a test to one of them.
import type { CliCommand } from '../budgets/budgets.commands.js';
import { alertListQuerySchema } from '../contract/alerts.js';
import { validate } from '../http/validate.js';
import { AlertsService } from './alerts.service.js';

export const ALERT_COMMANDS: Record<string, CliCommand> = {
  'alerts:list': {
    usage: 'alerts:list [--state firing|resolved|all] [--limit N]',
    run: (ctx, _a, f) => {
      const q = validate(alertListQuerySchema, { state: f.state, limit: f.limit });
      return ctx.get(AlertsService).alerts(q.state, q.limit, true);
    },
  },
  'alerts:channels': { usage: 'alerts:channels                           channels alerts are sent to (secrets masked)', run: (ctx) => ctx.get(AlertsService).channels() },
  'alerts:test-channel': {
    usage: 'alerts:test-channel <channel-id>          queue a test notification (the running gateway sends it; see the delivery log)',
    run: (ctx, [id]) => {
      if (!id) throw new Error('missing <channel-id>');
      return ctx.get(AlertsService).sendTest(id);
    },
  },
};
