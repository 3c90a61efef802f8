// The connection pool to OpenAI (or any compatible upstream): undici keeps sockets alive per
// origin, which is what makes forwarding cheap (see STACK.md's measurements).
import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { Agent, request, type Dispatcher } from 'undici';
import { APP_CONFIG, type AppConfig } from '../config/config.js';

export type UpstreamResponse = Dispatcher.ResponseData;

@Injectable()
export class UpstreamClient implements OnModuleDestroy {
  private readonly agent: Agent;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.agent = new Agent({
      connections: config.UPSTREAM_CONNECTIONS_PER_ORIGIN,
      connect: { timeout: config.UPSTREAM_CONNECT_TIMEOUT_MS },
      keepAliveTimeout: 30_000,
      pipelining: 1,
    });
  }

  send(
    url: string,
    options: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: Buffer | NodeJS.ReadableStream; signal: AbortSignal },
  ): Promise<UpstreamResponse> {
    return request(url, {
      method: options.method,
      headers: options.headers,
      body: options.body as Dispatcher.DispatchOptions['body'],
      signal: options.signal,
      dispatcher: this.agent,
      headersTimeout: this.config.UPSTREAM_HEADERS_TIMEOUT_MS,
      bodyTimeout: this.config.UPSTREAM_IDLE_TIMEOUT_MS,
    });
  }

  async onModuleDestroy(): Promise<void> {
    await this.agent.close();
  }
}
