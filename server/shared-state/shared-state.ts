// State the replicas of one deployment share through Redis when REDIS_URL is set: change
// notices (revoked keys, suspended orgs, edited features, applied on every replica at once) and the
// newest rate-limit observation per org and model. Optional by design: without REDIS_URL, or while
// Redis is away, each replica runs on its own state and says so (/readyz detail, /metrics); when
// Redis returns it catches up (drops what it cached, pulls what others saw). Nothing here is on a
// request's path: publishing is fire-and-forget, reads come from memory.
import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { Redis } from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config/config.js';

export type SharedStateStatus = 'off' | 'connected' | 'unavailable';

type Handler = (message: string) => void;

@Injectable()
export class SharedState implements OnModuleDestroy {
  /** Tells this replica's own messages from the others'. */
  readonly replicaId = randomUUID();
  private readonly logger = new Logger('shared-state');
  private readonly commands?: Redis;
  private readonly subscriber?: Redis;
  private readonly handlers = new Map<string, Handler[]>();
  private readonly reconnectListeners: Array<() => void> = [];
  private connected = false;
  private everConnected = false;
  private lastError: string | null = null;
  readonly prefix: string;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.prefix = config.REDIS_PREFIX;
    if (!config.REDIS_URL) return;
    const options = {
      // A command while Redis is away fails at once instead of queueing behind the outage.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2_000,
      // Reconnect forever, backing off to 2 s: a replica must catch up whenever Redis returns.
      retryStrategy: (attempt: number) => Math.min(100 * 2 ** attempt, 2_000),
      lazyConnect: false,
    };
    this.commands = new Redis(config.REDIS_URL, options);
    this.subscriber = new Redis(config.REDIS_URL, { ...options, enableOfflineQueue: true });
    this.commands.on('error', (error: Error) => (this.lastError = error.message));
    this.subscriber.on('error', (error: Error) => (this.lastError = error.message));
    this.commands.on('close', () => this.down());
    this.commands.on('ready', () => this.up());
    this.subscriber.on('message', (channel: string, message: string) => {
      for (const handler of this.handlers.get(channel) ?? []) {
        try {
          handler(message);
        } catch (error) {
          this.logger.error(`handler of ${channel} failed: ${(error as Error).message}`);
        }
      }
    });
  }

  private up(): void {
    if (this.connected) return;
    this.connected = true;
    this.lastError = null;
    if (this.everConnected) {
      this.logger.log('Redis is back: shared state resumed; catching up on what changed meanwhile');
      for (const listener of this.reconnectListeners) listener();
    }
    this.everConnected = true;
  }

  private down(): void {
    if (!this.connected) return;
    this.connected = false;
    this.logger.warn(`Redis unreachable (${this.lastError ?? 'connection closed'}): this replica runs on its own state until it returns`);
  }

  get status(): SharedStateStatus {
    return !this.commands ? 'off' : this.connected ? 'connected' : 'unavailable';
  }

  get error(): string | null {
    return this.status === 'unavailable' ? this.lastError : null;
  }

  /** The Redis client for commands, when connected (callers fall back to local state otherwise). */
  get client(): Redis | undefined {
    return this.connected ? this.commands : undefined;
  }

  key(name: string): string {
    return `${this.prefix}${name}`;
  }

  /** Fire-and-forget: a lost message is covered by each cache's TTL and by the catch-up on reconnect. */
  publish(channel: string, message: string): void {
    if (!this.connected) return;
    this.commands!.publish(this.key(channel), message).catch((error: Error) => (this.lastError = error.message));
  }

  subscribe(channel: string, handler: Handler): void {
    if (!this.subscriber) return;
    const name = this.key(channel);
    const list = this.handlers.get(name) ?? [];
    if (!list.length) void this.subscriber.subscribe(name).catch((error: Error) => this.logger.warn(`subscribe ${name}: ${error.message}`));
    list.push(handler);
    this.handlers.set(name, list);
  }

  /** Called each time Redis returns after an outage (not on the first connection). */
  onReconnect(listener: () => void): void {
    this.reconnectListeners.push(listener);
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.all([this.commands?.quit().catch(() => this.commands?.disconnect()), this.subscriber?.quit().catch(() => this.subscriber?.disconnect())]);
  }
}
