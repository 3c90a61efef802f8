// What the benchmarks share: starting the simulator and the gateway as real child processes, with
// the flags `npm start` uses, and talking to the gateway's admin API.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** As `npm start` and the Dockerfile run them (docs/operations.md, "Node flags"). */
export const NODE_FLAGS = ['--max-semi-space-size=64'];

export interface StartOptions {
  /** Every line the process prints goes here too (a log file), besides the readiness check. */
  log?: (chunk: string) => void;
}

/** Runs `node <flags> <script>` and resolves once its output matches `ready`; rejects if it exits first. */
export function start(script: string, env: Record<string, string>, ready: RegExp, options: StartOptions = {}): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...NODE_FLAGS, script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let started = false;
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      options.log?.(text);
      if (started) return;
      output += text;
      if (ready.test(output)) {
        started = true;
        output = '';
        resolve(child);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code, signal) => {
      if (!started) reject(new Error(`${script} exited with ${code ?? signal} before it was ready:\n${output}`));
    });
  });
}

/** CPU time (ms) a process has used so far, from /proc (Linux); 0 when it cannot be read. */
export function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, in USER_HZ (100/s)
  } catch {
    return 0;
  }
}

/** Resident memory of a process in MB, from /proc (Linux); 0 once it has exited. */
export function rssMb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
  } catch {
    return 0;
  }
}

/** POST to the gateway's admin API as the break-glass admin token; throws on any non-2xx. */
export async function adminPost(base: string, token: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

/**
 * An org on `upstreamUrl`, a feature under it and one gateway key for that feature, as an admin
 * would set them up: what a benchmark needs to send traffic through the gateway.
 */
export async function seedFeature(gateway: string, token: string, name: string, upstream: { url: string; openaiOrgId: string; apiKey: string }) {
  const org = await adminPost(gateway, token, '/api/admin/orgs', { name, openaiOrgId: upstream.openaiOrgId, baseUrl: upstream.url, apiKey: upstream.apiKey });
  const feature = await adminPost(gateway, token, '/api/admin/features', { slug: name, name, defaultOrgId: org.id });
  const { key } = (await adminPost(gateway, token, `/api/admin/features/${feature.id as string}/gateway-keys`, { name })) as { key: string };
  return { orgId: org.id as string, featureId: feature.id as string, key };
}
