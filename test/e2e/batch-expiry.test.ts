// A batch that runs past its completion window expires upstream with the lines it completed, and is billed
// for exactly those, at batch prices, attributed to its creator.
import { toFile } from 'openai';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { lineEventId } from '../../server/batches/batch-lines.js';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    env: { BATCH_WATCH_INTERVAL_MS: '50', BATCH_POLL_MIN_MS: '50', BATCH_POLL_MAX_MS: '200' },
    simulator: { jobPhaseMs: 50, batchLineMs: 5, batchExpiryMs: 1_000 },
  });
});
afterAll(() => stack?.close());

it('bills an expired batch for the lines it completed', async () => {
  const client = stack.client();
  const lines = Array.from({ length: 1000 }, (_, i) =>
    JSON.stringify({ custom_id: `late-${i}`, method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `line ${i}` }] } }),
  );
  const file = await client.files.create({ file: await toFile(Buffer.from(lines.join('\n')), 'late.jsonl'), purpose: 'batch' });
  const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  const end = Date.now() + 30_000;
  let row: { metered_at: Date | null; status: string; output_lines_metered: number; cost_nanos: string } | undefined;
  for (;;) {
    row = (await stack.db.query('SELECT * FROM batches WHERE id = $1', [batch.id])).rows[0];
    if (row?.metered_at) break;
    if (Date.now() > end) throw new Error(`not metered: ${JSON.stringify(row)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const expired = await client.batches.retrieve(batch.id);
  expect(expired.status).toBe('expired');
  const completed = expired.request_counts!.completed;
  expect(completed).toBeGreaterThan(0);
  expect(completed).toBeLessThan(1000);
  expect(row!.status).toBe('expired');
  expect(row!.output_lines_metered).toBe(completed);
  const output = (await (await client.files.content(expired.output_file_id!)).text()).split('\n').filter(Boolean);
  const ids = output.map((l) => lineEventId(batch.id, (JSON.parse(l) as { custom_id: string }).custom_id));
  await stack.ledger.flush();
  const { rows } = await stack.db.query(
    `SELECT count(*)::int AS n, sum(cost_nanos)::text AS nanos, bool_and(feature_id = $2) AS creator FROM usage_events WHERE id = ANY($1::uuid[]) AND service_tier = 'batch'`,
    [ids, stack.features[0].id],
  );
  expect(rows[0]).toMatchObject({ n: completed, creator: true });
  expect(rows[0].nanos).toBe(row!.cost_nanos);
  const { rows: all } = await stack.db.query(`SELECT count(*)::int AS n FROM usage_events WHERE endpoint = 'batch'`);
  expect(all[0].n).toBe(completed);
}, 60_000);
