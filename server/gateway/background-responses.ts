// Background responses (`background: true`) are answered `queued`, without usage; their usage
// appears later, on a retrieve, a cancel or a stream, made by any key. Who created each one is
// remembered here (one insert, on the rare background create only), and the first call that shows
// its final usage claims it: that call's row carries the cost, attributed to the creator. The claim
// is one statement on a primary key, so it holds across retrieves, replicas and restarts.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface Attribution {
  orgId: string | null;
  featureId: string | null;
  gatewayKeyId: string | null;
}

/** Statuses after which a response's usage is final (cancelled: what ran before the cancel). */
export const FINAL_STATUSES = new Set(['completed', 'incomplete', 'cancelled', 'failed']);

@Injectable()
export class BackgroundResponses {
  constructor(private readonly dataSource: DataSource) {}

  /** A background create was answered: remember whose it is (a second create of the same id keeps the first). */
  async remember(responseId: string, who: Attribution, model: string | null): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO background_responses (response_id, org_id, feature_id, gateway_key_id, model) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (response_id) DO NOTHING`,
      [responseId, who.orgId, who.featureId, who.gatewayKeyId, model],
    );
  }

  /**
   * The call `eventId` shows the response's final usage: returns whom to bill when this call is the
   * first to (the creator; the caller itself for a response created outside this gateway), or null
   * when another call already billed it.
   */
  async claim(responseId: string, eventId: string, caller: Attribution, model: string | null): Promise<Attribution | null> {
    const rows = (await this.dataSource.query(
      `INSERT INTO background_responses AS b (response_id, org_id, feature_id, gateway_key_id, model, billed_event_id, billed_at)
       VALUES ($1, $2, $3, $4, $5, $6, now())
       ON CONFLICT (response_id) DO UPDATE SET billed_event_id = excluded.billed_event_id, billed_at = excluded.billed_at
         WHERE b.billed_event_id IS NULL
       RETURNING org_id, feature_id, gateway_key_id`,
      [responseId, caller.orgId, caller.featureId, caller.gatewayKeyId, model, eventId],
    )) as Array<{ org_id: string | null; feature_id: string | null; gateway_key_id: string | null }>;
    const row = rows[0];
    return row ? { orgId: row.org_id, featureId: row.feature_id, gatewayKeyId: row.gateway_key_id } : null;
  }
}
