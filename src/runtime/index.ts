/** The migration runtime (DESIGN.md): one object every entry point opens. */
export { openMigration, Migration, type MigrationOptions, type MigrationStores, type Roles } from './migration.js';
export {
  TandemEvents,
  type TandemEventMap,
  type TandemEventName,
  type RelayDirection,
  type ServiceState,
} from './events.js';
export {
  StatusSchema,
  statusJsonSchema,
  type MigrationStatus,
  type EntityStatus,
  type BackfillHolder,
  type BackfillState,
} from './status.js';
export type { LastVerify } from './last-verify.js';
export * from './services/index.js';
