// Moderation around the forward. On moderation calls: the feature's verdict in a response header
// and on the ledger row. Before chat, completions and responses calls of a feature with a
// guardrail: the input moderated with the org's key first (monitor: forward and record; block:
// refuse a flagged input with a 400, never forwarded, never billed), the check as its own row.
import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { Agent, request } from 'undici';
import type { CallHook, HookedCall } from '../gateway/hooks/call-hook.js';
import { OpenAIError } from '../http/openai-error.js';
import { LedgerWriter } from '../ledger/ledger.writer.js';
import { emptyUsageEvent, type GuardrailOutcome, type ModerationFacts, type UsageEvent } from '../ledger/usage-event.js';
import { classifyError, parseRateLimitHeaders } from '../ratelimits/rate-limit-headers.js';
import { ModerationService } from './moderation.service.js';
import { inputText, moderatedInput } from './input-text.js';
import { verdictHeader, verdictOf, type ModerationPolicy, type Verdict } from './policy.js';

/** The endpoints whose input a guardrail checks. */
const GUARDED = new Set(['chat.completions', 'completions', 'responses']);
export const VERDICT_HEADER = 'x-tallygate-moderation';
const GUARDRAIL_MODEL = 'omni-moderation-latest';
/** A moderation answer is a few KB; anything past this is not one. */
const ANSWER_LIMIT = 1024 * 1024;

interface Notes {
  verdict?: Verdict;
  guardrail?: GuardrailOutcome;
}

@Injectable()
export class ModerationHook implements CallHook, OnModuleDestroy {
  readonly name = 'moderation';
  private readonly logger = new Logger('moderation');
  /** The guardrail's own connections, so a slow moderation upstream never holds the proxy's pool. */
  private readonly agent = new Agent({ connections: 64, keepAliveTimeout: 30_000 });

  constructor(
    private readonly moderation: ModerationService,
    private readonly ledger: LedgerWriter,
  ) {}

  async onModuleDestroy(): Promise<void> {
    await this.agent.close().catch(() => undefined);
  }

  /** Most calls: one Set lookup. A guarded feature's call: one moderation round trip first. */
  beforeForward(call: HookedCall): Promise<void> | undefined {
    if (!GUARDED.has(call.endpoint.name) || !call.route) return undefined;
    const policy = this.moderation.policyOf(call.route.featureId);
    if (!policy || policy.guardrail === 'off') return undefined;
    return this.guard(call, policy);
  }

  responseHeaders(call: HookedCall): Record<string, string> | undefined {
    if (call.endpoint.name !== 'moderations' || (call.upstream?.statusCode ?? 500) >= 400) return undefined;
    const verdict = verdictOf(call.reading?.moderationResults, call.route && this.moderation.policyOf(call.route.featureId));
    if (!verdict) return undefined;
    (call.notes as { moderation?: Notes }).moderation = { verdict };
    return { [VERDICT_HEADER]: verdictHeader(verdict) };
  }

  onEvent(event: UsageEvent, call: HookedCall): void {
    const notes = (call.notes as { moderation?: Notes }).moderation;
    if (notes?.guardrail) event.guardrail = notes.guardrail;
    if (call.endpoint.name !== 'moderations' || event.status >= 400) return;
    const policy = call.route && this.moderation.policyOf(call.route.featureId);
    const verdict = notes?.verdict ?? verdictOf(call.reading?.moderationResults, policy);
    if (!verdict) return;
    event.moderation = facts(verdict, policy?.storeInputs ? moderatedInput(call.requestBody?.input) : undefined);
  }

  private async guard(call: HookedCall, policy: ModerationPolicy): Promise<void> {
    const route = call.route!;
    const text = inputText(call.endpoint.name, call.requestBody);
    const notes: Notes = {};
    (call.notes as { moderation?: Notes }).moderation = notes;
    if (!text) {
      notes.guardrail = 'passed'; // nothing to moderate (no text in the input)
      return;
    }
    const createdAt = new Date();
    const started = performance.now();
    const check = emptyUsageEvent({
      createdAt,
      orgId: route.org.orgId,
      featureId: route.featureId,
      gatewayKeyId: route.gatewayKeyId,
      endpoint: 'moderations',
      model: GUARDRAIL_MODEL,
      costNanos: '0', // moderation is free, but counted
      linkedEventId: call.id,
    });
    let verdict: Verdict | undefined;
    try {
      const headers: Record<string, string> = {
        authorization: `Bearer ${route.org.upstreamKey}`,
        'openai-organization': route.org.openaiOrgId,
        'content-type': 'application/json',
      };
      if (route.org.projectId) headers['openai-project'] = route.org.projectId;
      const answer = await request(`${route.org.baseUrl.replace(/\/$/, '')}/moderations`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ model: GUARDRAIL_MODEL, input: text }),
        dispatcher: this.agent,
        signal: AbortSignal.timeout(policy.timeoutMs),
        headersTimeout: policy.timeoutMs,
        bodyTimeout: policy.timeoutMs,
      });
      check.status = answer.statusCode;
      check.ttfbMs = Math.round(performance.now() - started);
      check.upstreamRequestId = firstHeader(answer.headers['x-request-id']) ?? null;
      check.rateLimits = parseRateLimitHeaders(answer.headers);
      const body = await readLimited(answer.body);
      const parsed = parseAnswer(body);
      if (typeof parsed.model === 'string') check.model = parsed.model;
      if (answer.statusCode >= 400) {
        check.outcome = 'error';
        check.errorType = typeof parsed.error?.type === 'string' ? parsed.error.type : null;
        check.errorCode = typeof parsed.error?.code === 'string' ? parsed.error.code : null;
        check.errorKind = classifyError(answer.statusCode, check.errorType, check.errorCode);
      } else {
        verdict = verdictOf(parsed.results, policy);
        if (verdict) check.moderation = facts(verdict, policy.storeInputs ? text : undefined);
      }
    } catch (error) {
      const name = (error as Error).name ?? '';
      const timedOut = name === 'TimeoutError' || name === 'AbortError' || /Timeout/.test(name);
      check.outcome = 'error';
      check.errorKind = timedOut ? 'upstream_timeout' : 'upstream_unreachable';
      check.errorCode = timedOut ? 'moderation_timeout' : 'moderation_unreachable';
      check.status = check.status || (timedOut ? 504 : 502);
    }
    check.latencyMs = Math.round(performance.now() - started);
    notes.guardrail = !verdict ? (policy.guardrail === 'block' && policy.failMode === 'closed' ? 'failed_closed' : 'failed_open') : !verdict.flaggedPolicy ? 'passed' : policy.guardrail === 'block' ? 'blocked' : 'flagged';
    check.guardrail = notes.guardrail;
    this.ledger.record(check);
    if (notes.guardrail === 'blocked') {
      throw new OpenAIError(
        400,
        `This request was blocked by the moderation policy of feature ${route.featureSlug}: its input was flagged for ${verdict!.categories.join(', ')}. It was not sent to the model and is not billed.`,
        'invalid_request_error',
        'moderation_blocked',
        GUARDED_PARAM[call.endpoint.name] ?? null,
      );
    }
    if (notes.guardrail === 'failed_closed') {
      this.logger.warn(`guardrail of ${route.featureSlug}: moderation check failed (${check.errorCode ?? check.status}); call refused (fail closed)`);
      throw new OpenAIError(
        503,
        `The moderation check that feature ${route.featureSlug} requires before each call did not answer (${check.errorCode ?? `status ${check.status}`}), and its policy fails closed: the request was not sent. Retry shortly.`,
        'server_error',
        'moderation_unavailable',
        null,
        true,
        { 'retry-after': '1' },
      );
    }
  }
}

const GUARDED_PARAM: Record<string, string> = { 'chat.completions': 'messages', completions: 'prompt', responses: 'input' };

function facts(verdict: Verdict, input: string | undefined): ModerationFacts {
  const out: ModerationFacts = { flaggedDefault: verdict.flaggedDefault, flaggedPolicy: verdict.flaggedPolicy, categories: verdict.categories, scores: verdict.scores };
  if (input !== undefined) out.input = input;
  return out;
}

interface Answer {
  model?: unknown;
  results?: unknown;
  error?: { type?: unknown; code?: unknown };
}

function parseAnswer(body: string): Answer {
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Answer) : {};
  } catch {
    return {};
  }
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

async function readLimited(body: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of body) {
    bytes += chunk.length;
    if (bytes > ANSWER_LIMIT) throw new Error('moderation answer too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
