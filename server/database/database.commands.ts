// `npm run cli -- migrate`: the database schema.
import { DataSource } from 'typeorm';
import type { Commands } from '../cli/command.js';
import { migrate } from './migrate.js';

export const DATABASE_COMMANDS: Commands = {
  migrate: {
    usage: 'migrate                                   apply pending migrations',
    run: async (ctx) => ({ applied: await migrate(ctx.get(DataSource)) }),
  },
};
