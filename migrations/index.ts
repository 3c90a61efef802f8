// Every migration, in order. Imported explicitly so the app, the CLI and the tests (which run
// TypeScript sources) load the same list without globbing compiled files.
import { Orgs1732579200000 } from './1732579200000-Orgs.js';
import { Prices1732579300000 } from './1732579300000-Prices.js';
import { Ledger1732579400000 } from './1732579400000-Ledger.js';
import { Audit1732579500000 } from './1732579500000-Audit.js';
import { AnalyticsRollups1732600000000 } from './1732600000000-AnalyticsRollups.js';
import { RateLimits1732700000000 } from './1732700000000-RateLimits.js';
import { Users1732800000000 } from './1732800000000-Users.js';
import { LedgerOutcomes1733000000000 } from './1733000000000-LedgerOutcomes.js';
import { LedgerBounds1733100000000 } from './1733100000000-LedgerBounds.js';
import { AnonymousRequests1733200000000 } from './1733200000000-AnonymousRequests.js';
import { PriceComponents1733300000000 } from './1733300000000-PriceComponents.js';
import { Reconciliation1733500000000 } from './1733500000000-Reconciliation.js';
import { GatewaySurface1733600000000 } from './1733600000000-GatewaySurface.js';
import { UsageComponents1733700000000 } from './1733700000000-UsageComponents.js';
import { ErrorEpisodes1734000000000 } from './1734000000000-ErrorEpisodes.js';
import { RealtimeSessions1734100000000 } from './1734100000000-RealtimeSessions.js';
import { Batches1734200000000 } from './1734200000000-Batches.js';
import { BudgetsAlerts1734300000000 } from './1734300000000-BudgetsAlerts.js';
import { Attribution1734400000000 } from './1734400000000-Attribution.js';
import { ModerationPolicies1734500000000 } from './1734500000000-ModerationPolicies.js';
import { LedgerOrgKey1734600000000 } from './1734600000000-LedgerOrgKey.js';
import { RollupOrgKey1734700000000 } from './1734700000000-RollupOrgKey.js';

export const migrations = [Orgs1732579200000, Prices1732579300000, Ledger1732579400000, Audit1732579500000, Users1732800000000, AnalyticsRollups1732600000000, RateLimits1732700000000, LedgerOutcomes1733000000000, LedgerBounds1733100000000, AnonymousRequests1733200000000, PriceComponents1733300000000, Reconciliation1733500000000, GatewaySurface1733600000000, UsageComponents1733700000000, ErrorEpisodes1734000000000, RealtimeSessions1734100000000, Batches1734200000000, BudgetsAlerts1734300000000, Attribution1734400000000, ModerationPolicies1734500000000, LedgerOrgKey1734600000000, RollupOrgKey1734700000000];
