import type { Migration } from '../migration.js';
import { BackfillService, type BackfillServiceOptions } from './backfill.js';
import { GuardService, type GuardServiceOptions } from './guard.js';
import { RelayService, type RelayServiceOptions } from './relay.js';
import { Supervisor, type SupervisorOptions } from './supervisor.js';
import { VerifyService, type VerifyServiceOptions } from './verify.js';

export { BackfillService, type BackfillServiceOptions } from './backfill.js';
export { RelayService, type RelayServiceOptions, type RelayServiceResult, type RelayMode } from './relay.js';
export { VerifyService, type VerifyServiceOptions } from './verify.js';
export { GuardService, type GuardServiceOptions } from './guard.js';
export { Supervisor, type SupervisorOptions } from './supervisor.js';
export type { Service } from './service.js';

/** The service factories of a migration (`migration.services`); each call makes a new, not yet started service. */
export interface MigrationServices {
  backfill(o?: BackfillServiceOptions): BackfillService;
  relay(o?: RelayServiceOptions): RelayService;
  verify(o?: VerifyServiceOptions): VerifyService;
  /** The guard: evaluates the fleet's read windows and sets the canary to 0 on a breach (docs/guard.md). */
  guard(o?: GuardServiceOptions): GuardService;
  /** The supervisor of `tandem run`: the services the phase calls for. */
  supervisor(o?: SupervisorOptions): Supervisor;
}

/** @internal */
export function migrationServices(m: Migration): MigrationServices {
  return {
    backfill: (o) => new BackfillService(m, o),
    relay: (o) => new RelayService(m, o),
    verify: (o) => new VerifyService(m, o),
    guard: (o) => new GuardService(m, o),
    supervisor: (o) => new Supervisor(m, o),
  };
}
