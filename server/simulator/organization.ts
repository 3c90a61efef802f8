// OpenAI's admin Usage and Costs API (GET /v1/organization/usage/{endpoint}, /v1/organization/costs), answered
// from the simulator's own bill, with OpenAI's shapes: pages of time buckets (every bucket in the range, empty
// or not), results grouped by the `group_by` fields (the others null), `limit` buckets a page, an opaque
// `next_page` cursor, admin-key authentication and a 429 with retry-after past the configured rate.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { newRequestId, sendBareError } from './exchange.js';
import { errorBody, invalidApiKey, missingApiKey, type SimulatedError } from './errors.js';
import { USAGE_ENDPOINTS, type BilledCall, type UsageEndpoint } from './billing.js';
import type { SimulatedOrg } from './simulator.js';
import type { SimulatorRuntime } from './runtime.js';

const WIDTHS = { '1m': 60, '1h': 3600, '1d': 86_400 } as const;
type Width = keyof typeof WIDTHS;
/** Default and largest `limit` per bucket width, from OpenAI's reference. */
const USAGE_LIMITS: Record<Width, [number, number]> = { '1m': [60, 1440], '1h': [24, 168], '1d': [7, 31] };
const COSTS_LIMITS: [number, number] = [7, 180];

/** Group-by fields each usage endpoint accepts (OpenAI's reference). */
const USAGE_GROUPS: Record<UsageEndpoint, readonly string[]> = {
  completions: ['project_id', 'user_id', 'api_key_id', 'model', 'batch', 'service_tier'],
  embeddings: ['project_id', 'user_id', 'api_key_id', 'model'],
  moderations: ['project_id', 'user_id', 'api_key_id', 'model'],
  images: ['project_id', 'user_id', 'api_key_id', 'model', 'size', 'source'],
  audio_speeches: ['project_id', 'user_id', 'api_key_id', 'model'],
  audio_transcriptions: ['project_id', 'user_id', 'api_key_id', 'model'],
  vector_stores: ['project_id'],
  code_interpreter_sessions: ['project_id'],
};
const COSTS_GROUPS = ['project_id', 'line_item', 'api_key_id'];

type Query = Record<string, string | string[] | undefined>;

function badRequest(message: string, param: string | null): SimulatedError {
  return { status: 400, body: errorBody(message, 'invalid_request_error', param, null) };
}

function list(query: Query, name: string): string[] {
  const value = query[name] ?? query[`${name}[]`];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

function integer(query: Query, name: string): number | undefined | SimulatedError {
  const raw = query[name];
  if (raw === undefined) return undefined;
  const value = Number(Array.isArray(raw) ? raw[0] : raw);
  if (!Number.isInteger(value) || value < 0) return badRequest(`Invalid value for '${name}': expected an integer.`, name);
  return value;
}

const isError = (v: unknown): v is SimulatedError => typeof v === 'object' && v !== null && 'status' in v && 'body' in v;

interface PageRequest {
  start: number;
  end: number;
  width: number;
  limit: number;
  groupBy: string[];
}

/** Parses start_time, end_time, bucket_width, group_by, limit and page the way OpenAI validates them. */
function pageRequest(query: Query, widths: readonly Width[], limits: (w: Width) => [number, number], groups: readonly string[]): PageRequest | SimulatedError {
  const start = integer(query, 'start_time');
  if (isError(start)) return start;
  if (start === undefined) return badRequest("Missing required parameter: 'start_time'.", 'start_time');
  const end = integer(query, 'end_time');
  if (isError(end)) return end;
  const widthName = (typeof query.bucket_width === 'string' ? query.bucket_width : '1d') as Width;
  if (!widths.includes(widthName)) return badRequest(`Invalid value for 'bucket_width': supported values are ${widths.join(', ')}.`, 'bucket_width');
  const width = WIDTHS[widthName];
  const [defaultLimit, maxLimit] = limits(widthName);
  const limit = integer(query, 'limit');
  if (isError(limit)) return limit;
  if (limit !== undefined && (limit < 1 || limit > maxLimit)) return badRequest(`Invalid value for 'limit': must be between 1 and ${maxLimit}.`, 'limit');
  const groupBy = list(query, 'group_by');
  for (const g of groupBy) if (!groups.includes(g)) return badRequest(`Invalid value for 'group_by': ${g} (supported: ${groups.join(', ')}).`, 'group_by');
  let from = Math.floor(start / width) * width;
  if (typeof query.page === 'string') {
    const cursor = /^page_(\d+)$/.exec(Buffer.from(query.page, 'base64url').toString('utf8'));
    if (!cursor) return badRequest("Invalid value for 'page'.", 'page');
    from = Number(cursor[1]);
  }
  return { start: from, end: end ?? Math.floor(Date.now() / 1000), width, limit: limit ?? defaultLimit, groupBy };
}

/** Admin key → org, or the 401 already sent; a 429 past the configured rate per key. */
function authenticate(runtime: SimulatorRuntime, request: FastifyRequest, reply: FastifyReply, windows: Map<string, { second: number; count: number }>): SimulatedOrg | undefined {
  runtime.stats.arrived();
  const authorization = request.headers.authorization ?? '';
  const key = authorization.startsWith('Bearer ') ? authorization.slice(7).trim() : '';
  const org = key === '' ? undefined : runtime.orgForAdminKey(key);
  if (!org) {
    runtime.stats.unauthorized();
    sendBareError(reply, key === '' ? missingApiKey() : invalidApiKey(key));
    return undefined;
  }
  if (runtime.adminRequestsPerSecond > 0) {
    const second = Math.floor(Date.now() / 1000);
    const window = windows.get(key);
    if (!window || window.second !== second) windows.set(key, { second, count: 1 });
    else if (++window.count > runtime.adminRequestsPerSecond) {
      sendBareError(reply, {
        status: 429,
        body: errorBody('Rate limit reached for organization usage requests. Please try again in 1s.', 'requests', null, 'rate_limit_exceeded'),
        headers: { 'retry-after': '1', 'retry-after-ms': String(1000 - (Date.now() % 1000)) },
      });
      return undefined;
    }
  }
  return org;
}

interface Buckets<T> {
  add(at: number, key: string, make: () => T): T;
  page(object: string, render: (group: T) => Record<string, unknown>): Record<string, unknown>;
}

/** Collects grouped results per bucket of the page's range, then renders OpenAI's page. */
function buckets<T>(req: PageRequest): Buckets<T> & { to: number } {
  const to = Math.min(req.end, req.start + req.limit * req.width);
  const groups = new Map<number, Map<string, T>>();
  return {
    to,
    add(at, key, make) {
      const start = Math.floor(at / 1000 / req.width) * req.width;
      let bucket = groups.get(start);
      if (!bucket) groups.set(start, (bucket = new Map()));
      let group = bucket.get(key);
      if (!group) bucket.set(key, (group = make()));
      return group;
    },
    page(object, render) {
      const data: Record<string, unknown>[] = [];
      for (let start = req.start; start < to; start += req.width) {
        const results = [...(groups.get(start)?.values() ?? [])].map((g) => ({ object, ...render(g) }));
        data.push({ object: 'bucket', start_time: start, end_time: Math.min(start + req.width, req.end), results });
      }
      const hasMore = to < req.end;
      return { object: 'page', data, has_more: hasMore, next_page: hasMore ? Buffer.from(`page_${to}`).toString('base64url') : null };
    },
  };
}

interface UsageGroup {
  fields: Record<string, string | boolean | null>;
  calls: BilledCall[];
}

function sum(calls: BilledCall[], pick: (c: BilledCall) => number): number {
  let total = 0;
  for (const c of calls) total += pick(c);
  return total;
}

function usageResult(endpoint: UsageEndpoint, group: UsageGroup): Record<string, unknown> {
  const { calls, fields } = group;
  const requests = sum(calls, (c) => c.requests);
  const input = sum(calls, (c) => c.inputTokens);
  const cached = sum(calls, (c) => c.cachedTokens);
  switch (endpoint) {
    case 'completions': {
      const audio = sum(calls, (c) => c.audioInputTokens);
      return {
        input_tokens: input,
        input_cached_tokens: cached,
        input_uncached_tokens: input - cached,
        output_tokens: sum(calls, (c) => c.outputTokens),
        input_text_tokens: input - cached - audio,
        input_audio_tokens: audio,
        output_audio_tokens: sum(calls, (c) => c.audioOutputTokens ?? 0),
        num_model_requests: requests,
        ...fields,
      };
    }
    case 'embeddings':
    case 'moderations':
      return { input_tokens: input, num_model_requests: requests, ...fields };
    case 'images':
      return { images: requests, num_model_requests: requests, ...fields };
    case 'audio_speeches':
      return { characters: input, num_model_requests: requests, ...fields };
    case 'audio_transcriptions':
      return { seconds: Math.ceil(sum(calls, (c) => c.seconds)), num_model_requests: requests, ...fields };
    case 'vector_stores':
      return { usage_bytes: 0, ...fields };
    case 'code_interpreter_sessions':
      return { num_sessions: 0, ...fields };
  }
}

function groupValue(call: BilledCall, field: string): string | boolean | null {
  switch (field) {
    case 'project_id':
      return call.projectId;
    case 'api_key_id':
      return call.apiKeyId;
    case 'model':
      return call.model;
    case 'batch':
      return call.batch === true;
    case 'service_tier':
      return call.batch ? 'batch' : 'default';
    default:
      return null; // user_id, size, source: the simulator does not track them
  }
}

/** Exact decimal for an amount in nano-dollars, written as a JSON number the way OpenAI sends it. */
function usdLiteral(nanos: bigint): string {
  const sign = nanos < 0n ? '-' : '';
  const abs = nanos < 0n ? -nanos : nanos;
  const fraction = (abs % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${sign}${abs / 1_000_000_000n}${fraction ? `.${fraction}` : '.0'}`;
}

export function registerOrganizationRoutes(app: FastifyInstance, runtime: SimulatorRuntime): void {
  const windows = new Map<string, { second: number; count: number }>();
  const send = (reply: FastifyReply, body: string) =>
    void reply.headers({ 'x-request-id': newRequestId(), 'openai-version': '2020-10-01' }).type('application/json').send(body);

  for (const endpoint of USAGE_ENDPOINTS) {
    app.get(`/v1/organization/usage/${endpoint}`, async (request, reply) => {
      const org = authenticate(runtime, request, reply, windows);
      if (!org) return;
      const req = pageRequest(request.query as Query, ['1m', '1h', '1d'], (w) => USAGE_LIMITS[w], USAGE_GROUPS[endpoint]);
      if (isError(req)) return sendBareError(reply, req);
      const page = buckets<UsageGroup>(req);
      const models = list(request.query as Query, 'models');
      const keyIds = list(request.query as Query, 'api_key_ids');
      const projectIds = list(request.query as Query, 'project_ids');
      for (const call of runtime.billing.calls()) {
        if (call.orgId !== org.id || call.endpoint !== endpoint) continue;
        if (call.at < req.start * 1000 || call.at >= page.to * 1000) continue;
        if (models.length && !models.includes(call.model)) continue;
        if (keyIds.length && !keyIds.includes(call.apiKeyId)) continue;
        if (projectIds.length && !projectIds.includes(call.projectId ?? '')) continue;
        const fields: Record<string, string | boolean | null> = {};
        for (const f of USAGE_GROUPS[endpoint]) fields[f] = req.groupBy.includes(f) ? groupValue(call, f) : null;
        page.add(call.at, JSON.stringify(fields), () => ({ fields, calls: [] })).calls.push(call);
      }
      send(reply, JSON.stringify(page.page(`organization.usage.${endpoint}.result`, (g) => usageResult(endpoint, g))));
    });
  }

  app.get('/v1/organization/costs', async (request, reply) => {
    const org = authenticate(runtime, request, reply, windows);
    if (!org) return;
    const req = pageRequest(request.query as Query, ['1d'], () => COSTS_LIMITS, COSTS_GROUPS);
    if (isError(req)) return sendBareError(reply, req);
    const page = buckets<{ fields: Record<string, string | null>; nanos: bigint }>(req);
    const addLine = (at: number, lineItem: string, nanos: bigint, apiKeyId: string | null, projectId: string | null) => {
      if (at < req.start * 1000 || at >= page.to * 1000) return;
      const fields = {
        line_item: req.groupBy.includes('line_item') ? lineItem : null,
        project_id: req.groupBy.includes('project_id') ? projectId : null,
        api_key_id: req.groupBy.includes('api_key_id') ? apiKeyId : null,
      };
      page.add(at, JSON.stringify(fields), () => ({ fields, nanos: 0n })).nanos += nanos;
    };
    for (const call of runtime.billing.calls()) {
      if (call.orgId !== org.id) continue;
      for (const line of call.lines) addLine(call.at, line.lineItem, line.nanos, call.apiKeyId, call.projectId);
    }
    for (const charge of runtime.billing.charges) {
      if (charge.orgId === org.id) addLine(charge.at, charge.lineItem, charge.nanos, charge.apiKeyId, charge.projectId);
    }
    // amount.value is a JSON number in OpenAI's answer; written out exactly here (JSON.stringify would round to a double).
    const amounts: string[] = [];
    const body = JSON.stringify(
      page.page('organization.costs.result', (g) => {
        amounts.push(usdLiteral(g.nanos));
        return { amount: { value: `\u0000${amounts.length - 1}\u0000`, currency: 'usd' }, ...g.fields, quantity: null, quantity_unit: null };
      }),
    );
    send(reply, body.replace(/"\\u0000(\d+)\\u0000"/g, (_m, i: string) => amounts[Number(i)]));
  });
}
