// Builds the application (not yet listening): the one place main, the demo and the tests share.
import 'reflect-metadata';
import cookie from '@fastify/cookie';
import helmet from '@fastify/helmet';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { DataSource } from 'typeorm';
import { AppModule } from './app.module.js';
import type { Clock } from './config/clock.js';
import type { AppConfig } from './config/config.js';
import { migrate } from './database/migrate.js';
import { withContract } from './http/api-docs.js';
import { createLogger, NestPinoLogger } from './http/logger.js';
import { ProxyService, shuttingDown } from './gateway/proxy.service.js';
import { PricingService } from './pricing/pricing.service.js';
import { RealtimeRelay } from './realtime/realtime.relay.js';
import { readTlsFiles } from './http/tls.js';

/** `clock`: what services read the time from (tests pass a ManualClock). */
export async function createApp(config: AppConfig, databaseUrl: string, options: { clock?: Clock } = {}): Promise<NestFastifyApplication> {
  const logger = createLogger(config.LOG_LEVEL);
  // Known once Nest has built it; read by the routes outside /v1 (which the proxy checks itself).
  let proxy: ProxyService | undefined;
  const adapter = new FastifyAdapter({
    // HTTPS (and wss: for Realtime) served by the gateway itself when a certificate is configured.
    ...(config.TLS_CERT_FILE && config.TLS_KEY_FILE ? { https: readTlsFiles(config.TLS_CERT_FILE, config.TLS_KEY_FILE) } : {}),
    bodyLimit: config.BODY_LIMIT_BYTES,
    loggerInstance: logger,
    // Per-request access logs only at debug: they cost 8-22% more gateway CPU per request in two
    // runs at a steady 1,000 req/s (noisy machine), for lines the ledger already holds.
    logController: new LogController({ disableRequestLogging: config.LOG_LEVEL !== 'debug' && config.LOG_LEVEL !== 'trace' }),
    requestIdHeader: false,
    return503OnClosing: true,
    // A backstop for request bodies that never end (a chunked JSON body is read before the proxy
    // runs; uploads have their own, finer timeouts in the proxy): Node answers 408 and closes.
    requestTimeout: config.REQUEST_BODY_TIMEOUT_MS > 0 ? config.REQUEST_BODY_TIMEOUT_MS + 30_000 : 0,
    // Client address (sign-in limits, audit) and https (Secure cookies) from X-Forwarded-* only when configured.
    trustProxy: config.TRUST_PROXY,
  });
  adapter.getInstance().addHook('onRoute', (route) => {
    // The admin and analytics APIs take small forms; the generous limit is for /v1 payloads only.
    if (route.url.startsWith('/api/')) route.bodyLimit ??= config.API_BODY_LIMIT_BYTES;
    // The gateway relays OpenAI's headers and answers SDKs, not browsers: no helmet work on the hot path.
    if (route.url.startsWith('/v1/')) route.config = Object.assign(route.config ?? {}, { helmet: { skipRoute: true } });
    // After SIGTERM the dashboard, the API and the health checks answer 503 too (a load balancer
    // then takes this replica out); the hot path pays nothing for it.
    else route.onRequest = [refuseWhileStopping(() => proxy), ...[route.onRequest ?? []].flat()];
  });
  registerBodyParsers(adapter.getInstance());
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, databaseUrl, options.clock), adapter, {
    bodyParser: false,
    logger: new NestPinoLogger(logger),
  });
  proxy = app.get(ProxyService);
  await app.register(cookie);
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      // The dashboard bundles its own scripts (Chart.js included); Chart.js sets inline styles.
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'", 'data:'],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    frameguard: { action: 'deny' },
  });
  // CORS stays off (same-origin dashboard) unless origins are configured explicitly.
  if (config.CORS_ORIGINS) {
    app.enableCors({ origin: config.CORS_ORIGINS.split(',').map((o) => o.trim()), credentials: true, allowedHeaders: ['content-type', 'authorization', 'x-csrf-token'] });
  }

  const docs = new DocumentBuilder()
    .setTitle('Tallygate API')
    .setDescription('Admin, analytics and operations API. The OpenAI-compatible gateway lives under /v1.')
    .addBearerAuth()
    .build();
  SwaggerModule.setup('api/docs', app, () => withContract(SwaggerModule.createDocument(app, docs)), { jsonDocumentUrl: 'api/docs/openapi.json' });

  const dataSource = app.get(DataSource);
  await migrate(dataSource);
  const pricing = app.get(PricingService);
  await pricing.syncPriceList();
  pricing.startRefreshing();
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

/**
 * JSON bodies keep their raw bytes (the gateway forwards them unchanged) and are parsed with plain
 * JSON.parse: a duplicate of a prototype key stays an own property and is rejected by the admin
 * API's strict schemas, so secure-json-parse's extra pass is not needed. Audio uploads are left
 * unread: they stream straight through to OpenAI (size capped in the proxy).
 */
function registerBodyParsers(fastify: FastifyInstance): void {
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    (req as FastifyRequest & { rawBody?: Buffer }).rawBody = body as Buffer;
    // Said apart from malformed JSON: the gateway answers each with its own message (and a row).
    if ((body as Buffer).length === 0) return done(Object.assign(new Error('empty JSON body'), { statusCode: 400, code: 'FST_ERR_CTP_EMPTY_JSON_BODY' }), undefined);
    try {
      done(null, JSON.parse((body as Buffer).toString('utf8')));
    } catch {
      done(Object.assign(new Error('invalid JSON body'), { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY' }), undefined);
    }
  });
  fastify.addContentTypeParser('multipart/form-data', (_req, _payload, done) => done(null));
}

/** A route-level hook for everything outside /v1: 503 with Connection: close once stopping. */
function refuseWhileStopping(proxy: () => ProxyService | undefined) {
  return (_req: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    if (!proxy()?.isStopping()) return done();
    const error = shuttingDown();
    void reply.code(error.status).headers(error.responseHeaders()).send(error.body());
  };
}

/** After cutting the calls at the deadline, how long their clean ends get to reach the clients before every socket is closed. */
const CUT_FLUSH_MS = 500;

/**
 * Graceful stop: refuse new connections, answer requests on open connections 503 with
 * `Connection: close` (and close each connection after its response), give in-flight requests
 * (long streams included) up to graceMs to finish, then end what is left (streams cleanly,
 * recorded as cut by the shutdown); only then close Nest, which flushes the ledger before
 * TypeORM closes its pool. Fastify's own return503OnClosing never applied here: it needs
 * fastify.close(), which waits for every connection with no deadline.
 */
export async function shutdown(app: NestFastifyApplication, graceMs: number): Promise<void> {
  const server = app.getHttpServer() as import('node:http').Server;
  const proxy = app.get(ProxyService);
  const realtime = app.get(RealtimeRelay);
  proxy.beginShutdown();
  // Realtime sessions end (1012) at their next pause between responses, or at the deadline.
  realtime.beginShutdown();
  const drained = new Promise<void>((resolve) => server.close(() => resolve()));
  // Keep-alive connections go idle as their last response ends: close each as soon as it does.
  const reaper = setInterval(() => server.closeIdleConnections(), 100);
  server.closeIdleConnections();
  let cut: ReturnType<typeof setTimeout> | undefined;
  const force = setTimeout(() => {
    proxy.cutInFlight();
    realtime.cutAll();
    cut = setTimeout(() => server.closeAllConnections(), CUT_FLUSH_MS);
  }, graceMs);
  await drained;
  clearInterval(reaper);
  clearTimeout(force);
  clearTimeout(cut);
  // Events of calls that just ended may still be being built (audio settling, token estimates).
  await app.get(ProxyService).drain();
  await realtime.drain();
  await app.close();
}
