// The one DataSource definition, used by the Nest module, the CLI and the tests alike.
import type { DataSourceOptions } from 'typeorm';
import { migrations } from '../../migrations/index.js';
import { Feature, FeatureOrg } from '../orgs/feature.entity.js';
import { GatewayKey } from '../orgs/gateway-key.entity.js';
import { Org } from '../orgs/org.entity.js';
import { OrgAdminKey } from '../orgs/admin-key.entity.js';
import { UpstreamKey } from '../orgs/upstream-key.entity.js';
import { Price } from '../pricing/price.entity.js';

export const entities = [Org, UpstreamKey, Feature, FeatureOrg, GatewayKey, Price, OrgAdminKey];

export function dataSourceOptions(url: string): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities,
    migrations,
    synchronize: false,
    migrationsRun: false,
    // The ledger writer holds one connection per flush; the rest serve the admin and dashboard APIs.
    extra: { max: 20, application_name: 'tallygate' },
  };
}
