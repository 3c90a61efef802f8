// `npm start`: the gateway, its API and the dashboard, against DATABASE_URL or the embedded Postgres.
import { createApp, shutdown } from './app.js';
import { ConfigError, loadConfig, loadEnvFile } from './config/config.js';
import { openDatabase } from './database/database.js';
import { EmbeddedPostgresError } from './database/embedded-postgres.js';

async function main(): Promise<void> {
  loadEnvFile();
  const config = loadConfig();
  // Until the gateway is up, a signal just exits: the embedded Postgres, if one was started, is
  // stopped on 'exit' (a process killed by a signal would not emit it, and leave it running).
  let stop = (signal: string): void => {
    console.log(`${signal} while starting: stopping`);
    process.exit(1);
  };
  // SIGHUP too: a closed terminal must not leave the embedded Postgres running without us.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => stop(signal));
  const database = await openDatabase(config);
  const app = await createApp(config, database.url);
  await app.listen({ port: config.PORT, host: config.HOST });
  const scheme = config.TLS_CERT_FILE ? "https" : "http";
  console.log(`Tallygate listening on ${scheme}://${config.HOST}:${config.PORT} (OpenAI base URL: ${scheme}://${config.HOST}:${config.PORT}/v1)`);
  let stopping = false;
  stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: draining in-flight requests (up to ${config.SHUTDOWN_GRACE_MS} ms) and flushing the ledger`);
    void shutdown(app, config.SHUTDOWN_GRACE_MS)
      .then(() => database.stop())
      .then(() => process.exit(0))
      .catch((error: Error) => {
        console.error(`shutdown failed: ${error.message}`);
        process.exit(1);
      });
  };
}

main().catch((error: unknown) => {
  // Errors that say what to do are one line; anything else is a bug, so its stack helps.
  const plain = error instanceof ConfigError || error instanceof EmbeddedPostgresError;
  console.error(plain ? error.message : `Tallygate failed to start: ${(error as Error).stack ?? String(error)}`);
  process.exit(1);
});
