// A large batch output file is metered as it streams: memory stays bounded by a line, not the file. The
// simulator writes ~3,000 embedding lines (~55 MB of output); the test samples the heap of this process
// (gateway, watcher and simulator all run here) while the watcher meters it.
import { toFile } from 'openai';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { BATCH_WATCH_INTERVAL_MS: '50', BATCH_POLL_MIN_MS: '100', BATCH_POLL_MAX_MS: '300', BATCH_METER_CHUNK_LINES: '500' }, simulator: { jobPhaseMs: 50 } });
});
afterAll(() => stack?.close());

it('meters a 50+ MB output file line by line with bounded memory', async () => {
  const client = stack.client();
  const lines = Array.from({ length: 3000 }, (_, i) =>
    JSON.stringify({ custom_id: `doc-${i}`, method: 'POST', url: '/v1/embeddings', body: { model: 'text-embedding-3-small', input: `document ${i} about tides and harbours` } }),
  );
  const file = await client.files.create({ file: await toFile(Buffer.from(lines.join('\n')), 'embed.jsonl'), purpose: 'batch' });
  const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h' });
  // Wait until the simulator finished writing, so what is sampled next is the metering only.
  const end = Date.now() + 120_000;
  let outputFileId: string | null | undefined;
  while (!(outputFileId = (await client.batches.retrieve(batch.id)).output_file_id)) {
    if (Date.now() > end) throw new Error('batch did not complete');
    await new Promise((r) => setTimeout(r, 100));
  }
  const bytes = (await client.files.retrieve(outputFileId)).bytes;
  expect(bytes).toBeGreaterThan(50 * 1024 * 1024);

  global.gc?.();
  const baseline = process.memoryUsage().heapUsed;
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 5);
  try {
    for (;;) {
      const { rows } = await stack.db.query('SELECT metered_at, output_lines_metered FROM batches WHERE id = $1', [batch.id]);
      if (rows[0]?.metered_at) {
        expect(rows[0].output_lines_metered).toBe(3000);
        break;
      }
      if (Date.now() > end) throw new Error('batch not metered in time');
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    clearInterval(sampler);
  }
  // Loose: the file would add its own size at least if it were held whole (as a string, twice that).
  const growth = peak - baseline;
  console.log(`batch output ${(bytes / 1048576).toFixed(1)} MB metered; heap growth at peak ${(growth / 1048576).toFixed(1)} MB`);
  expect(growth).toBeLessThan(bytes / 2);
  const { rows } = await stack.db.query(`SELECT count(*)::int AS n FROM usage_events WHERE endpoint = 'batch' AND input_tokens > 0`);
  expect(rows[0].n).toBe(3000);
}, 180_000);
