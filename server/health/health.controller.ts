import { Controller, Get, HttpCode } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { Public } from '../auth/roles.decorator.js';
import { DataSource } from 'typeorm';
import { migrationsApplied } from '../database/migrate.js';
import { OpenAIError } from '../http/openai-error.js';
import { SharedState } from '../shared-state/shared-state.js';

@ApiTags('operations')
@Public()
@Controller()
export class HealthController {
  constructor(
    private readonly dataSource: DataSource,
    private readonly shared: SharedState,
  ) {}

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
    // Redis away is not a reason to take this replica out of rotation: it serves on its own state.
    const sharedState = this.shared.status;
    return { status: 'ready', sharedState, ...(sharedState === 'unavailable' ? { sharedStateError: this.shared.error, note: 'Redis is unreachable: this replica caches and reports on its own state until it returns.' } : {}) };
  }
}
