// The Realtime API over WebSocket (GET /v1/realtime?model=… upgraded): session events, a conversation
// built from conversation.item.create and the input audio buffer, and response.create answered with
// response.created, text or audio deltas (with their transcript) and response.done carrying usage
// derived from the conversation, as OpenAI's: the whole conversation is input again on every
// response (the part a previous response already read is cached), user audio is 10 tokens a
// second (pcm16 at 24 kHz), generated audio 20. Each response is billed when it ends, a cancelled
// or dropped one for what it had generated. Faults for tests: `response.metadata.sim_fault`
// `drop` (the socket is cut mid-response) and `stall` (the response never ends).
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { errorBody } from './errors.js';
import { snapshotOf } from './models.js';
import type { SimulatorRuntime } from './runtime.js';
import { countTextTokens, hash32, pseudoTextPieces } from './tokens.js';

const PATH = '/v1/realtime';
const KEY_PROTOCOL = 'openai-insecure-api-key.';
/** OpenAI's limit on one client event is 15 MiB (base64 audio); a little more is allowed here. */
const MAX_PAYLOAD = 16 * 1024 * 1024;
/** pcm16 mono at 24 kHz: bytes per second of input audio. */
const PCM_BYTES_PER_SECOND = 48_000;
const INPUT_AUDIO_TOKENS_PER_SECOND = 10;
const OUTPUT_AUDIO_TOKENS_PER_SECOND = 20;
/** Generated speech: about 4 text tokens of transcript a second. */
const TRANSCRIPT_TOKENS_PER_SECOND = 4;
/** Audio delta size: 100 ms of pcm16 silence, base64. */
const AUDIO_CHUNK = Buffer.alloc(PCM_BYTES_PER_SECOND / 10).toString('base64');
/** The prompt cache works in 64-token blocks of a prefix already read. */
const CACHE_BLOCK = 64;
const DEFAULT_OUTPUT_TOKENS = 24;

interface Item {
  id: string;
  textTokens: number;
  audioTokens: number;
}

interface Usage {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  input_token_details: {
    text_tokens: number;
    audio_tokens: number;
    image_tokens: number;
    cached_tokens: number;
    cached_tokens_details: { text_tokens: number; audio_tokens: number; image_tokens: number };
  };
  output_token_details: { text_tokens: number; audio_tokens: number };
}

const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString('base64url')}`;

/** Answers an upgrade refused before it happened, as OpenAI does: an HTTP error with its JSON body. */
function refuse(socket: Duplex, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  const reason = status === 401 ? 'Unauthorized' : status === 429 ? 'Too Many Requests' : status === 404 ? 'Not Found' : 'Bad Request';
  socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(json)}\r\nconnection: close\r\n\r\n${json}`);
}

export function registerRealtimeRoutes(app: FastifyInstance, runtime: SimulatorRuntime): void {
  const sockets = new Set<WebSocket>();
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: MAX_PAYLOAD,
    handleProtocols: (protocols) => (protocols.has('realtime') ? 'realtime' : false),
  });
  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    const url = req.url ?? '';
    runtime.stats.arrived();
    if (!(url === PATH || url.startsWith(`${PATH}?`))) return refuse(socket, 404, errorBody(`Invalid URL (GET ${url.split('?')[0]})`, 'invalid_request_error', null, null));
    runtime.receive('GET', url, req.headers);
    const protocols = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    const keyProtocol = protocols.find((p) => p.startsWith(KEY_PROTOCOL));
    const key = /^Bearer\s+(\S+)/i.exec(req.headers.authorization ?? '')?.[1] ?? keyProtocol?.slice(KEY_PROTOCOL.length);
    const org = key ? runtime.orgForKey(key) : undefined;
    if (!org) {
      runtime.stats.unauthorized();
      return refuse(socket, 401, errorBody(`Incorrect API key provided: ${key ? `${key.slice(0, 6)}…` : '(none)'}.`, 'invalid_request_error', null, 'invalid_api_key'));
    }
    runtime.stats.orgRequest(org.id);
    if (org.outOfCredit) {
      runtime.stats.outcome(org.id, 'realtime', 'quota');
      return refuse(socket, 429, errorBody('You exceeded your current quota, please check your plan and billing details.', 'insufficient_quota', null, 'insufficient_quota'));
    }
    const model = new URL(url, 'http://sim').searchParams.get('model');
    if (!model) return refuse(socket, 400, errorBody("Missing required parameter: 'model'.", 'invalid_request_error', 'model', 'missing_required_parameter'));
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      ws.on('close', () => sockets.delete(ws));
      new SimulatedSession(ws, runtime, org.id, key!, model, typeof req.headers['openai-project'] === 'string' ? req.headers['openai-project'] : null).start();
    });
  });
  app.addHook('onClose', async () => {
    for (const ws of sockets) ws.terminate();
  });
}

class SimulatedSession {
  private readonly id = newId('sess');
  private readonly items: Item[] = [];
  private instructionsTokens = 0;
  private outputModalities: string[] = ['audio'];
  private audioBufferBytes = 0;
  /** Conversation tokens a previous response read: the cacheable prefix. */
  private readTokens = 0;
  private readAudioTokens = 0;
  private responding?: { cancel: () => void };
  private readonly session: Record<string, unknown>;

  constructor(
    private readonly ws: WebSocket,
    private readonly runtime: SimulatorRuntime,
    private readonly orgId: string,
    private readonly key: string,
    private readonly model: string,
    private readonly project: string | null,
  ) {
    this.session = { id: this.id, object: 'realtime.session', type: 'realtime', model, output_modalities: this.outputModalities, instructions: '', tools: [], max_output_tokens: 'inf' };
  }

  start(): void {
    this.runtime.stats.modelRequest(this.orgId, this.model);
    this.send({ type: 'session.created', session: this.session });
    this.ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) return this.error('invalid_request_error', 'Binary frames are not supported: send JSON events as text.', null);
      let event: Record<string, unknown>;
      try {
        event = JSON.parse(data.toString()) as Record<string, unknown>;
      } catch {
        return this.error('invalid_request_error', 'The event is not valid JSON.', null);
      }
      this.handle(event);
    });
    this.ws.on('close', () => this.responding?.cancel());
    this.ws.on('error', () => undefined);
  }

  private send(event: Record<string, unknown>): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ event_id: newId('event'), ...event }));
  }

  private error(type: string, message: string, eventId: unknown, code: string | null = null): void {
    this.send({ type: 'error', error: { type, code, message, param: null, event_id: typeof eventId === 'string' ? eventId : null } });
  }

  private handle(event: Record<string, unknown>): void {
    switch (event.type) {
      case 'session.update': {
        const update = (event.session ?? {}) as Record<string, unknown>;
        if (typeof update.instructions === 'string') this.instructionsTokens = countTextTokens(update.instructions);
        if (Array.isArray(update.output_modalities)) this.outputModalities = update.output_modalities.filter((m): m is string => typeof m === 'string');
        Object.assign(this.session, update, { id: this.id, model: this.model, output_modalities: this.outputModalities });
        return this.send({ type: 'session.updated', session: this.session });
      }
      case 'conversation.item.create': {
        const item = (event.item ?? {}) as { id?: string; type?: string; role?: string; content?: Array<Record<string, unknown>> };
        const added: Item = { id: typeof item.id === 'string' ? item.id : newId('item'), textTokens: 0, audioTokens: 0 };
        for (const part of item.content ?? []) {
          if (typeof part.text === 'string') added.textTokens += countTextTokens(part.text);
          if (typeof part.audio === 'string') added.audioTokens += audioTokens(Buffer.byteLength(part.audio, 'base64'));
          if (typeof part.transcript === 'string' && typeof part.audio !== 'string') added.textTokens += countTextTokens(part.transcript);
        }
        if (typeof (item as { output?: unknown }).output === 'string') added.textTokens += countTextTokens((item as { output: string }).output);
        this.items.push(added);
        const shown = { ...item, id: added.id, object: 'realtime.item', status: 'completed' };
        this.send({ type: 'conversation.item.added', previous_item_id: null, item: shown });
        return this.send({ type: 'conversation.item.done', previous_item_id: null, item: shown });
      }
      case 'input_audio_buffer.append':
        if (typeof event.audio === 'string') this.audioBufferBytes += Buffer.byteLength(event.audio, 'base64');
        return;
      case 'input_audio_buffer.clear':
        this.audioBufferBytes = 0;
        return this.send({ type: 'input_audio_buffer.cleared' });
      case 'input_audio_buffer.commit': {
        if (this.audioBufferBytes === 0) return this.error('invalid_request_error', 'Error committing input audio buffer: buffer is empty.', event.event_id, 'input_audio_buffer_commit_empty');
        const item: Item = { id: newId('item'), textTokens: 0, audioTokens: audioTokens(this.audioBufferBytes) };
        this.audioBufferBytes = 0;
        this.items.push(item);
        this.send({ type: 'input_audio_buffer.committed', previous_item_id: null, item_id: item.id });
        return this.send({ type: 'conversation.item.added', previous_item_id: null, item: { id: item.id, object: 'realtime.item', type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_audio', transcript: null }] } });
      }
      case 'response.create':
        if (this.responding) return this.error('invalid_request_error', 'Conversation already has an active response in progress.', event.event_id, 'conversation_already_has_active_response');
        return this.respond((event.response ?? {}) as Record<string, unknown>);
      case 'response.cancel':
        if (!this.responding) return this.error('invalid_request_error', 'Cancellation failed: no active response found', event.event_id, 'response_cancel_not_active');
        return this.responding.cancel();
      default:
        return this.error('invalid_request_error', `Invalid value: '${String(event.type)}'. Supported values are: 'session.update', 'conversation.item.create', 'input_audio_buffer.append', 'input_audio_buffer.commit', 'input_audio_buffer.clear', 'response.create', 'response.cancel'.`, event.event_id, 'invalid_value');
    }
  }

  /** Streams one response, paced by the simulator's latency settings, and ends it with its usage. */
  private respond(options: Record<string, unknown>): void {
    const responseId = newId('resp');
    const itemId = newId('item');
    const modalities = Array.isArray(options.output_modalities) ? (options.output_modalities as string[]) : this.outputModalities;
    const audio = modalities.includes('audio');
    const metadata = (options.metadata ?? {}) as Record<string, unknown>;
    const fault = metadata.sim_fault;
    const requested = typeof options.max_output_tokens === 'number' ? options.max_output_tokens : undefined;
    const inputText = this.instructionsTokens + this.items.reduce((n, i) => n + i.textTokens, 0);
    const inputAudio = this.items.reduce((n, i) => n + i.audioTokens, 0);
    // A requested max_output_tokens is the length said (benchmarks ask for long answers); otherwise a short answer.
    const textTokens = Math.max(1, Math.floor(requested ?? DEFAULT_OUTPUT_TOKENS + (hash32(`${inputText}:${inputAudio}`) % 24)));
    const pieces = pseudoTextPieces(hash32(`${this.items.length}:${inputText + inputAudio}`), textTokens);
    // The part of the conversation a previous response read, in whole cache blocks, is cached.
    const cached = Math.floor(this.readTokens / CACHE_BLOCK) * CACHE_BLOCK;
    const cachedAudio = this.readTokens === 0 ? 0 : Math.min(inputAudio, Math.floor((cached * this.readAudioTokens) / this.readTokens));
    const input = inputText + inputAudio;

    this.send({ type: 'response.created', response: { id: responseId, object: 'realtime.response', status: 'in_progress', output: [], usage: null, metadata: options.metadata ?? null } });
    const contentType = audio ? 'output_audio' : 'output_text';
    this.send({ type: 'response.output_item.added', response_id: responseId, output_index: 0, item: { id: itemId, object: 'realtime.item', type: 'message', role: 'assistant', status: 'in_progress', content: [] } });
    this.send({ type: 'response.content_part.added', response_id: responseId, item_id: itemId, output_index: 0, content_index: 0, part: { type: audio ? 'audio' : 'text' } });

    let sent = 0;
    let audioChunks = 0;
    let timer: NodeJS.Timeout | undefined;
    const usageSoFar = (): Usage => {
      const audioOut = audio ? Math.round((audioChunks / 10) * OUTPUT_AUDIO_TOKENS_PER_SECOND) : 0;
      return {
        input_tokens: input,
        output_tokens: sent + audioOut,
        total_tokens: input + sent + audioOut,
        input_token_details: {
          text_tokens: inputText,
          audio_tokens: inputAudio,
          image_tokens: 0,
          cached_tokens: cached,
          cached_tokens_details: { text_tokens: cached - cachedAudio, audio_tokens: cachedAudio, image_tokens: 0 },
        },
        output_token_details: { text_tokens: sent, audio_tokens: audioOut },
      };
    };
    const finish = (status: 'completed' | 'cancelled', reason?: string) => {
      clearTimeout(timer);
      this.responding = undefined;
      const usage = usageSoFar();
      this.bill(usage);
      // What the model said is part of the conversation from now on (its audio as audio tokens).
      this.items.push({ id: itemId, textTokens: audio ? 0 : usage.output_token_details.text_tokens, audioTokens: usage.output_token_details.audio_tokens });
      this.readTokens = input;
      this.readAudioTokens = inputAudio;
      const transcript = pieces.slice(0, sent).join('');
      const content = audio ? [{ type: 'output_audio', transcript }] : [{ type: 'output_text', text: transcript }];
      if (status === 'completed') {
        if (audio) {
          this.send({ type: 'response.output_audio.done', response_id: responseId, item_id: itemId, output_index: 0, content_index: 0 });
          this.send({ type: 'response.output_audio_transcript.done', response_id: responseId, item_id: itemId, output_index: 0, content_index: 0, transcript });
        } else this.send({ type: 'response.output_text.done', response_id: responseId, item_id: itemId, output_index: 0, content_index: 0, text: transcript });
        this.send({ type: 'response.output_item.done', response_id: responseId, output_index: 0, item: { id: itemId, object: 'realtime.item', type: 'message', role: 'assistant', status: 'completed', content } });
      }
      this.send({
        type: 'response.done',
        response: {
          id: responseId,
          object: 'realtime.response',
          status,
          status_details: status === 'cancelled' ? { type: 'cancelled', reason: reason ?? 'client_cancelled' } : null,
          output: [{ id: itemId, object: 'realtime.item', type: 'message', role: 'assistant', status: status === 'completed' ? 'completed' : 'incomplete', content }],
          conversation_id: this.id,
          output_modalities: modalities,
          metadata: options.metadata ?? null,
          usage,
        },
      });
    };
    this.responding = { cancel: () => finish('cancelled') };
    const step = () => {
      if (this.ws.readyState !== WebSocket.OPEN) return finish('cancelled', 'turn_detected');
      if (fault === 'drop' && sent >= Math.ceil(textTokens / 2)) {
        clearTimeout(timer);
        this.responding = undefined;
        this.bill(usageSoFar()); // OpenAI bills what it generated, even if no one heard it
        return void this.ws.terminate();
      }
      if (sent >= textTokens) return finish('completed');
      if (fault === 'stall' && sent >= 1) return;
      const piece = pieces[sent++]!;
      if (audio) {
        // Audio for this word, then its transcript, as OpenAI interleaves them.
        const chunks = Math.max(1, Math.round(10 / TRANSCRIPT_TOKENS_PER_SECOND));
        for (let c = 0; c < chunks; c++) this.send({ type: 'response.output_audio.delta', response_id: responseId, item_id: itemId, output_index: 0, content_index: 0, delta: AUDIO_CHUNK });
        audioChunks += chunks;
        this.send({ type: 'response.output_audio_transcript.delta', response_id: responseId, item_id: itemId, output_index: 0, content_index: 0, delta: piece });
      } else this.send({ type: 'response.output_text.delta', response_id: responseId, item_id: itemId, output_index: 0, content_index: 0, delta: piece });
      schedule(this.runtime.perTokenMs);
    };
    const schedule = (ms: number) => {
      timer = ms > 0 ? setTimeout(step, ms) : setImmediate(step) as unknown as NodeJS.Timeout;
    };
    const first = this.runtime.ttftMs;
    if (first > 0) timer = setTimeout(step, first);
    else setImmediate(step);
  }

  private bill(usage: Usage): void {
    const details = usage.input_token_details;
    this.runtime.stats.delivered(this.orgId, this.model, {
      promptTokens: usage.input_tokens,
      cachedTokens: details.cached_tokens,
      completionTokens: usage.output_tokens,
      audioInputTokens: details.audio_tokens,
    });
    this.runtime.billing.record({
      at: Date.now(),
      orgId: this.orgId,
      apiKeyId: this.runtime.billing.keyIdOf(this.key),
      projectId: this.project,
      endpoint: 'completions',
      model: snapshotOf(this.model),
      requests: 1,
      inputTokens: usage.input_tokens,
      cachedTokens: details.cached_tokens,
      outputTokens: usage.output_tokens,
      audioInputTokens: details.audio_tokens,
      cachedAudioTokens: details.cached_tokens_details.audio_tokens,
      audioOutputTokens: usage.output_token_details.audio_tokens,
      seconds: 0,
    });
  }
}

/** Input audio tokens for `bytes` of pcm16 at 24 kHz (rounded up to a whole token). */
function audioTokens(bytes: number): number {
  return Math.ceil((bytes / PCM_BYTES_PER_SECOND) * INPUT_AUDIO_TOKENS_PER_SECOND);
}
