// Admin changes (a revoked gateway key, a suspended org, a rotated upstream key, an edited feature)
// reach every replica at once: each change made here is published, and a change published by
// another replica drops this one's cached routes, as a local change does. Without Redis, or while
// it is away, caches expire on their TTL (KEY_CACHE_TTL_MS); when it returns, every cache is dropped
// once, since changes made meanwhile were not heard.
import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { SharedState } from '../shared-state/shared-state.js';
import { OrgsService } from './orgs.service.js';

const CHANNEL = 'orgs-changed';

@Injectable()
export class ChangeNotices implements OnModuleInit {
  private readonly logger = new Logger('shared-state');
  /** Set while applying another replica's notice, so it is not published again. */
  private applying = false;

  constructor(
    private readonly orgs: OrgsService,
    private readonly shared: SharedState,
  ) {}

  onModuleInit(): void {
    if (this.shared.status === 'off') return;
    this.orgs.onChange(() => {
      if (!this.applying) this.shared.publish(CHANNEL, this.shared.replicaId);
    });
    this.shared.subscribe(CHANNEL, (from) => {
      if (from !== this.shared.replicaId) this.apply();
    });
    this.shared.onReconnect(() => this.apply());
  }

  private apply(): void {
    this.applying = true;
    try {
      this.orgs.applyRemoteChange();
    } catch (error) {
      this.logger.error(`could not apply a change notice: ${(error as Error).message}`);
    } finally {
      this.applying = false;
    }
  }
}
