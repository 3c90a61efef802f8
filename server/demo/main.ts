// `npm run demo`: embedded Postgres, the OpenAI simulator as upstream, the gateway and dashboard,
// three demo orgs/features with fresh gateway keys in ./data/demo.env, and live traffic.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { DataSource } from 'typeorm';
import { createApp, shutdown } from '../app.js';
import { seedDemoUsers } from './users.js';
import { ModerationService } from '../moderation/moderation.service.js';
import { seedDemoAlerting, startMailSink } from './alerts.js';
import { AlertsService } from '../alerts/alerts.service.js';
import { UsersService } from '../auth/users.service.js';
import { ConfigError, loadConfig, loadEnvFile } from '../config/config.js';
import { openDatabase } from '../database/database.js';
import { EmbeddedPostgresError } from '../database/embedded-postgres.js';
import { LedgerWriter } from '../ledger/ledger.writer.js';
import { OrgsService } from '../orgs/orgs.service.js';
import { PricingService } from '../pricing/pricing.service.js';
import { startSimulator } from '../simulator/simulator.js';
import { backfillHistory, demoProfiles } from './history.js';
import { DEMO_FEATURES, DEMO_ORGS, seedDemo } from './seed.js';
import { runNightlyBatch, startTraffic } from './traffic.js';
import { seedDemoCharges, seedDemoReconciliation, seedSimulatorBill, startGapTraffic } from './reconciliation.js';

/** A secret kept under ./data so restarts of the demo can still open what they sealed. */
async function persistentSecret(dataDir: string, name: string, make: () => string): Promise<string> {
  const path = resolve(dataDir, name);
  if (existsSync(path)) return (await readFile(path, 'utf8')).trim();
  const value = make();
  await writeFile(path, value + '\n', { mode: 0o600 });
  return value;
}

async function main(): Promise<void> {
  loadEnvFile();
  const dataDir = resolve(process.env.DATA_DIR || './data');
  await mkdir(dataDir, { recursive: true, mode: 0o755 });
  // Alert emails go to an SMTP sink in this process (printed below as they arrive) unless SMTP_URL says otherwise.
  const mailSink = process.env.SMTP_URL ? undefined : await startMailSink();
  const config = loadConfig({
    PORT: '8080',
    // The demo's batch finishes in seconds: poll it often enough to see it metered soon after.
    BATCH_POLL_MIN_MS: '3000',
    BATCH_POLL_MAX_MS: '15000',
    ...(mailSink ? { SMTP_URL: mailSink.url, ALERTS_EVAL_INTERVAL_MS: '10000' } : {}),
    ALERTS_DASHBOARD_URL: `http://127.0.0.1:${process.env.PORT || '8080'}`,
    ...process.env,
    // The demo prints passwords and an admin token: only this machine may reach it unless HOST says otherwise.
    HOST: process.env.HOST || '127.0.0.1',
    DATA_DIR: dataDir,
    MASTER_KEY: process.env.MASTER_KEY || (await persistentSecret(dataDir, 'master.key', () => randomBytes(32).toString('base64'))),
    ADMIN_TOKEN: process.env.ADMIN_TOKEN || (await persistentSecret(dataDir, 'admin.token', () => randomBytes(24).toString('base64url'))),
  });
  // Until everything is up, a signal just exits (the embedded Postgres is stopped on 'exit').
  let stop = async (): Promise<void> => process.exit(1);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop());
  // Demo data is disposable: if the 'postgres' user cannot reach ./data (a clone in a 0700 folder, as root), it goes elsewhere.
  const database = await openDatabase(config, { relocate: true });
  if (database.relocated) console.log(database.relocated);
  const simulator = await startSimulator({ orgs: DEMO_ORGS, port: Number(process.env.SIM_PORT ?? 0), latency: { ttftMs: 120, perTokenMs: 4 }, errorRate: 0.01, batchLineMs: 20 });
  const app = await createApp(config, database.url);
  await app.listen({ port: config.PORT, host: config.HOST });
  const gateway = `http://127.0.0.1:${config.PORT}`;
  const reach = ['127.0.0.1', 'localhost', '::1'].includes(config.HOST)
    ? `this machine only (HOST=${config.HOST}; set HOST=0.0.0.0 to open it to the network)`
    : `every address of this machine (HOST=${config.HOST}): the sign-ins below work from the network`;

  const orgs = app.get(OrgsService);
  const featureIds = await seedDemo(orgs, simulator.url);
  const keys: Record<string, string> = {};
  for (const feature of DEMO_FEATURES) {
    // Keys are stored hashed, so each run issues fresh ones and revokes the previous run's.
    for (const old of await orgs.listGatewayKeys(featureIds.get(feature.slug))) {
      if (old.name === 'demo' && !old.revokedAt) await orgs.revokeGatewayKey(old.id);
    }
    keys[feature.slug] = (await orgs.issueGatewayKey(featureIds.get(feature.slug)!, 'demo')).key;
  }

  // The chatbot serves the public: a strict moderation policy with its guardrail watching inputs.
  const moderation = app.get(ModerationService);
  if (!moderation.policyOf(featureIds.get('customer-service-chatbot')!)) {
    await moderation.set('customer-service-chatbot', { preset: 'strict', thresholds: {}, guardrail: 'monitor', failMode: 'open', timeoutMs: 2_000, storeInputs: false }, 'demo');
  }
  if (!moderation.policyOf(featureIds.get('content-recommendation')!)) {
    await moderation.set('content-recommendation', { preset: 'lenient', thresholds: {}, guardrail: 'off', failMode: 'open', timeoutMs: 2_000, storeInputs: false }, 'demo');
  }

  const credentials = await seedDemoUsers(app.get(UsersService));
  await seedDemoAlerting(app.get(AlertsService));

  // The simulator's bill lives in memory: bill it again with what earlier runs recorded, before any org has an
  // admin key this run could sync with (a sync of an empty bill would store empty hours past its watermark).
  await seedSimulatorBill(app.get(DataSource), simulator);
  seedDemoCharges(simulator);
  const [{ count }] = (await app.get(DataSource).query('SELECT count(*)::int AS count FROM usage_events')) as [{ count: number }];
  if (count === 0) {
    const orgIds = new Map((await orgs.listOrgs()).map((o) => [o.openaiOrgId, o.id]));
    const pair = (slug: string): [string, string] => [featureIds.get(slug)!, orgIds.get(DEMO_FEATURES.find((f) => f.slug === slug)!.orgId)!];
    const queued = backfillHistory(app.get(LedgerWriter), app.get(PricingService), demoProfiles({
      chatbot: pair('customer-service-chatbot'),
      recommender: pair('content-recommendation'),
      transcripts: pair('video-transcripts'),
    }), 42);
    console.log(`Backfilled ${queued} usage events of the last six weeks (first run only).`);
    await app.get(LedgerWriter).flush();
    await seedSimulatorBill(app.get(DataSource), simulator);
  }

  // Reconciliation: admin keys and OpenAI key ids (the simulator's bill for the days before this run is in).
  await seedDemoReconciliation(orgs);
  const stopGaps = startGapTraffic({ simulatorUrl: simulator.url, gatewayUrl: `${gateway}/v1`, chatbotKey: keys['customer-service-chatbot'] });

  const env = [
    `OPENAI_BASE_URL=${gateway}/v1`,
    ...DEMO_FEATURES.map((f) => `OPENAI_API_KEY_${f.env}=${keys[f.slug]}`),
    `DATABASE_URL=${database.url}`,
  ].join('\n');
  await writeFile(resolve(dataDir, 'demo.env'), env + '\n', { mode: 0o600 });

  const stopTraffic = startTraffic({
    baseURL: `${gateway}/v1`,
    keys: { chatbot: keys['customer-service-chatbot'], recommender: keys['content-recommendation'], transcripts: keys['video-transcripts'] },
    rate: Number(process.env.DEMO_RATE ?? 3),
  });
  // A nightly-style batch of 200 lines, metered by the watcher once it completes (Batches page).
  const nightly = await runNightlyBatch(`${gateway}/v1`, keys['customer-service-chatbot']);
  // The recommender org's credit runs out every other 90 seconds: a billing problem to see (and an alert:
  // the billing-failure rule fires within seconds of the first refused call, and resolves when credit is back).
  const recommender = DEMO_ORGS[1];
  let broke = false;
  const billing = setInterval(() => {
    broke = !broke;
    simulator.setOrg({ ...recommender, outOfCredit: broke });
  }, 90_000);

  console.log(`
Tallygate demo is running.
  Listening on:     ${reach}
  Dashboard:        ${gateway}/   sign in as
${credentials.map((c) => `    ${c.role.padEnd(9)} ${c.email.padEnd(30)} ${c.password}`).join('\n')}
  OpenAI base URL:  ${gateway}/v1
  Admin API token:  ${config.ADMIN_TOKEN}   (Authorization: Bearer …, API docs at ${gateway}/api/docs)
  Upstream:         OpenAI simulator at ${simulator.url}
  Nightly batch:    ${nightly ? `${nightly} (200 lines; metered at batch prices when it completes: ${gateway}/batches)` : 'not created (see the warning above)'}
  Alerts:           ${mailSink ? `emailed to an SMTP sink in this process (${mailSink.url}), printed as "[demo inbox]"` : `emailed through ${config.SMTP_URL}`}; the recommender's billing alert fires ~90 s after start (${gateway}/alerts)
  Database:         ${database.embedded ? 'embedded Postgres ' + (database.databaseDir ? 'in ' + database.databaseDir : 'already running on port ' + config.EMBEDDED_PG_PORT) : 'DATABASE_URL'}
  Gateway keys (also in ${resolve(dataDir, 'demo.env')}):
${DEMO_FEATURES.map((f) => `    ${f.slug.padEnd(26)} ${keys[f.slug]}`).join('\n')}

Try it:  set -a; . ${resolve(dataDir, 'demo.env')}; set +a
         curl $OPENAI_BASE_URL/chat/completions -H "Authorization: Bearer $OPENAI_API_KEY_CUSTOMER_SERVICE_CHATBOT" \\
           -H 'content-type: application/json' -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
Ctrl-C stops everything and flushes the ledger.
`);

  let stopping = false;
  stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping: traffic, then the gateway (flushing the ledger), the simulator and Postgres…');
    clearInterval(billing);
    stopGaps();
    await stopTraffic();
    await shutdown(app, config.SHUTDOWN_GRACE_MS);
    await simulator.close();
    await mailSink?.close();
    await database.stop();
    process.exit(0);
  };
}

main().catch((error: unknown) => {
  const plain = error instanceof ConfigError || error instanceof EmbeddedPostgresError;
  console.error(plain ? `demo failed: ${error.message}` : `demo failed: ${(error as Error).stack ?? String(error)}`);
  process.exit(1);
});
