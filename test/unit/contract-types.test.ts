// Compile-time: what the services return, once JSON-serialised (Dates become ISO strings), is exactly the
// contract's response type. `npx tsc --noEmit -p .` fails on drift; the e2e contract test checks the bytes.
import { describe, expectTypeOf, it } from 'vitest';
import type { ApiToken, IssuedApiToken } from '../../server/auth/api-tokens.service.js';
import type { AuditRecord } from '../../server/auth/audit.service.js';
import type { User } from '../../server/auth/users.service.js';
import type * as C from '../../server/contract/index.js';
import type { AdminKeyStatus, FeatureView, IssuedGatewayKey, OrgView } from '../../server/orgs/orgs.service.js';
import type { GatewayKey } from '../../server/orgs/gateway-key.entity.js';
import type { UpstreamKey } from '../../server/orgs/upstream-key.entity.js';

/** What JSON.stringify makes of a value: Dates as strings, functions and symbols gone. */
type Jsonified<T> = T extends Date
  ? string
  : T extends Array<infer U>
    ? Array<Jsonified<U>>
    : T extends object
      ? { [K in keyof T as T[K] extends (...args: never[]) => unknown ? never : K]: Jsonified<T[K]> }
      : T;

describe('service answers are the contract types, serialised', () => {
  it('admin: orgs, keys, features, gateway keys', () => {
    // Upstream keys' sealed secret is never selected (select: false): the one field the entity has and the answer not.
    expectTypeOf<Jsonified<OrgView>>().toMatchTypeOf<C.OrgView>();
    expectTypeOf<Jsonified<Omit<UpstreamKey, 'sealed'>>>().toEqualTypeOf<C.UpstreamKeyView>();
    expectTypeOf<Jsonified<AdminKeyStatus>>().toEqualTypeOf<C.ResponseOf<typeof C.orgRoutes.setAdminKey>>();
    expectTypeOf<Jsonified<FeatureView>>().toEqualTypeOf<C.FeatureView>();
    expectTypeOf<Jsonified<GatewayKey>>().toMatchTypeOf<C.GatewayKeyView>();
    expectTypeOf<Jsonified<IssuedGatewayKey>>().toMatchTypeOf<C.ResponseOf<typeof C.orgRoutes.issueGatewayKey>>();
  });

  it('admin: users, API tokens, audit', () => {
    expectTypeOf<Jsonified<User>>().toEqualTypeOf<C.UserView>();
    expectTypeOf<Jsonified<ApiToken>>().toEqualTypeOf<C.ApiTokenView>();
    expectTypeOf<Jsonified<IssuedApiToken>>().toEqualTypeOf<C.ResponseOf<typeof C.userRoutes.createApiToken>>();
    expectTypeOf<Jsonified<AuditRecord>>().toMatchTypeOf<C.AuditRecordView>();
  });
});
