// CLI entry: `node dist/server/simulator/main.js`. SIM_PORT (default 4010), SIM_CONFIG (JSON SimulatorOptions).
import { readFileSync } from 'node:fs';
import { startSimulator, type SimulatedOrg, type SimulatorOptions } from './simulator.js';

const DEFAULT_ORG: SimulatedOrg = { id: 'org-sim', keys: ['sk-sim-test-key-0000'] };

function isOrg(value: unknown): value is SimulatedOrg {
  if (typeof value !== 'object' || value === null) return false;
  const org = value as Partial<SimulatedOrg>;
  return typeof org.id === 'string' && Array.isArray(org.keys) && org.keys.every((key) => typeof key === 'string');
}

function loadOptions(): SimulatorOptions {
  const path = process.env.SIM_CONFIG;
  if (!path) return { orgs: [DEFAULT_ORG] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`SIM_CONFIG=${path} could not be read as JSON: ${(error as Error).message}`);
  }
  const options = parsed as Partial<SimulatorOptions> | null;
  if (!options || !Array.isArray(options.orgs) || !options.orgs.every(isOrg)) {
    throw new Error(`SIM_CONFIG=${path} must be a JSON object with "orgs": [{"id": "org-…", "keys": ["sk-…"]}, …].`);
  }
  return { ...options, orgs: options.orgs };
}

async function main(): Promise<void> {
  const options = loadOptions();
  const port = process.env.SIM_PORT ? Number(process.env.SIM_PORT) : (options.port ?? 4010);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`SIM_PORT must be a port number, got ${process.env.SIM_PORT}.`);
  const simulator = await startSimulator({ ...options, port, host: process.env.SIM_HOST ?? options.host });
  console.log(`OpenAI simulator listening on ${simulator.url}`);
  for (const org of options.orgs) console.log(`  ${org.id}: ${org.keys.join(', ')}${org.outOfCredit ? ' (out of credit)' : ''}`);
  console.log(`  stats: ${simulator.url.replace(/\/v1$/, '')}/_sim/stats`);
  const stop = (): void => {
    void simulator.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
