// POST /v1/images/generations, /edits and /variations: small real PNGs, gpt-image token usage (text and image
// input, image output by size and quality, partial images included), dall-e answers without usage, and
// streamed partial images as SSE for the gpt-image models.
import { deflateSync } from 'node:zlib';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { SimulatorRuntime } from './runtime.js';
import { admit, exchangeOf, sendBody, sendError, sendStream } from './exchange.js';
import { invalidRequest, MID_STREAM_ERROR, type SimulatedError } from './errors.js';
import { asObject, notAnObject, type JsonObject } from './payload.js';
import { boundaryOf, parseMultipart, type FormPart } from './multipart.js';
import { countTextTokens, hash32, seededRandom } from './tokens.js';
import { nowSeconds } from './store.js';

type ImageTask = 'generation' | 'edit' | 'variation';

/** gpt-image-1's published output tokens per image, by quality and size. */
const OUTPUT_TOKENS: Record<string, Record<string, number>> = {
  low: { '1024x1024': 272, '1024x1536': 408, '1536x1024': 400 },
  medium: { '1024x1024': 1056, '1024x1536': 1584, '1536x1024': 1568 },
  high: { '1024x1024': 4160, '1024x1536': 6240, '1536x1024': 6208 },
};
/** Each streamed partial image costs 100 more image output tokens. */
const PARTIAL_IMAGE_TOKENS = 100;
/** An input image at low fidelity: 65 base + 129 for the one 512 px tile a 1024 px square scales to. */
const INPUT_IMAGE_TOKENS = 194;
/** High input fidelity adds this much per input image (gpt-image-1's published figure for a square). */
const HIGH_FIDELITY_EXTRA_TOKENS = 4_160;

const SIZES: Record<string, string[]> = {
  'dall-e-2': ['256x256', '512x512', '1024x1024'],
  'dall-e-3': ['1024x1024', '1792x1024', '1024x1792'],
  gpt: ['1024x1024', '1024x1536', '1536x1024', 'auto'],
};

function isTokenPriced(model: string): boolean {
  return model.startsWith('gpt-image') || model.startsWith('chatgpt-image');
}

// --- A tiny PNG encoder: real, viewable bytes of a few kilobytes. ----------------------------------------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = (CRC_TABLE[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

const pngCache = new Map<string, string>();

/** A `side`×`side` RGB PNG, base64: a gradient with seeded noise, different for each prompt. */
export function pngBase64(seedText: string, side: number): string {
  const key = `${side}:${seedText}`;
  const cached = pngCache.get(key);
  if (cached) return cached;
  const random = seededRandom(hash32(seedText));
  const [r0, g0, b0] = [random() * 255, random() * 255, random() * 255];
  const rows = Buffer.alloc(side * (1 + side * 3));
  for (let y = 0; y < side; y++) {
    const row = y * (1 + side * 3);
    for (let x = 0; x < side; x++) {
      const at = row + 1 + x * 3;
      const noise = random() * 24;
      rows[at] = (r0 + (x * 128) / side + noise) & 0xff;
      rows[at + 1] = (g0 + (y * 128) / side + noise) & 0xff;
      rows[at + 2] = (b0 + ((x + y) * 64) / side) & 0xff;
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(side, 0);
  header.writeUInt32BE(side, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const png = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]).toString('base64');
  if (pngCache.size > 256) pngCache.clear();
  pngCache.set(key, png);
  return png;
}

const FINAL_SIDE = 64;
const PARTIAL_SIDE = 32;

// --- Reading the request: JSON for generations, multipart for edits and variations. ---------------------

interface ImageRequest {
  fields: Record<string, string | number | boolean | undefined>;
  /** Input images (edits, variations); a mask is not counted. */
  inputImages: number;
}

function multipartRequest(request: FastifyRequest): ImageRequest | SimulatedError {
  const boundary = boundaryOf(request.headers['content-type']);
  const parts = Buffer.isBuffer(request.body) && boundary ? parseMultipart(request.body, boundary) : undefined;
  if (!parts) return invalidRequest('Expected a multipart/form-data body with an image.');
  const fields: ImageRequest['fields'] = {};
  let inputImages = 0;
  for (const part of parts as FormPart[]) {
    if (part.name === 'image' || part.name === 'image[]') {
      if (part.data.length > 0) inputImages++;
    } else if (part.filename === undefined) {
      fields[part.name] = part.data.toString('utf8');
    }
  }
  if (inputImages === 0) return invalidRequest("Missing required parameter: 'image'.", 'image', 'missing_required_parameter');
  return { fields, inputImages };
}

function jsonRequest(request: FastifyRequest): ImageRequest | SimulatedError {
  const body = asObject(request.body);
  if (!body) return notAnObject();
  const fields: ImageRequest['fields'] = {};
  for (const [name, value] of Object.entries(body as JsonObject)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') fields[name] = value;
  }
  return { fields, inputImages: 0 };
}

function text(value: string | number | boolean | undefined): string | undefined {
  return value === undefined ? undefined : String(value);
}

interface ImagePlan {
  model: string;
  prompt: string;
  n: number;
  size: string;
  quality: string;
  background: string;
  outputFormat: string;
  responseFormat: 'url' | 'b64_json';
  stream: boolean;
  partialImages: number;
  textTokens: number;
  imageTokens: number;
  outputTokensPerImage: number;
}

function planImages(task: ImageTask, input: ImageRequest): ImagePlan | SimulatedError {
  const { fields } = input;
  const model = text(fields.model) ?? (task === 'edit' && fields.input_fidelity !== undefined ? 'gpt-image-1' : 'dall-e-2');
  const prompt = text(fields.prompt) ?? '';
  if (task !== 'variation' && prompt.trim() === '') return invalidRequest("Missing required parameter: 'prompt'.", 'prompt', 'missing_required_parameter');
  if (task === 'variation' && model !== 'dall-e-2') return invalidRequest(`Variations are only available for dall-e-2, not ${model}.`, 'model');
  const tokenPriced = isTokenPriced(model);
  const n = Number(fields.n ?? 1);
  const maxN = model === 'dall-e-3' ? 1 : 10;
  if (!Number.isInteger(n) || n < 1 || n > maxN) return invalidRequest(`'n' must be an integer from 1 to ${maxN} for ${model}.`, 'n');
  const sizes = SIZES[tokenPriced ? 'gpt' : model] ?? SIZES['dall-e-2'] ?? [];
  let size = text(fields.size) ?? (tokenPriced ? 'auto' : '1024x1024');
  if (!sizes.includes(size)) return invalidRequest(`'${size}' is not one of ${sizes.join(', ')} - 'size'`, 'size');
  if (size === 'auto') size = '1024x1024';
  let quality = text(fields.quality) ?? (tokenPriced ? 'auto' : 'standard');
  if (tokenPriced) {
    if (quality === 'auto') quality = 'medium';
    if (!OUTPUT_TOKENS[quality]) return invalidRequest(`'${quality}' is not one of low, medium, high, auto - 'quality'`, 'quality');
  } else if (quality !== 'standard' && !(model === 'dall-e-3' && quality === 'hd')) {
    return invalidRequest(`'${quality}' is not a quality ${model} supports.`, 'quality');
  }
  const stream = fields.stream === true || fields.stream === 'true';
  if (stream && !tokenPriced) return invalidRequest(`Streaming is not supported for ${model}.`, 'stream');
  const partialImages = Math.max(0, Math.min(3, Number(fields.partial_images ?? 0) || 0));
  const highFidelity = fields.input_fidelity === 'high';
  return {
    model,
    prompt,
    n,
    size,
    quality,
    background: text(fields.background) ?? 'opaque',
    outputFormat: text(fields.output_format) ?? 'png',
    responseFormat: tokenPriced || fields.response_format === 'b64_json' ? 'b64_json' : 'url',
    stream,
    partialImages: stream ? partialImages : 0,
    textTokens: countTextTokens(prompt),
    imageTokens: tokenPriced ? input.inputImages * (INPUT_IMAGE_TOKENS + (highFidelity ? HIGH_FIDELITY_EXTRA_TOKENS : 0)) : 0,
    outputTokensPerImage: tokenPriced ? (OUTPUT_TOKENS[quality]?.[size] ?? 0) : 0,
  };
}

function usageOf(plan: ImagePlan): JsonObject {
  const output = plan.n * plan.outputTokensPerImage + plan.partialImages * PARTIAL_IMAGE_TOKENS;
  const input = plan.textTokens + plan.imageTokens;
  return {
    input_tokens: input,
    input_tokens_details: { text_tokens: plan.textTokens, image_tokens: plan.imageTokens },
    output_tokens: output,
    output_tokens_details: { image_tokens: output, text_tokens: 0 },
    total_tokens: input + output,
  };
}

function imageUrl(request: FastifyRequest, seedText: string): string {
  const host = request.headers.host ?? '127.0.0.1';
  return `http://${host}/_sim/images/${hash32(seedText).toString(16)}.png`;
}

async function handleImages(task: ImageTask, runtime: SimulatorRuntime, request: FastifyRequest): Promise<void> {
  const exchange = exchangeOf(request);
  const input = task === 'generation' ? jsonRequest(request) : multipartRequest(request);
  if ('status' in input) return sendError(exchange, input);
  const plan = planImages(task, input);
  if ('status' in plan) return sendError(exchange, plan);
  const tokenPriced = isTokenPriced(plan.model);
  const usage = usageOf(plan);
  if (!admit(exchange, plan.model, tokenPriced ? Number(usage.total_tokens) : 0, plan.prompt)) return;

  const created = nowSeconds();
  const seed = `${plan.model}\u0000${task}\u0000${plan.prompt}`;
  const delivered = (): void =>
    runtime.stats.delivered(exchange.org.id, plan.model, {
      images: plan.n,
      ...(tokenPriced ? { promptTokens: Number(usage.input_tokens), completionTokens: Number(usage.output_tokens) } : {}),
    });

  if (plan.stream) {
    if (await sendStream(exchange, imageStream(task, plan, seed, created, usage))) delivered();
    return;
  }
  const data = Array.from({ length: plan.n }, (_, index) => {
    const seedText = `${seed}\u0000${index}`;
    const image: JsonObject = plan.responseFormat === 'b64_json' ? { b64_json: pngBase64(seedText, FINAL_SIDE) } : { url: imageUrl(request, seedText) };
    if (plan.model === 'dall-e-3') image.revised_prompt = `A detailed rendering of: ${plan.prompt}`;
    return image;
  });
  const body: JsonObject = tokenPriced
    ? { created, background: plan.background, data, output_format: plan.outputFormat, quality: plan.quality, size: plan.size, usage }
    : { created, data };
  if (await sendBody(exchange, JSON.stringify(body), 'application/json', 0)) delivered();
}

function imageStream(task: ImageTask, plan: ImagePlan, seed: string, created: number, usage: JsonObject) {
  const prefix = task === 'generation' ? 'image_generation' : 'image_edit';
  const common = { background: plan.background, created_at: created, output_format: plan.outputFormat, quality: plan.quality, size: plan.size };
  const frames: string[] = [];
  const event = (type: string, payload: JsonObject): void => {
    frames.push(`event: ${type}\ndata: ${JSON.stringify({ type, ...payload })}\n\n`);
  };
  for (let index = 0; index < plan.partialImages; index++) {
    event(`${prefix}.partial_image`, { ...common, b64_json: pngBase64(`${seed}\u0000partial${index}`, PARTIAL_SIDE), partial_image_index: index });
  }
  const contentFrames = frames.length;
  event(`${prefix}.completed`, { ...common, b64_json: pngBase64(`${seed}\u00000`, FINAL_SIDE), usage });
  const errorFrame = `event: error\ndata: ${JSON.stringify({ type: 'error', error: MID_STREAM_ERROR.error })}\n\n`;
  return { frames, contentFrames, errorFrame };
}

export function registerImageRoutes(app: FastifyInstance, runtime: SimulatorRuntime): void {
  app.post('/v1/images/generations', (request) => handleImages('generation', runtime, request));
  app.post('/v1/images/edits', (request) => handleImages('edit', runtime, request));
  app.post('/v1/images/variations', (request) => handleImages('variation', runtime, request));
  // dall-e answers with URLs by default; they point back here so a demo can show the picture.
  app.get<{ Params: { name: string } }>('/_sim/images/:name', async (request, reply) => {
    void reply.type('image/png').send(Buffer.from(pngBase64(request.params.name, FINAL_SIDE), 'base64'));
  });
}
