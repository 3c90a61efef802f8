// GET /api/admin/key-usage: which key carries traffic and when each was last used, so an admin
// revokes the previous key after a rotation, not the live one.
import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Roles } from '../auth/roles.decorator.js';
import type { KeyUsageResponse } from '../contract/key-usage.js';
import { KeyUsageRepository } from './key-usage.repository.js';

@ApiTags('admin')
@ApiBearerAuth()
@Roles('admin')
@Controller('api/admin')
export class KeyUsageController {
  constructor(private readonly keys: KeyUsageRepository) {}

  @Get('key-usage')
  usage(): Promise<KeyUsageResponse> {
    return this.keys.usage();
  }
}
