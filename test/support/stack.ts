// A whole Tallygate for one test file: its own database, a simulator upstream, the gateway
// listening on a random port, and orgs, features and gateway keys to call it with.
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import OpenAI from 'openai';
import pg from 'pg';
import { createApp } from '../../server/app.js';
import type { Clock } from '../../server/config/clock.js';
import { loadConfig } from '../../server/config/config.js';
import { LedgerWriter } from '../../server/ledger/ledger.writer.js';
import { ROLLUPS } from '../../server/ledger/rollups.js';
import { OrgsService } from '../../server/orgs/orgs.service.js';
import { startSimulator, type SimulatedOrg, type Simulator, type SimulatorOptions } from '../../server/simulator/simulator.js';
import { createTestDatabase } from './database.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

export interface StackOrg {
  id: string;
  name: string;
  openaiOrgId: string;
  upstreamKey: string;
}
export interface StackFeature {
  id: string;
  slug: string;
  gatewayKey: string;
}

export interface Stack {
  app: NestFastifyApplication;
  /** Gateway root, e.g. http://127.0.0.1:PORT */
  url: string;
  sim: Simulator;
  db: pg.Pool;
  /** The test database, for a second app on the same data (a replica, a restart). */
  databaseUrl: string;
  /** The environment the app was configured from (for a replica in its own process: ./replica-process.ts). */
  env: Record<string, string>;
  orgs: StackOrg[];
  features: StackFeature[];
  orgsService: OrgsService;
  ledger: LedgerWriter;
  client(feature?: StackFeature, options?: Partial<ConstructorParameters<typeof OpenAI>[0]>): OpenAI;
  /** Writes what is queued, then empties the ledger, its rollups and the simulator's counters. */
  resetUsage(): Promise<void>;
  /** Writes the ledger queue and returns the usage events, oldest first. */
  events(): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

export interface StackOptions {
  env?: Record<string, string>;
  simulator?: Partial<SimulatorOptions>;
  /** Simulated orgs; by default two ordinary orgs and one out of credit. */
  orgs?: Array<Omit<SimulatedOrg, 'keys'>>;
  /** The time the app's services read (a ManualClock to move it instead of sleeping). */
  clock?: Clock;
}

const DEFAULT_ORGS: Array<Omit<SimulatedOrg, 'keys'>> = [
  { id: 'org-alpha' },
  { id: 'org-beta' },
  { id: 'org-broke', outOfCredit: true },
];

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const simOrgs = (options.orgs ?? DEFAULT_ORGS).map((o) => ({ ...o, keys: [`sk-test-${o.id}-${randomBytes(8).toString('hex')}`] }));
  const sim = await startSimulator({ orgs: simOrgs, ...options.simulator });
  const databaseUrl = await createTestDatabase();
  const env: Record<string, string> = {
    MASTER_KEY: randomBytes(32).toString('base64'),
    ADMIN_TOKEN,
    DATA_DIR: await mkdtemp(join(tmpdir(), 'tallygate-data-')),
    LOG_LEVEL: 'warn',
    LEDGER_FLUSH_INTERVAL_MS: '50',
    KEY_CACHE_TTL_MS: '0',
    // The tests' webhook receivers listen on 127.0.0.1 (test/e2e/alert-channels.test.ts checks the refusal).
    ALERTS_ALLOW_PRIVATE_URLS: 'true',
    ...options.env,
  };
  const config = loadConfig(env);
  const app = await createApp(config, databaseUrl, { clock: options.clock });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  const orgsService = app.get(OrgsService);
  const ledger = app.get(LedgerWriter);

  const orgs: StackOrg[] = [];
  for (const simOrg of simOrgs) {
    const org = await orgsService.createOrg({ name: simOrg.id.slice(4), openaiOrgId: simOrg.id, baseUrl: sim.url, apiKey: simOrg.keys[0] });
    orgs.push({ id: org.id, name: org.name, openaiOrgId: org.openaiOrgId, upstreamKey: simOrg.keys[0] });
  }
  const features: StackFeature[] = [];
  for (const [i, org] of orgs.entries()) {
    const feature = await orgsService.createFeature({
      slug: `feature-${org.name}`,
      name: `Feature ${org.name}`,
      defaultOrgId: org.id,
      // The first feature may also use the second org, as a member of two OpenAI orgs can.
      grantedOrgIds: i === 0 && orgs[1] ? [orgs[1].id] : [],
    });
    const issued = await orgsService.issueGatewayKey(feature.id, 'test');
    features.push({ id: feature.id, slug: feature.slug, gatewayKey: issued.key });
  }
  const db = new pg.Pool({ connectionString: databaseUrl, max: 3 });

  return {
    app,
    url,
    sim,
    db,
    databaseUrl,
    env,
    orgs,
    features,
    orgsService,
    ledger,
    client: (feature = features[0], extra = {}) => new OpenAI({ baseURL: `${url}/v1`, apiKey: feature.gatewayKey, maxRetries: 0, ...extra }),
    async resetUsage() {
      await ledger.flush();
      await db.query(`TRUNCATE usage_events, ${ROLLUPS.map((r) => r.table).join(', ')}`);
      sim.reset();
    },
    async events() {
      await ledger.flush();
      return (await db.query('SELECT * FROM usage_events ORDER BY created_at, id')).rows;
    },
    async close() {
      await app.close();
      await db.end();
      await sim.close();
    },
  };
}
