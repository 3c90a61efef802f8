// How a notification reaches each kind of channel: a signed JSON webhook, a Slack incoming webhook, or an
// email over SMTP (nodemailer). Each send answers what happened, for the delivery log; none throws.
import { createHmac } from 'node:crypto';
import nodemailer from 'nodemailer';
import type { Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { fetch, type Agent } from 'undici';
import { checkLiteralHost, guardedAgent, OutboundRefused } from './outbound.js';

export interface Notification {
  event: 'firing' | 'resolved' | 'test';
  alert: {
    id: string | null;
    rule: string;
    severity: 'info' | 'warning' | 'critical';
    title: string;
    summary: string;
    org: string | null;
    features: string[];
    startedAt: string;
    resolvedAt: string | null;
    url: string | null;
  };
  sentAt: string;
}

export interface SendResult {
  delivered: boolean;
  responseCode: number | null;
  error: string | null;
  /** A permanent refusal (4xx other than 408/429): retrying cannot help. */
  permanent?: boolean;
}

/** What a webhook channel's sealed part holds. */
export interface WebhookSecret {
  url: string;
  secret?: string;
}

/** `sha256=<hex HMAC-SHA256 of the body under the channel secret>`: what X-Tallygate-Signature carries. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** How webhook and Slack calls leave: their time bound, and whether internal addresses may be called (./outbound.ts). */
export interface Outbound {
  timeoutMs: number;
  allowPrivate: boolean;
}

export async function sendWebhook(target: WebhookSecret, n: Notification, deliveryId: string, outbound: Outbound): Promise<SendResult> {
  const body = JSON.stringify(n);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'Tallygate-Alerts/1',
    'x-tallygate-event': n.event,
    'x-tallygate-delivery': deliveryId,
  };
  if (target.secret) headers['x-tallygate-signature'] = signature(target.secret, body);
  return post(target.url, body, headers, outbound);
}

/** Slack's incoming-webhook payload: a readable `text` (also the fallback) and blocks. */
export function slackPayload(n: Notification): { text: string; blocks: unknown[] } {
  const icon = n.event === 'resolved' ? ':white_check_mark:' : n.event === 'test' ? ':wave:' : n.alert.severity === 'critical' ? ':rotating_light:' : ':warning:';
  const state = n.event === 'resolved' ? 'Resolved' : n.event === 'test' ? 'Test' : 'Firing';
  const text = `${icon} ${state}: ${n.alert.title}`;
  const facts = [
    n.alert.org ? `*Org:* ${n.alert.org}` : null,
    n.alert.features.length ? `*Features:* ${n.alert.features.join(', ')}` : null,
    `*Since:* ${n.alert.startedAt}`,
    n.alert.resolvedAt ? `*Resolved:* ${n.alert.resolvedAt}` : null,
  ].filter(Boolean);
  const blocks: unknown[] = [
    { type: 'section', text: { type: 'mrkdwn', text: `*${escapeSlack(text)}*\n${escapeSlack(n.alert.summary)}` } },
    { type: 'context', elements: [{ type: 'mrkdwn', text: escapeSlack(facts.join('  ·  ')) }] },
  ];
  if (n.alert.url) blocks.push({ type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'Open in Tallygate' }, url: n.alert.url }] });
  return { text: escapeSlack(`${text}: ${n.alert.summary}`), blocks };
}

/** Slack reads &, < and > as markup: values from callers (feature names) must not become links or mentions. */
const escapeSlack = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function sendSlack(url: string, n: Notification, outbound: Outbound): Promise<SendResult> {
  return post(url, JSON.stringify(slackPayload(n)), { 'content-type': 'application/json', 'user-agent': 'Tallygate-Alerts/1' }, outbound);
}

const agents = new Map<boolean, Agent>();

async function post(url: string, body: string, headers: Record<string, string>, outbound: Outbound): Promise<SendResult> {
  try {
    checkLiteralHost(url, outbound.allowPrivate);
    let dispatcher = agents.get(outbound.allowPrivate);
    if (!dispatcher) agents.set(outbound.allowPrivate, (dispatcher = guardedAgent(outbound.allowPrivate)));
    const response = await fetch(url, { method: 'POST', body, headers, redirect: 'manual', signal: AbortSignal.timeout(outbound.timeoutMs), dispatcher });
    await response.arrayBuffer().catch(() => undefined);
    const ok = response.status >= 200 && response.status < 300;
    const permanent = !ok && response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429;
    return { delivered: ok, responseCode: response.status, error: ok ? null : `answered ${response.status}`, permanent };
  } catch (error) {
    const cause = (error as Error & { cause?: Error }).cause;
    // A refused address will be refused again: not retried.
    const refused = error instanceof OutboundRefused || cause instanceof OutboundRefused;
    if (refused) return { delivered: false, responseCode: null, error: (cause instanceof OutboundRefused ? cause : (error as Error)).message, permanent: true };
    return { delivered: false, responseCode: null, error: `${(error as Error).message}${cause ? `: ${cause.message}` : ''}` };
  }
}

export function emailText(n: Notification): { subject: string; text: string } {
  const state = n.event === 'resolved' ? 'RESOLVED' : n.event === 'test' ? 'TEST' : 'FIRING';
  const lines = [
    n.alert.summary,
    '',
    n.alert.org ? `Org: ${n.alert.org}` : null,
    n.alert.features.length ? `Features: ${n.alert.features.join(', ')}` : null,
    `Rule: ${n.alert.rule} (${n.alert.severity})`,
    `Since: ${n.alert.startedAt}`,
    n.alert.resolvedAt ? `Resolved: ${n.alert.resolvedAt}` : null,
    n.alert.url ? `\n${n.alert.url}` : null,
  ].filter((l) => l !== null);
  return { subject: `[Tallygate ${state}] ${n.alert.title}`.replace(/[\r\n]+/g, ' ').slice(0, 200), text: lines.join('\n') };
}

/** smtp(s)://user:pass@host:port → nodemailer's options (smtps: TLS from the start; smtp: STARTTLS when offered). */
function smtpOptions(url: string, timeoutMs: number): SMTPTransport.Options {
  const u = new URL(url);
  const secure = u.protocol === 'smtps:';
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : secure ? 465 : 587,
    secure,
    auth: u.username ? { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } : undefined,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  };
}

/** One SMTP transport per process (nodemailer pools nothing by default: a connection per message). */
export class Mailer {
  private transport: Transporter | undefined;

  constructor(
    private readonly smtpUrl: string | undefined,
    private readonly from: string,
    private readonly timeoutMs: number,
  ) {}

  async send(to: string[], n: Notification): Promise<SendResult> {
    if (!this.smtpUrl) return { delivered: false, responseCode: null, error: 'no SMTP server configured (set SMTP_URL)', permanent: true };
    this.transport ??= nodemailer.createTransport(smtpOptions(this.smtpUrl, this.timeoutMs));
    const { subject, text } = emailText(n);
    try {
      const info = await this.transport.sendMail({ from: this.from, to, subject, text });
      const code = Number(/^(\d{3})/.exec(String(info.response ?? ''))?.[1] ?? 250);
      const rejected = (info.rejected ?? []).map(String);
      return { delivered: (info.accepted ?? []).length > 0, responseCode: code, error: rejected.length ? `rejected: ${rejected.join(', ')}` : null };
    } catch (error) {
      const code = (error as { responseCode?: number }).responseCode ?? null;
      return { delivered: false, responseCode: code, error: (error as Error).message, permanent: code !== null && code >= 500 };
    }
  }

  close(): void {
    this.transport?.close();
  }
}
