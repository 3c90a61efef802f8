// The ledger hand-off: the finished event is queued for the batched insert (never awaited on the
// request path). LAST of the event hooks: every enricher before it has added its fields.
import { Injectable } from '@nestjs/common';
import { LedgerWriter } from '../../ledger/ledger.writer.js';
import type { UsageEvent } from '../../ledger/usage-event.js';
import type { CallHook } from './call-hook.js';

@Injectable()
export class LedgerHook implements CallHook {
  readonly name = 'ledger';

  constructor(private readonly ledger: LedgerWriter) {}

  onEvent(event: UsageEvent): void {
    this.ledger.record(event);
  }
}
