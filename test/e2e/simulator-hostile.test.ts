// The simulator's hostile-value faults (used by `npm run bench:faults`): a 200 whose numbers no real
// OpenAI sends, asked for by a marker in the prompt, plain and streamed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { startSimulator, type Simulator } from '../../server/simulator/simulator.js';

const KEY = 'sk-test-hostile-key-0001';

describe('simulator hostile values', () => {
  let simulator: Simulator;
  let client: OpenAI;

  beforeAll(async () => {
    simulator = await startSimulator({ orgs: [{ id: 'org-hostile', keys: [KEY] }] });
    client = new OpenAI({ apiKey: KEY, baseURL: simulator.url, maxRetries: 0 });
  });
  afterAll(async () => {
    await simulator.close();
  });

  const ask = (fault: string) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: `hi [[sim:${fault}]]` }] });

  it('answers usage past int32 and past any bound with usage-huge', async () => {
    const completion = await client.chat.completions.create(ask('usage-huge'));
    expect(completion.usage?.prompt_tokens).toBe(3e9);
    expect(completion.usage?.completion_tokens).toBe(1e308);
  });

  it('answers negative usage in the stream’s usage chunk with usage-negative', async () => {
    const stream = await client.chat.completions.create({ ...ask('usage-negative'), stream: true, stream_options: { include_usage: true } });
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) usage = chunk.usage ?? usage;
    expect(usage?.prompt_tokens).toBe(-5);
    expect(usage?.completion_tokens).toBe(-1_000_000);
  });

  it('answers usage that is not numbers with usage-nonnumeric', async () => {
    const completion = await client.chat.completions.create(ask('usage-nonnumeric'));
    expect(completion.usage?.prompt_tokens as unknown).toBe('12abc');
    expect(completion.usage?.completion_tokens as unknown).toBeNull();
  });

  it('sends rate-limit headers out of every range with ratelimit-garbage', async () => {
    const { response } = await client.chat.completions.create(ask('ratelimit-garbage')).withResponse();
    expect(response.status).toBe(200);
    expect(response.headers.get('x-ratelimit-limit-requests')).toBe('99999999999');
    expect(response.headers.get('x-ratelimit-reset-requests')).toBe('999999999h');
    expect(response.headers.get('x-ratelimit-limit-tokens')).toBe('abc');
  });

  it('leaves a call without a marker alone', async () => {
    const { data, response } = await client.chat.completions.create(ask('none')).withResponse();
    expect(data.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(Number(response.headers.get('x-ratelimit-limit-requests'))).toBe(500);
  });
});
