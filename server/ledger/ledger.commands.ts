// `npm run cli -- ledger:…`: the ledger's events Postgres refused, and retention.
import { DataSource } from 'typeorm';
import type { Commands } from '../cli/command.js';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { LedgerRepository } from './ledger.repository.js';
import { LedgerWriter } from './ledger.writer.js';
import { RetentionRepository } from './retention.repository.js';
import { LedgerRetention } from './retention.js';

export const LEDGER_COMMANDS: Commands = {
  'ledger:replay-rejected': {
    usage: 'ledger:replay-rejected                    write DATA_DIR/rejected again once fixed (what is still refused stays)',
    // A writer of its own, never bootstrapped: it replays only what it is asked to, with no timer.
    run: (ctx) => new LedgerWriter(new LedgerRepository(ctx.get(DataSource)), ctx.get<AppConfig>(APP_CONFIG)).replayRejected(),
  },
  'ledger:retention': {
    usage: 'ledger:retention [--dry-run true]         remove raw events past LEDGER_RETENTION_MONTHS now (exported first with LEDGER_RETENTION_EXPORT_DIR)',
    // Constructed here, never bootstrapped: no timer, one pass.
    run: (ctx, _a, f) =>
      new LedgerRetention(new RetentionRepository(ctx.get(DataSource)), ctx.get<AppConfig>(APP_CONFIG)).run({ dryRun: f['dry-run'] === 'true', progress: (m) => console.error(m) }),
  },
};
