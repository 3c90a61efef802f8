// Serves the dashboard (client/dist, built by `npm run build:client`) at / from the gateway itself.
// Client-side routes (/overview, /admin/orgs, …) fall back to index.html; the API prefixes never do,
// so an unknown /v1 or /api path still gets an OpenAI-shaped 404 instead of a web page.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Logger, Module, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { notFound } from '../http/openai-error.js';

/** Paths the dashboard must never answer, even when nothing else matched. */
export const RESERVED_PREFIXES = ['/v1', '/api', '/healthz', '/readyz', '/metrics'];

export function isReserved(path: string): boolean {
  return RESERVED_PREFIXES.some((p) => path === p || path.startsWith(`${p}/`) || path.startsWith(`${p}?`));
}

/** client/dist next to the sources (tsx/vitest) or next to the compiled dist/ (npm start). */
export function findClientDist(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [resolve(here, '../../client/dist'), resolve(here, '../../../client/dist')];
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? null;
}

const NOT_BUILT = `<!doctype html><html lang="en"><meta charset="utf-8"><title>Tallygate</title>
<body style="font:16px system-ui;margin:3rem;max-width:40rem"><h1>The dashboard is not built</h1>
<p>Run <code>npm run build:client</code> (or <code>npm run build</code>), then restart the gateway.
The API is up: <a href="/api/docs">/api/docs</a>.</p></body></html>`;

@Module({})
export class DashboardModule implements OnModuleInit {
  private readonly logger = new Logger('dashboard');

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    const root = findClientDist();
    if (root) {
      void fastify.register(fastifyStatic, {
        root,
        prefix: '/',
        // One route per built file (no catch-all of its own), so our fallback below owns `/*`.
        wildcard: false,
        index: false,
        setHeaders: (reply, path) => {
          // Vite names assets by content hash: cache forever. index.html must always be fresh.
          reply.header('cache-control', path.includes(join('assets', '')) ? 'public, max-age=31536000, immutable' : 'no-cache');
        },
      });
    } else {
      this.logger.warn('client/dist not found: run `npm run build:client` to serve the dashboard at /');
    }

    fastify.get('/*', async (request: FastifyRequest, reply: FastifyReply) => {
      const path = request.url.split('?')[0];
      if (isReserved(path)) {
        const error = notFound(`Cannot GET ${path}: no such route.`);
        return reply.code(error.status).headers(error.responseHeaders()).send(error.body());
      }
      // A missing file (/assets/old-hash.js after a deploy) must 404, not return the page as JS.
      if (/\.[a-z0-9]{1,8}$/i.test(path)) return reply.code(404).type('text/plain; charset=utf-8').send('Not found');
      if (!root) return reply.code(503).type('text/html; charset=utf-8').send(NOT_BUILT);
      return reply.header('cache-control', 'no-cache').sendFile('index.html', root);
    });
  }
}
