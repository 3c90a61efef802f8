// Remembers who created each batch and batch input file seen through the gateway, from the create
// route's answer (the id is only known then). The insert runs beside the call, never in its way; if it
// fails the batch can still be metered by id (POST /api/admin/batches/:id/meter with its org).
import { Injectable, Logger } from '@nestjs/common';
import type { CallHook, HookedCall } from '../gateway/hooks/call-hook.js';
import type { UsageEvent } from '../ledger/usage-event.js';
import { BatchesService } from './batches.service.js';

@Injectable()
export class BatchCreatorHook implements CallHook {
  readonly name = 'batches';
  private readonly logger = new Logger('batches');

  constructor(private readonly batches: BatchesService) {}

  onEvent(event: UsageEvent, call: HookedCall): void {
    // One property read for every other call: only the two create routes read a resource.
    const resource = call.resource;
    if (!resource || event.status !== 200 || !event.orgId) return;
    const who = { orgId: event.orgId, featureId: event.featureId, gatewayKeyId: event.gatewayKeyId };
    this.batches.remember(resource, who).catch((error: unknown) => this.logger.warn(`${resource.object} ${resource.id}: creator not recorded (${(error as Error).message}); meter it by id`));
  }
}
