// One org's stalled uploads cannot starve the others: every org shares the upstream pool (in
// production, api.openai.com), so an upload that stops sending is timed out, and an org past its
// cap of concurrent upstream calls is answered 429 by the gateway at once instead of holding more
// connections. Measured before: 256 chunked uploads that never finished held the whole pool and
// another org's calls timed out.
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    env: { UPSTREAM_CONNECTIONS_PER_ORIGIN: '4', UPSTREAM_MAX_CONCURRENT_PER_ORG: '2', REQUEST_BODY_IDLE_TIMEOUT_MS: '1500' },
  });
});
afterAll(() => stack?.close());

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  ms: number;
}

/** A chunked transcription upload that sends its first bytes and then nothing more. */
function stalledUpload(apiKey: string): Promise<Answer> {
  const started = Date.now();
  return new Promise((done, fail) => {
    const req = httpRequest(`${stack.url}/v1/audio/transcriptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'multipart/form-data; boundary=stall', 'transfer-encoding': 'chunked' },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => done({ status: res.statusCode ?? 0, headers: res.headers, body, ms: Date.now() - started }));
      res.on('error', fail);
    });
    req.on('error', fail);
    req.write('--stall\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--stall\r\nContent-Disposition: form-data; name="file"; filename="a.mp3"\r\nContent-Type: audio/mpeg\r\n\r\n');
    req.write(Buffer.alloc(4096, 1));
  });
}

it("times out stalled uploads, caps an org's concurrent upstream calls, and keeps another org's calls flowing", async () => {
  const [alpha, beta] = stack.features;
  const uploads = Array.from({ length: 4 }, () => stalledUpload(alpha.gatewayKey));
  await new Promise((r) => setTimeout(r, 300)); // all four are in

  // Another org, same upstream origin: answered while alpha's uploads stall.
  const started = Date.now();
  const other = await stack.client(beta, { timeout: 1_200 }).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'still there?' }] });
  expect(other.choices[0].message.content).toBeTruthy();
  expect(Date.now() - started).toBeLessThan(1_200);

  const answers = await Promise.all(uploads);
  const capped = answers.filter((a) => a.status === 429);
  const timedOut = answers.filter((a) => a.status === 408);
  expect(capped).toHaveLength(2);
  expect(timedOut).toHaveLength(2);
  for (const a of capped) {
    expect(a.ms).toBeLessThan(1_000); // at once, not after a wait
    expect(Number(a.headers['retry-after'])).toBeGreaterThan(0);
    expect(JSON.parse(a.body).error).toMatchObject({ code: 'gateway_concurrency_limit' });
  }
  for (const a of timedOut) {
    expect(a.ms).toBeGreaterThanOrEqual(1_400);
    expect(a.ms).toBeLessThan(5_000);
    expect(JSON.parse(a.body).error).toMatchObject({ code: 'request_timeout', type: 'invalid_request_error' });
  }

  // An upload cut short still gets up to 2 s to have its audio measured before its event is queued.
  let events: Record<string, unknown>[] = [];
  for (let i = 0; i < 40 && events.length < 4; i++) {
    events = (await stack.events()).filter((e) => e.endpoint === 'audio.transcriptions');
    if (events.length < 4) await new Promise((r) => setTimeout(r, 100));
  }
  expect(events.map((e) => [e.status, e.error_kind, e.error_code]).sort()).toEqual([
    [408, 'invalid_request', 'request_timeout'],
    [408, 'invalid_request', 'request_timeout'],
    [429, 'gateway', 'gateway_concurrency_limit'],
    [429, 'gateway', 'gateway_concurrency_limit'],
  ]);
  // The gateway's own 429s are not OpenAI throttling: counted as the gateway's errors, not as 429s from OpenAI.
  const metrics = await (await fetch(`${stack.url}/metrics`)).text();
  expect(metrics).toMatch(/tallygate_errors_total\{[^}]*feature="feature-alpha"[^}]*cause="gateway"\} 2/);
  expect(metrics).toMatch(/tallygate_errors_total\{[^}]*feature="feature-alpha"[^}]*cause="client"\} 2/);
  expect(metrics).not.toMatch(/tallygate_429_total\{[^}]*feature="feature-alpha"/);

  // The slots are free again: alpha's next call goes through.
  await expect(stack.client(alpha).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'again' }] })).resolves.toBeTruthy();
}, 30_000);

it('caps one feature when UPSTREAM_MAX_CONCURRENT_PER_FEATURE is set, leaving the org to the others', async () => {
  const capped = await startStack({ env: { UPSTREAM_MAX_CONCURRENT_PER_FEATURE: '1' } });
  try {
    const slow = { headers: { 'x-sim-latency-ms': '600' } };
    const ask = () => capped.client().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'slow' }] }, slow);
    const [first, second] = await Promise.allSettled([ask(), new Promise((r) => setTimeout(r, 150)).then(ask)]);
    expect(first.status).toBe('fulfilled');
    expect(second).toMatchObject({ status: 'rejected', reason: { status: 429, code: 'gateway_concurrency_limit' } });
    expect(String((second as PromiseRejectedResult).reason.message)).toMatch(/Feature feature-alpha already has 1 calls in flight/);
    await expect(ask()).resolves.toBeTruthy(); // released once the first ended
  } finally {
    await capped.close();
  }
}, 30_000);
