// Builds the application (not yet listening): the one place main, the demo and the tests share.
import 'reflect-metadata';
import cookie from '@fastify/cookie';
import helmet from '@fastify/helmet';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import { DataSource } from 'typeorm';
import { AppModule } from './app.module.js';
import type { AppConfig } from './config/config.js';
import { migrate } from './database/migrate.js';
import { createLogger, NestPinoLogger } from './http/logger.js';
import { ProxyService } from './gateway/proxy.service.js';
import { PricingService } from './pricing/pricing.service.js';

export async function createApp(config: AppConfig, databaseUrl: string): Promise<NestFastifyApplication> {
  const logger = createLogger(config.LOG_LEVEL);
  const adapter = new FastifyAdapter({
    bodyLimit: config.BODY_LIMIT_BYTES,
    loggerInstance: logger,
    // Per-request access logs only at debug: they cost 8-22% more gateway CPU per request in two
    // runs at a steady 1,000 req/s (noisy machine), for lines the ledger already holds.
    logController: new LogController({ disableRequestLogging: config.LOG_LEVEL !== 'debug' && config.LOG_LEVEL !== 'trace' }),
    requestIdHeader: false,
    return503OnClosing: true,
    // Client address (sign-in limits, audit) and https (Secure cookies) from X-Forwarded-* only when configured.
    trustProxy: config.TRUST_PROXY,
  });
  adapter.getInstance().addHook('onRoute', (route) => {
    // The admin and analytics APIs take small forms; the generous limit is for /v1 payloads only.
    if (route.url.startsWith('/api/')) route.bodyLimit ??= config.API_BODY_LIMIT_BYTES;
    // The gateway relays OpenAI's headers and answers SDKs, not browsers: no helmet work on the hot path.
    if (route.url.startsWith('/v1/')) route.config = Object.assign(route.config ?? {}, { helmet: { skipRoute: true } });
  });
  registerBodyParsers(adapter.getInstance());
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, databaseUrl), adapter, {
    bodyParser: false,
    logger: new NestPinoLogger(logger),
  });
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
  SwaggerModule.setup('api/docs', app, () => SwaggerModule.createDocument(app, docs), { jsonDocumentUrl: 'api/docs/openapi.json' });

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

/**
 * Graceful stop: refuse new connections, give in-flight requests (long streams included) up to
 * graceMs to finish, then cut what is left; only then close Nest, which flushes the ledger
 * before TypeORM closes its pool.
 */
export async function shutdown(app: NestFastifyApplication, graceMs: number): Promise<void> {
  const server = app.getHttpServer() as import('node:http').Server;
  const drained = new Promise<void>((resolve) => server.close(() => resolve()));
  // Keep-alive connections go idle as their last response ends: close each as soon as it does.
  const reaper = setInterval(() => server.closeIdleConnections(), 100);
  server.closeIdleConnections();
  const force = setTimeout(() => server.closeAllConnections(), graceMs);
  await drained;
  clearInterval(reaper);
  clearTimeout(force);
  // Events of calls that just ended may still be being built (audio settling, token estimates).
  await app.get(ProxyService).drain();
  await app.close();
}
