// Builds the application (not yet listening): the one place main, the demo and the tests share.
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { LogController } from 'fastify';
import { DataSource } from 'typeorm';
import { AppModule } from './app.module.js';
import type { AppConfig } from './config/config.js';
import { migrate } from './database/migrate.js';
import { createLogger, NestPinoLogger } from './http/logger.js';
import { PricingService } from './pricing/pricing.service.js';

export async function createApp(config: AppConfig, databaseUrl: string): Promise<NestFastifyApplication> {
  const logger = createLogger(config.LOG_LEVEL);
  const adapter = new FastifyAdapter({
    bodyLimit: config.BODY_LIMIT_BYTES,
    loggerInstance: logger,
    // Per-request access logs only at debug: at info they would cost ~15% of gateway throughput.
    logController: new LogController({ disableRequestLogging: config.LOG_LEVEL !== 'debug' && config.LOG_LEVEL !== 'trace' }),
    requestIdHeader: false,
    return503OnClosing: true,
  });
  // Audio uploads stream straight through to OpenAI: leave the body unread (size capped in the proxy).
  adapter.getInstance().addContentTypeParser('multipart/form-data', (_req, _payload, done) => done(null));
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, databaseUrl), adapter, {
    rawBody: true,
    logger: new NestPinoLogger(logger),
  });
  app.enableShutdownHooks();

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
