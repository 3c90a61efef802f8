// The demo's alerting: an in-process SMTP sink (smtp-server) that prints each alert email it receives, and
// an email channel to it, so the recommender org's billing failure is seen as a delivered alert.
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import type { AlertsService } from '../alerts/alerts.service.js';

export interface MailSink {
  url: string;
  received: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 only; prints the subject of every message. */
export async function startMailSink(): Promise<MailSink> {
  const sink = { received: 0 };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      let raw = '';
      stream.on('data', (c: Buffer) => (raw += c.toString('utf8')));
      stream.on('end', () => {
        sink.received++;
        const subject = /^Subject: (.*)$/m.exec(raw.replace(/\r?\n[ \t]+/g, ' '))?.[1] ?? '(no subject)';
        console.log(`[demo inbox] alert email to ${session.envelope.rcptTo.map((r) => r.address).join(', ')}: ${subject}`);
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.server.address() as AddressInfo;
  return Object.assign(sink, { url: `smtp://127.0.0.1:${port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
}

/** The demo's email channel (once: later runs keep it). */
export async function seedDemoAlerting(alerts: AlertsService): Promise<void> {
  if ((await alerts.channels()).some((c) => c.name === 'Demo inbox')) return;
  await alerts.createChannel({ kind: 'email', name: 'Demo inbox', to: ['oncall@demo.tallygate'], enabled: true });
}
