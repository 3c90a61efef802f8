// A steady trickle of realistic traffic through the gateway with the official SDK, touching every
// endpoint, so the ledger and the dashboard fill while the demo runs.
import OpenAI, { toFile } from 'openai';
import { silentMp3, toneWav } from './audio.js';

const QUESTIONS = [
  'Where is my order #4411? It was due on Monday.',
  'How do I reset my password?',
  'Can I change the delivery address after checkout?',
  'What is your refund policy for opened items?',
  'The app crashes when I upload a photo, what should I do?',
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
];

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
