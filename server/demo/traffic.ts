// A steady trickle of realistic traffic through the gateway with the official SDK, touching every
// endpoint, so the ledger and the dashboard fill while the demo runs.
import OpenAI, { toFile } from 'openai';
import { WebSocket } from 'ws';
import { silentMp3, toneWav } from '../simulator/audio-samples.js';

const QUESTIONS = [
  'Where is my order #4411? It was due on Monday.',
  'How do I reset my password?',
  'Can I change the delivery address after checkout?',
  'What is your refund policy for opened items?',
  'The app crashes when I upload a photo, what should I do?',
  // Now and then a customer loses patience: what the chatbot's moderation policy is there for.
  'This is stupid, the order is late again.',
  'You idiots lost my parcel.',
  'I had a fight with the courier at my door.',
];
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)];

type Call = (client: OpenAI) => Promise<unknown>;

const CHATBOT: Call[] = [
  (c) => c.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'You are a helpful support agent.' }, { role: 'user', content: pick(QUESTIONS) }] }),
  async (c) => {
    const stream = await c.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: pick(QUESTIONS) }] });
    for await (const _chunk of stream) void _chunk;
  },
  (c) => c.chat.completions.create({ model: 'gpt-4o', max_tokens: 120, messages: [{ role: 'user', content: `Escalation summary: ${pick(QUESTIONS)}` }] }),
  (c) => c.moderations.create({ model: 'omni-moderation-latest', input: pick(QUESTIONS) }),
  // Now and then a caller on the voice line: a Realtime session of a few spoken turns.
  (c) => (Math.random() < 0.3 ? voiceSession(c, pick(['gpt-realtime', 'gpt-realtime-mini'])) : Promise.resolve()),
];

/** One second of pcm16 at 24 kHz (a quiet hum), base64, as a microphone streams it. */
const SECOND_OF_SPEECH = Buffer.alloc(48_000, 3).toString('base64');

/**
 * A Realtime session over the gateway's WebSocket (plain ws: the demo serves http; the SDK's
 * realtime client always uses wss:): two or three turns of caller audio, each answered by voice.
 */
function voiceSession(client: OpenAI, model: string): Promise<void> {
  const url = `${client.baseURL.replace(/^http/, 'ws')}/realtime?model=${model}`;
  return new Promise<void>((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${client.apiKey}` } });
    let turns = 2 + Math.floor(Math.random() * 2);
    const speak = () => {
      for (let s = 0; s < 1 + Math.floor(Math.random() * 4); s++) ws.send(JSON.stringify({ type: 'input_audio_buffer.append', audio: SECOND_OF_SPEECH }));
      ws.send(JSON.stringify({ type: 'input_audio_buffer.commit' }));
      ws.send(JSON.stringify({ type: 'response.create' }));
    };
    ws.on('message', (data) => {
      const type = (JSON.parse(data.toString()) as { type?: string }).type;
      if (type === 'session.created') {
        ws.send(JSON.stringify({ type: 'session.update', session: { type: 'realtime', instructions: 'You are the voice of a support line. Be brief.' } }));
        speak();
      } else if (type === 'response.done') {
        if (--turns > 0) setTimeout(speak, 500 + Math.random() * 1500);
        else ws.close(1000);
      }
    });
    ws.once('close', () => resolve());
    ws.once('error', reject);
  });
}

const RECOMMENDER: Call[] = [
  (c) => c.embeddings.create({ model: 'text-embedding-3-small', input: ['running shoes', 'trail running', 'marathon training plan'] }),
  (c) => c.responses.create({ model: 'gpt-4.1-mini', input: 'Recommend three articles for a reader of cycling news.' }),
  (c) => c.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Tagline for a hiking backpack:', max_tokens: 24 }),
  (c) => c.embeddings.create({ model: 'text-embedding-3-large', input: 'a cosy mystery novel set in Lisbon' }),
  (c) => c.images.generate({ model: 'gpt-image-1', prompt: 'A cover image for a cycling newsletter', size: '1024x1024', quality: 'low' }),
  (c) => c.responses.create({ model: 'gpt-4.1-mini', input: 'Latest trail running shoe reviews', tools: [{ type: 'web_search_preview' }] }),
  // A background response, retrieved until it is done: billed once, when its usage appears.
  async (c) => {
    let response = await c.responses.create({ model: 'gpt-4.1-mini', background: true, input: 'Draft a weekly digest for cycling readers.' });
    for (let i = 0; i < 10 && (response.status === 'queued' || response.status === 'in_progress'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      response = await c.responses.retrieve(response.id);
    }
  },
  async (c) => {
    const file = await c.files.create({ file: await toFile(Buffer.from('{"title":"Trail shoes","tags":["running"]}\n'), 'catalog.jsonl'), purpose: 'user_data' });
    await c.files.list();
    await c.files.delete(file.id);
  },
];

const TRANSCRIPTS: Call[] = [
  async (c) => c.audio.transcriptions.create({ model: 'whisper-1', file: await toFile(toneWav(5 + Math.random() * 25), 'clip.wav'), response_format: pick(['json', 'verbose_json', 'text', 'srt', 'vtt'] as const) }),
  async (c) => c.audio.translations.create({ model: 'whisper-1', file: await toFile(silentMp3(200 + Math.floor(Math.random() * 600)), 'clip.mp3') }),
  async (c) => c.audio.transcriptions.create({ model: 'gpt-4o-mini-transcribe', file: await toFile(toneWav(8), 'clip.wav') }),
  (c) => c.models.list(),
  (c) => c.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'Your transcript is ready.' }).then((r) => r.arrayBuffer()),
  (c) => c.audio.speech.create({ model: 'gpt-4o-mini-tts', voice: 'alloy', input: 'Chapter two begins here.', stream_format: 'sse' }).then((r) => r.arrayBuffer()),
];

export interface TrafficOptions {
  baseURL: string;
  keys: Record<'chatbot' | 'recommender' | 'transcripts', string>;
  /** Mean requests per second across all features. */
  rate: number;
}

/** Starts sending; returns a function that stops and waits for calls in flight. */
export function startTraffic(options: TrafficOptions): () => Promise<void> {
  // Calls attributed to a customer with the x-tallygate-tag-* headers (docs/attribution.md).
  const customer = (name: string) => ({ 'x-tallygate-tag-customer': name, 'x-tallygate-tag-env': 'prod' });
  const clients = {
    chatbot: new OpenAI({ baseURL: options.baseURL, apiKey: options.keys.chatbot, maxRetries: 2, defaultHeaders: customer('acme') }),
    chatbotGlobex: new OpenAI({ baseURL: options.baseURL, apiKey: options.keys.chatbot, maxRetries: 2, defaultHeaders: customer('globex') }),
    recommender: new OpenAI({ baseURL: options.baseURL, apiKey: options.keys.recommender, maxRetries: 1, defaultHeaders: customer('initech') }),
    transcripts: new OpenAI({ baseURL: options.baseURL, apiKey: options.keys.transcripts, maxRetries: 1 }),
  };
  const mix: Array<[OpenAI, Call[]]> = [
    [clients.chatbot, CHATBOT],
    [clients.chatbot, CHATBOT],
    [clients.chatbotGlobex, CHATBOT],
    [clients.recommender, RECOMMENDER],
    [clients.recommender, RECOMMENDER],
    [clients.transcripts, TRANSCRIPTS],
  ];
  const inFlight = new Set<Promise<unknown>>();
  let stopped = false;
  const tick = () => {
    if (stopped) return;
    const [client, calls] = pick(mix);
    // Failures (429s, quota) are part of the picture the dashboard shows; the ledger records them.
    const call = pick(calls)(client).catch(() => undefined);
    inFlight.add(call);
    void call.finally(() => inFlight.delete(call));
    timer = setTimeout(tick, (-Math.log(1 - Math.random()) * 1000) / options.rate);
  };
  let timer = setTimeout(tick, 100);
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await Promise.allSettled([...inFlight]);
  };
}

/**
 * A nightly-style batch: yesterday's 200 support tickets summarised through the Batch API, uploaded and
 * created through the gateway like an app would. The gateway's watcher meters it at batch prices once it
 * completes; it shows on the Batches page and as the "batch" family in Finance.
 */
export async function runNightlyBatch(baseURL: string, apiKey: string): Promise<string | undefined> {
  const client = new OpenAI({ baseURL, apiKey, maxRetries: 3 });
  const lines = Array.from({ length: 200 }, (_, i) =>
    JSON.stringify({
      custom_id: `ticket-${i + 1}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'gpt-4o-mini', max_tokens: 80, messages: [{ role: 'system', content: 'Summarise the support ticket in one line.' }, { role: 'user', content: pick(QUESTIONS) }] },
    }),
  );
  try {
    const file = await client.files.create({ file: await toFile(Buffer.from(lines.join('\n') + '\n'), 'nightly-tickets.jsonl'), purpose: 'batch' });
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { job: 'nightly ticket summaries' } });
    return batch.id;
  } catch (error) {
    console.warn(`The demo's nightly batch could not be created: ${(error as Error).message}`);
    return undefined;
  }
}
