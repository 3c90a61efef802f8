// Sends queued notifications: every replica polls, each delivery is claimed by one (SKIP LOCKED) for one
// attempt; a failure is retried with exponential backoff up to ALERTS_DELIVERY_ATTEMPTS, each attempt logged.
import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { AlertsRepository } from './alerts.repository.js';
import { AlertsService } from './alerts.service.js';
import { Mailer, sendSlack, sendWebhook, type SendResult } from './channels.js';

const POLL_MS = 500;
const BATCH = 20;
const MAX_BACKOFF_MS = 10 * 60_000;

@Injectable()
export class DeliveriesWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Alerts');
  private readonly mailer: Mailer;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly repository: AlertsRepository,
    private readonly alerts: AlertsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.mailer = new Mailer(config.SMTP_URL, config.ALERTS_EMAIL_FROM, config.ALERTS_HTTP_TIMEOUT_MS);
  }

  onApplicationBootstrap(): void {
    const tick = () => {
      this.timer = setTimeout(() => {
        this.running = this.drain()
          .catch((error: Error) => this.logger.warn(`alert deliveries not sent: ${error.message}`))
          .finally(() => {
            this.running = undefined;
            if (!this.stopped) tick();
          });
      }, POLL_MS);
      this.timer.unref();
    };
    tick();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    this.mailer.close();
  }

  /** Sends what is due now (tests call it to skip the poll). */
  async drain(): Promise<void> {
    // A claim holds the delivery for one timeout and a margin: if this replica dies mid-send, another retries it.
    const lease = this.config.ALERTS_HTTP_TIMEOUT_MS + 30_000;
    for (;;) {
      const due = await this.repository.claimDue(BATCH, lease);
      if (due.length === 0 || this.stopped) return;
      // In order within one alert and channel (firing before resolved), in parallel across them.
      const queues = new Map<string, typeof due>();
      for (const d of due.sort((a, b) => Number(BigInt(a.id) - BigInt(b.id)))) {
        const key = `${d.alert_id}:${d.channel_id}`;
        queues.set(key, [...(queues.get(key) ?? []), d]);
      }
      await Promise.all([...queues.values()].map(async (queue) => {
        for (const d of queue) await this.attempt(d);
      }));
    }
  }

  private async attempt(d: { id: string; alert_id: string | null; channel_id: string; event: 'firing' | 'resolved' | 'test'; attempts: number }): Promise<void> {
    const channel = await this.repository.channel(d.channel_id);
    let result: SendResult;
    if (!channel) result = { delivered: false, responseCode: null, error: 'channel deleted', permanent: true };
    else {
      const notification = await this.alerts.notification(d.event, d.alert_id);
      const outbound = { timeoutMs: this.config.ALERTS_HTTP_TIMEOUT_MS, allowPrivate: this.config.ALERTS_ALLOW_PRIVATE_URLS };
      try {
        if (channel.kind === 'email') result = await this.mailer.send(channel.target.split(/,\s*/), notification);
        else if (channel.kind === 'slack') result = await sendSlack(this.alerts.channelSecret(channel).url, notification, outbound);
        else result = await sendWebhook(this.alerts.channelSecret(channel), notification, d.id, outbound);
      } catch (error) {
        result = { delivered: false, responseCode: null, error: (error as Error).message, permanent: true };
      }
    }
    const last = d.attempts >= this.config.ALERTS_DELIVERY_ATTEMPTS || result.permanent;
    const retryInMs = result.delivered || last ? null : Math.min(MAX_BACKOFF_MS, this.config.ALERTS_RETRY_BASE_MS * 2 ** (d.attempts - 1));
    if (!result.delivered) this.logger.warn(`alert delivery ${d.id} to ${channel?.name ?? d.channel_id} failed (attempt ${d.attempts}): ${result.error}${retryInMs === null ? '; giving up' : `; retry in ${retryInMs} ms`}`);
    await this.repository.recordAttempt(d.id, { delivered: result.delivered, responseCode: result.responseCode, error: result.error, retryInMs });
  }
}
