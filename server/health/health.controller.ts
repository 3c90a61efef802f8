import { Controller, Get, HttpCode } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { Public } from '../auth/roles.decorator.js';
import { DataSource } from 'typeorm';
import { migrationsApplied } from '../database/migrate.js';
import { OpenAIError } from '../http/openai-error.js';

@ApiTags('operations')
@Public()
@Controller()
export class HealthController {
  constructor(private readonly dataSource: DataSource) {}

  /** The process is up. */
  @Get('healthz')
  @HttpCode(200)
  health() {
    return { status: 'ok' };
  }

  /** The database answers and every migration is applied: safe to send traffic. */
  @Get('readyz')
  async ready() {
    try {
      if (!(await migrationsApplied(this.dataSource))) throw new Error('migrations pending');
    } catch (error) {
      throw new OpenAIError(503, `Not ready: ${(error as Error).message}`, 'server_error', 'not_ready', null, true);
    }
    return { status: 'ready' };
  }
}
