// GET /metrics for Prometheus. Public unless METRICS_TOKEN is set: firewall it otherwise.
import { createHash, timingSafeEqual } from 'node:crypto';
import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '../auth/roles.decorator.js';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { OpenAIError } from '../http/openai-error.js';
import { MetricsService } from './metrics.service.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

@ApiExcludeController()
@Public()
@Controller()
export class MetricsController {
  constructor(
    private readonly metrics: MetricsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get('metrics')
  async scrape(@Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const expected = this.config.METRICS_TOKEN;
    if (expected) {
      const given = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
      if (!timingSafeEqual(digest(given), digest(expected))) {
        throw new OpenAIError(401, 'Send Authorization: Bearer <METRICS_TOKEN> to read /metrics.', 'authentication_error', 'unauthenticated');
      }
    }
    const body = await this.metrics.metrics();
    void reply.header('content-type', this.metrics.registry.contentType).header('cache-control', 'no-store').send(body);
  }
}
