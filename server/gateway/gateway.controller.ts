// OpenAI-compatible routes under /v1. Each one hands the raw request to the proxy, which writes
// the reply itself (the fastest path, and the only one that relays bytes unchanged).
import { Controller, Get, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ENDPOINTS, type Endpoint } from './endpoints.js';
import { ProxyService } from './proxy.service.js';

const endpoint = (method: string, path: string): Endpoint => ENDPOINTS.find((e) => e.method === method && e.path === path)!;

@ApiExcludeController()
@Controller('v1')
export class GatewayController {
  constructor(private readonly proxy: ProxyService) {}

  @Post('chat/completions')
  chat(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.proxy.handle(endpoint('POST', '/chat/completions'), req, reply);
  }

  @Post('completions')
  completions(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.proxy.handle(endpoint('POST', '/completions'), req, reply);
  }

  @Post('responses')
  responses(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.proxy.handle(endpoint('POST', '/responses'), req, reply);
  }

  @Post('embeddings')
  embeddings(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.proxy.handle(endpoint('POST', '/embeddings'), req, reply);
  }

  @Post('moderations')
  moderations(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.proxy.handle(endpoint('POST', '/moderations'), req, reply);
  }

  @Post('audio/transcriptions')
  transcriptions(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.proxy.handle(endpoint('POST', '/audio/transcriptions'), req, reply);
  }

  @Post('audio/translations')
  translations(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.proxy.handle(endpoint('POST', '/audio/translations'), req, reply);
  }

  @Get('models')
  models(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.proxy.handle(endpoint('GET', '/models'), req, reply);
  }

  @Get('models/:model')
  model(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.proxy.handle(endpoint('GET', '/models/:model'), req, reply);
  }
}
