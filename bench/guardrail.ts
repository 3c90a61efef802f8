// npm run bench, section 5: what a moderation guardrail adds before each model call. Two features
// on the same org, one with a monitor-mode guardrail, measured open-loop side by side.
import { adminPost } from './support.js';

type OpenLoop = (origin: string, key: string, rate: number, seconds: number) => Promise<number[]>;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

export async function guardrailSection(gateway: string, token: string, orgId: string, plainKey: string, openLoop: OpenLoop, rate: number, seconds: number): Promise<void> {
  const feature = await adminPost(gateway, token, '/api/admin/features', { slug: 'bench-guarded', name: 'bench guarded', defaultOrgId: orgId });
  const { key } = (await adminPost(gateway, token, `/api/admin/features/${feature.id as string}/gateway-keys`, { name: 'guarded' })) as { key: string };
  const policy = await fetch(`${gateway}/api/admin/moderation/policies/bench-guarded`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ preset: 'default', guardrail: 'monitor' }),
  });
  if (policy.status !== 200) throw new Error(`guardrail policy not set: ${policy.status} ${await policy.text()}`);
  console.log(`5. Moderation guardrail (monitor mode) at ${rate} req/s (open loop, ${seconds} s per run, alternating)`);
  const runs: Array<{ name: string; p50: number; p99: number }> = [];
  for (const round of [1, 2]) {
    for (const [name, k] of [['no guardrail', plainKey], ['guardrail   ', key]] as const) {
      const l = await openLoop(gateway, k, rate, seconds);
      runs.push({ name: name.trim(), p50: percentile(l, 50), p99: percentile(l, 99) });
      console.log(`   round ${round} ${name}: p50 ${percentile(l, 50).toFixed(2)} ms   p99 ${percentile(l, 99).toFixed(2)} ms   (${l.length} requests)`);
    }
  }
  const mean = (name: string, k: 'p50' | 'p99') => runs.filter((r) => r.name === name).reduce((s, r) => s + r[k], 0) / 2;
  console.log(
    `   added by the guardrail (one moderation round trip to the simulator first): p50 ${(mean('guardrail', 'p50') - mean('no guardrail', 'p50')).toFixed(2)} ms   p99 ${(mean('guardrail', 'p99') - mean('no guardrail', 'p99')).toFixed(2)} ms\n`,
  );
}
