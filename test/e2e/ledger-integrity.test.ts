// No single event can stop the ledger: a value out of any column's range is stored bounded and
// flagged (a 200 call always becomes a row with its cost), a row Postgres refuses for what it holds
// is set aside alone, and a spill file with a bad line, or written while Postgres was away, still
// replays, on its own timer.
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usageEvent, type UsageEvent } from '../../server/ledger/usage-event.js';
import { startStack, type Stack } from '../support/stack.js';
import { api, parseCsv } from './analytics-fixtures.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { LEDGER_BATCH_SIZE: '8' } });
});
afterAll(() => stack?.close());

const writer = () => stack.ledger;
const rejectedLines = async () => {
  const dir = writer().rejectDir;
  const files = await readdir(dir).catch(() => [] as string[]);
  return (await Promise.all(files.map((f) => readFile(join(dir, f), 'utf8')))).join('').split('\n').filter(Boolean);
};
const count = async (ids: string[]) =>
  Number((await stack.db.query('SELECT count(*) AS n FROM usage_events WHERE id = ANY($1::uuid[])', [ids])).rows[0].n);

describe('a row Postgres refuses is isolated, whatever the reason', () => {
  it('a 3 KB random model through the gateway is stored truncated and flagged; its neighbours land', async () => {
    await stack.resetUsage();
    const model = randomBytes(1536).toString('hex'); // 3,072 characters: a btree index row too large
    const client = stack.client();
    const ask = (m: string) => client.chat.completions.create({ model: m, messages: [{ role: 'user', content: 'hi' }] });
    const before = await ask('gpt-4o-mini');
    const odd = await ask(model);
    const after = await ask('gpt-4o-mini');
    expect(odd.model).toBe(model); // the client sees what the upstream sent

    const rows = await stack.events();
    expect(rows).toHaveLength(3);
    expect(rows.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(rows[1].model).toBe(model.slice(0, 256));
    expect(rows[1].clamped).toBe('model');
    expect([rows[0].clamped, rows[2].clamped]).toEqual([null, null]);
    expect(rows[0].cost_nanos).not.toBeNull();
    expect(before.id && after.id).toBeTruthy();
    expect((await stack.db.query('SELECT sum(requests)::int AS n FROM usage_hourly')).rows[0].n).toBe(3);

    // Finance sees the flag in the raw events export.
    const from = new Date(Date.now() - 3_600_000).toISOString().slice(0, 13) + ':00:00Z';
    const to = new Date(Date.now() + 3_600_000).toISOString().slice(0, 13) + ':00:00Z';
    const csv = parseCsv(await (await api(stack, `/api/analytics/exports/usage-events.csv?from=${from}&to=${to}`)).text());
    const [header, ...lines] = csv;
    const byId = new Map(lines.map((line) => [line[header.indexOf('id')], line[header.indexOf('clamped')]]));
    expect(byId.get(rows[1].id as string)).toBe('model');
    expect(byId.get(rows[0].id as string)).toBe('');
  });

  it('splits a batch until a row refused outside class 22 (index row too large, 54000) is alone', async () => {
    await stack.resetUsage();
    const rejectedBefore = stack.ledger.snapshot().rejected;
    const at = (i: number) => new Date(Date.now() + i);
    const events = Array.from({ length: 7 }, (_, i) => usageEvent({ createdAt: at(i) }));
    // Written directly, past the bounds record() applies: what any unforeseen refusal looks like.
    const bad = usageEvent({ createdAt: at(3), model: randomBytes(1536).toString('hex') });
    events.splice(3, 0, bad);
    await writer().write(events);
    const good = events.filter((e) => e !== bad).map((e) => e.id);
    expect(await count(good)).toBe(7);
    expect(await count([bad.id])).toBe(0);
    expect(stack.ledger.snapshot().rejected).toBe(rejectedBefore + 1);
    expect((await rejectedLines()).some((line) => line.includes(bad.id))).toBe(true);
  });

  it('keeps flowing after a refused row: the queue empties and later events land', async () => {
    await stack.resetUsage();
    const bad = usageEvent({ createdAt: new Date(), usageSource: 'made-up' as UsageEvent['usageSource'] }); // CHECK, 23514
    const later = [1, 2, 3].map((i) => usageEvent({ createdAt: new Date(Date.now() + i) }));
    stack.ledger.record(bad);
    for (const e of later) stack.ledger.record(e);
    await stack.ledger.flush();
    expect(stack.ledger.snapshot().queued).toBe(0);
    expect(await count(later.map((e) => e.id))).toBe(3);
  });
});

describe('rollups cannot overflow', () => {
  it('sums costs past bigint in one hour of one key: every event lands, the hour adds up', async () => {
    await stack.resetUsage();
    const hour = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000);
    // 10^18 nanos each ($10^9: possible only from a hostile upstream at the clamps); ten of them exceed 2^63.
    const events = Array.from({ length: 10 }, (_, i) => usageEvent({ createdAt: new Date(hour.getTime() + i), costNanos: '1000000000000000000' }));
    for (const e of events) stack.ledger.record(e);
    await stack.ledger.flush();
    expect(await count(events.map((e) => e.id))).toBe(10);
    const { rows } = await stack.db.query('SELECT cost_nanos::text AS c FROM usage_hourly UNION ALL SELECT cost_nanos::text FROM usage_daily');
    expect(rows).toEqual([{ c: '10000000000000000000' }, { c: '10000000000000000000' }]);
  });
});

/** An upstream that answers 200 with whatever numbers a case asks for (the prompt names the case). */
interface OddCase {
  usage?: Record<string, unknown>;
  headers?: Record<string, string>;
}
const CASES: Record<string, OddCase> = {
  'prompt-3e9': { usage: { prompt_tokens: 3e9, completion_tokens: 5, total_tokens: 3e9 + 5 } },
  'prompt-1e308': { usage: { prompt_tokens: 1e308, completion_tokens: 1e308 } },
  'negative': { usage: { prompt_tokens: -5, completion_tokens: 7, prompt_tokens_details: { cached_tokens: -1 } } },
  'non-numeric': { usage: { prompt_tokens: 'lots', completion_tokens: 7, completion_tokens_details: { reasoning_tokens: null } } },
  'limit-requests': { headers: { 'x-ratelimit-limit-requests': '99999999999', 'x-ratelimit-remaining-requests': '99999999998' } },
  'reset-requests': { headers: { 'x-ratelimit-limit-requests': '500', 'x-ratelimit-reset-requests': '999999999h' } },
  'tokens-header': { headers: { 'x-ratelimit-limit-tokens': '1e30', 'x-ratelimit-remaining-tokens': '-4', 'x-ratelimit-reset-tokens': 'soon' } },
};

function oddUpstream(): Promise<Server> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url?.startsWith('/v1/audio/transcriptions')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ task: 'transcribe', language: 'english', duration: 92_508_250, text: 'hello', segments: [] }));
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { model: string; messages: Array<{ content: string }> };
      const odd = CASES[body.messages[0].content] ?? {};
      res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': `req_${randomUUID()}`, ...odd.headers });
      res.end(
        JSON.stringify({
          id: 'chatcmpl-odd',
          object: 'chat.completion',
          created: 1,
          model: body.model,
          choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
          usage: odd.usage ?? { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
        }),
      );
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('odd upstream numbers still make a row with its cost', () => {
  let upstream: Server;
  let client: OpenAI;
  beforeAll(async () => {
    upstream = await oddUpstream();
    const baseUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`;
    const org = await stack.orgsService.createOrg({ name: 'odd', openaiOrgId: 'org-odd', baseUrl, apiKey: 'sk-odd-upstream-key-0123456789' });
    const feature = await stack.orgsService.createFeature({ slug: 'feature-odd', name: 'Odd', defaultOrgId: org.id });
    const { key } = await stack.orgsService.issueGatewayKey(feature.id, 'test');
    client = stack.client({ id: feature.id, slug: feature.slug, gatewayKey: key });
  });
  afterAll(() => new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve())));

  it.each([
    ['prompt-3e9', 'input_tokens', { input_tokens: 2_147_483_647, output_tokens: 5 }],
    ['prompt-1e308', 'input_tokens,output_tokens', { input_tokens: 2_147_483_647, output_tokens: 2_147_483_647 }],
    ['negative', null, { input_tokens: 0, cached_tokens: 0, output_tokens: 7 }],
    ['non-numeric', null, { input_tokens: 0, output_tokens: 7 }],
    ['limit-requests', 'rl_limit_requests,rl_remaining_requests', { rl_limit_requests: 2_147_483_647, rl_remaining_requests: 2_147_483_647 }],
    ['reset-requests', 'rl_reset_requests_ms', { rl_limit_requests: 500, rl_reset_requests_ms: 2_147_483_647 }],
    ['tokens-header', 'rl_limit_tokens', { rl_limit_tokens: String(Number.MAX_SAFE_INTEGER), rl_remaining_tokens: null, rl_reset_tokens_ms: null }],
  ])('%s: a 200 row with its cost, clamped = %s', async (name, clamped, expected) => {
    await stack.resetUsage();
    const answer = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: name }] });
    expect(answer.choices[0].message.content).toBe('ok');
    const [row] = await stack.events();
    expect(row).toMatchObject({ status: 200, outcome: 'ok', clamped, ...expected });
    expect(row.cost_nanos).not.toBeNull();
    expect(BigInt(row.cost_nanos as string)).toBeGreaterThan(0n);
    if (name.startsWith('prompt-')) {
      // Priced on the clamped count: 2^31 - 1 tokens at $0.15 per 1M, plus the output.
      expect(BigInt(row.cost_nanos as string)).toBeGreaterThanOrEqual(322_122_547_050n);
    }
  });

  it('a transcription of 92,508,250 s is stored clamped to numeric(10, 3), with its cost', async () => {
    await stack.resetUsage();
    const file = await toFile(Buffer.from('not really audio'), 'speech.mp3', { type: 'audio/mpeg' });
    const answer = await client.audio.transcriptions.create({ model: 'whisper-1', file, response_format: 'verbose_json' });
    expect(answer.duration).toBe(92_508_250);
    // The event is queued once the upload's own length is settled, just after the answer.
    let rows = await stack.events();
    for (let i = 0; i < 50 && rows.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      rows = await stack.events();
    }
    const [row] = rows;
    expect(row).toMatchObject({ status: 200, audio_seconds: '9999999.999', clamped: 'audio_seconds' });
    // 10,000,000 started seconds at $0.006 a minute.
    expect(row.cost_nanos).toBe('1000000000000');
  });
});

describe('spill replay', () => {
  const spillFile = async (name: string, lines: string[]) => {
    await mkdir(writer().spillDir, { recursive: true });
    await writeFile(join(writer().spillDir, name), lines.join('\n') + '\n');
  };
  const spilled = async () => (await readdir(writer().spillDir).catch(() => [] as string[])).filter((f) => f.endsWith('.jsonl'));

  it('skips a malformed line (to rejected, with file and line logged) and replays the rest', async () => {
    await stack.resetUsage();
    const events = Array.from({ length: 20 }, (_, i) => usageEvent({ createdAt: new Date(Date.now() + i) }));
    const lines = events.map((e) => JSON.stringify(e));
    lines.splice(5, 0, '{"id":"cut short by a cra');
    lines.splice(12, 0, '[1,2,3]');
    await spillFile('ledger-1-1-000001.jsonl', lines);
    const rejectedBefore = stack.ledger.snapshot().rejected;

    expect(await stack.ledger.replaySpill()).toBe(20);
    expect(await count(events.map((e) => e.id))).toBe(20);
    expect(await spilled()).toEqual([]);
    expect(stack.ledger.snapshot().rejected).toBe(rejectedBefore + 2);
    const kept = await rejectedLines();
    expect(kept).toContain('{"id":"cut short by a cra');
    expect(kept).toContain('[1,2,3]');
  });

  it('retries a replay that failed because Postgres was away on its own timer, without new traffic', async () => {
    await stack.resetUsage();
    const events = Array.from({ length: 5 }, (_, i) => usageEvent({ createdAt: new Date(Date.now() + i) }));
    await spillFile('ledger-1-2-000001.jsonl', events.map((e) => JSON.stringify(e)));
    await stack.db.query('ALTER TABLE usage_events RENAME TO usage_events_offline');
    try {
      expect(await stack.ledger.replaySpill()).toBe(0); // Postgres "away": nothing written, file kept
      expect(await spilled()).toEqual(['ledger-1-2-000001.jsonl']);
    } finally {
      await stack.db.query('ALTER TABLE usage_events_offline RENAME TO usage_events');
    }
    // No record(), no flush(): only the writer's own retry timer can write them now.
    let landed = 0;
    for (let i = 0; i < 50 && (landed < 5 || (await spilled()).length > 0); i++) {
      await new Promise((r) => setTimeout(r, 100));
      landed = await count(events.map((e) => e.id));
    }
    expect(landed).toBe(5);
    expect(await spilled()).toEqual([]);
  });
});

describe('ledger:replay-rejected', () => {
  it('writes set-aside events again once fixable; what is still refused is set aside again, nothing twice', async () => {
    await stack.resetUsage();
    const dir = writer().rejectDir;
    await mkdir(dir, { recursive: true });
    // As a refusal before bounding would have kept it: a model too long for the rollups' index.
    const fixable = usageEvent({ createdAt: new Date(), model: 'x'.repeat(3000) });
    const fine = usageEvent({ createdAt: new Date(Date.now() + 1) });
    const refused = usageEvent({ createdAt: new Date(Date.now() + 2), outcome: 'bogus' as UsageEvent['outcome'] });
    await writeFile(join(dir, 'rejected-1.jsonl'), [fixable, 'garbage', fine, refused].map((e) => (typeof e === 'string' ? e : JSON.stringify(e))).join('\n') + '\n');

    const result = await stack.ledger.replayRejected();
    expect(result.events).toBeGreaterThanOrEqual(3);
    expect(await count([fixable.id, fine.id])).toBe(2);
    expect(await count([refused.id])).toBe(0);
    const files = await readdir(dir);
    expect(files).not.toContain('rejected-1.jsonl');
    expect(files.filter((f) => f.endsWith('.replaying'))).toEqual([]);
    const kept = await rejectedLines();
    expect(kept.filter((l) => l === 'garbage')).toHaveLength(1);
    expect(kept.filter((l) => l.includes(refused.id))).toHaveLength(1);
    expect(kept.some((l) => l.includes(fine.id))).toBe(false);

    // Once more: the refused row and the bad line stay set aside, once each.
    await stack.ledger.replayRejected();
    const again = await rejectedLines();
    expect(again.filter((l) => l === 'garbage')).toHaveLength(1);
    expect(again.filter((l) => l.includes(refused.id))).toHaveLength(1);
  });
});
