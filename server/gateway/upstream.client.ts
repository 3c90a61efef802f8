// The connection pool to OpenAI (or any compatible upstream): undici keeps sockets alive per
// origin, which is what makes forwarding cheap (see STACK.md's measurements). Responses come back
// through undici's dispatch handler callbacks, straight into the client's socket: no intermediate
// stream objects on the hot path.
import type { Readable } from 'node:stream';
import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { Agent, type Dispatcher } from 'undici';
import { APP_CONFIG, type AppConfig } from '../config/config.js';

export interface UpstreamRequest {
  method: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH';
  headers: Record<string, string>;
  body?: Buffer | Readable;
}

@Injectable()
export class UpstreamClient implements OnModuleDestroy {
  private readonly agent: Agent;
  /** base URL → [origin, path prefix]; an org's base URL rarely changes, so parse it once. */
  private readonly bases = new Map<string, [string, string]>();

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.agent = new Agent({
      connections: config.UPSTREAM_CONNECTIONS_PER_ORIGIN,
      connect: { timeout: config.UPSTREAM_CONNECT_TIMEOUT_MS },
      keepAliveTimeout: 30_000,
      pipelining: 1,
    });
  }

  /** Sends `request` to baseUrl + path; the handler receives the response as it arrives. */
  dispatch(baseUrl: string, path: string, request: UpstreamRequest, handler: Dispatcher.DispatchHandler): void {
    let base = this.bases.get(baseUrl);
    if (!base) {
      const url = new URL(baseUrl);
      base = [url.origin, url.pathname.replace(/\/$/, '')];
      this.bases.set(baseUrl, base);
    }
    this.agent.dispatch(
      {
        origin: base[0],
        path: base[1] + path,
        method: request.method,
        headers: request.headers,
        body: request.body,
        headersTimeout: this.config.UPSTREAM_HEADERS_TIMEOUT_MS,
        bodyTimeout: this.config.UPSTREAM_IDLE_TIMEOUT_MS,
      },
      handler,
    );
  }

  /** End of the shutdown's grace period: every request still running fails with `reason`. */
  destroyAll(reason: Error): void {
    this.destroyed = true;
    this.agent.destroy(reason).catch(() => undefined);
  }

  private destroyed = false;

  /** Shutdown: in-flight requests had their grace period already; do not wait on a stuck one. */
  async onModuleDestroy(): Promise<void> {
    if (this.destroyed) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), 2_000)));
    if ((await Promise.race([this.agent.close(), late])) === 'late') await this.agent.destroy();
    clearTimeout(timer);
  }
}
