/**
 * Tandem's public API. Glossary (DESIGN.md): source/legacy, target/new, store, entity, key, version, mapping,
 * change, outbox, relay, apply, version ledger, backfill, verify, repair, parity, phase.
 */
export {
  defineConfig,
  env,
  type TandemConfig,
  type TandemConfigInput,
  type EntityConfig,
  type TargetConfig,
  type ColumnSpec,
  type Cast,
  type WhereConfig,
  type SkipMarker,
  SKIP,
} from './config/schema.js';
export { type Problem, formatProblems } from './core/problems.js';
export { loadConfig, parseConfig } from './config/load.js';
export { resolveConfig, resolveEntity, orderEntities } from './config/resolve.js';
export { snakeCase, renameColumns } from './core/naming.js';
export { canonicalize, canonicalJson } from './core/canonical.js';
export { TandemError, isTandemError, ErrorCodes, type ErrorCode } from './core/errors.js';
export {
  mapRow,
  keyString,
  versionOf,
  type ResolvedEntity,
  type ResolvedTarget,
  type MappedRow,
} from './core/mapping.js';
export { capabilitiesFor, classifyError, isUniqueViolation, openStore, parseStoreUrl, sqlFor } from './stores/index.js';
export type * from './stores/prepare.js';
export type * from './stores/types.js';
export { applyRows, type ApplyResult } from './apply/apply.js';
export {
  runBackfill,
  type BackfillOptions,
  type EntityBackfillResult,
  type RangeBackfillResult,
} from './backfill/backfill.js';
export { verifyEntities, type VerifyResult, type EntityVerifyResult, type KeyDifference } from './verify/verify.js';
export { ensureControlSchema, audit } from './control/control.js';
// identity bridge: lazy password migration on login, hash formats, Argon2id, operator tasks (docs/identity.md)
export type { IdentityConfig } from './config/schema.js';
export {
  createIdentityBridge,
  openIdentityBridge,
  IdentityBridge,
  verifyPassword,
  identifyHash,
  supportedSchemes,
  hashPassword,
  needsRehash,
  Argon2idHasher,
  OWASP_ARGON2ID,
  Semaphore,
  normalizeIdentifier,
  wrapLegacyHash,
  verifyWrappedHash,
  isWrappedHash,
  wrapAtRest,
  identityReport,
  formatIdentityReport,
  sunsetIdentities,
  resolveIdentity,
  TokenBucket,
  firebaseStoredHash,
  type AuthResult,
  type AuthSuccess,
  type AuthFailure,
  type Credentials,
  type IdentityBridgeOptions,
  type BridgeStats,
  type VerifyResult as PasswordVerifyResult,
  type VerifyOptions as PasswordVerifyOptions,
  type Argon2Params,
  type RawHexConfig,
  type FirebaseScryptParams,
  type WorkFactorCaps,
  type IdentityReport,
  type SunsetEntry,
  type SunsetResult,
  type WrapAtRestOptions,
  type WrapAtRestResult,
  type ResolvedIdentity,
  type FailurePolicy,
  type TokenBucketOptions,
} from './identity/index.js';
export {
  createDualWriter,
  DualWriter,
  type DualWriterOptions,
  type KeyInput,
  type WriteContext,
} from './capture/writer.js';
export { fromPg, fromMysql, fromSqlite, fromKysely, type TxAdapter } from './capture/adapters.js';
export { openTransport, type Transport, type Change, type Delivery } from './capture/transport/types.js';
export { runRelay, type RelayStats } from './apply/relay.js';
export { consumeChanges, forwardOutbox } from './apply/broker.js';
export { PHASES, readPhase, setPhase, primaryRole, type Phase } from './control/phase.js';
export {
  runVerify,
  exitCodeOf,
  VERIFY_MODES,
  EXIT_BITS,
  type VerifyMode,
  type VerifyOptions,
  type VerifyReport,
} from './verify/run.js';
export { runContinuous, type ContinuousOptions } from './verify/continuous.js';
export { repairKeys, planRepair, type RepairResult } from './verify/repair.js';
export {
  createResultComparator,
  createStoredRowComparator,
  type ResultCompareOptions,
  type ResultReads,
  type SettledComparison,
  type ShadowCompareOptions,
  type ShadowComparatorWithLag,
} from './routing/compare.js';
export { pendingForKey } from './outbox/outbox.js';
export { listMismatches, type Mismatch, type MismatchOrigin, type MismatchState } from './verify/mismatches.js';
export { reverseEntity } from './core/reverse.js';
export {
  openMigration,
  Migration,
  TandemEvents,
  StatusSchema,
  statusJsonSchema,
  BackfillService,
  RelayService,
  VerifyService,
  Supervisor,
  type MigrationOptions,
  type MigrationStores,
  type Roles,
  type TandemEventMap,
  type TandemEventName,
  type RelayDirection,
  type ServiceState,
  type MigrationStatus,
  type EntityStatus,
  type BackfillState,
  type LastVerify,
  type MigrationServices,
  type Service,
  type BackfillServiceOptions,
  type RelayServiceOptions,
  type RelayServiceResult,
  type RelayMode,
  type VerifyServiceOptions,
  type SupervisorOptions,
} from './runtime/index.js';
// read path: bucketing, routing state, routed reads (docs/routing.md)
export { bucketOf, bucketsOf, canonicalKeyOf, inSample, murmur3x86_32, BUCKETS } from './routing/bucket.js';
export {
  killRouting,
  parsePercent,
  readRoutingSnapshot,
  setCanaryPercent,
  setShadowPercent,
  unkillRouting,
  type RoutingSnapshot,
  type RoutingView,
} from './routing/state.js';
export {
  NO_OBSERVER,
  routeOf,
  type CanaryDecision,
  type CompareFn,
  type KeyRoute,
  type ReadFn,
  type Reader,
  type ReadsOptions,
  type Route,
} from './routing/reader.js';
export type * from './routing/types.js';
export { ROUTING_STATE_ROWS } from './routing/types.js';
export type { ShadowCounts, ShadowCountsSource } from './routing/shadow-counts.js';
export type { BucketBy, RoutingConfig } from './config/schema.js';
// read path: windows, guard, OpenFeature canary decision (docs/guard.md)
export {
  ReadStats,
  createReadStats,
  readFleetWindows,
  readShadowCounts,
  pruneWindows,
  type ReadStatsOptions,
  type PublishOptions,
  type Publisher,
  type WindowSummary,
  type FleetWindow,
} from './routing/stats.js';
export {
  evaluateGuard,
  judgeWindows,
  guardThresholds,
  readGuardVerdict,
  wilsonLowerBound,
  wilsonUpperBound,
  type GuardThresholds,
  type GuardMeasure,
  type GuardBreach,
  type GuardFigures,
  type GuardJudgement,
  type GuardEvaluation,
} from './routing/guard.js';
export {
  openFeatureCanary,
  withRoutingOverrides,
  type OpenFeatureClientLike,
  type CanaryOverrides,
} from './routing/openfeature.js';
export { GuardService, type GuardServiceOptions } from './runtime/services/guard.js';
export type { GuardConfig } from './config/schema.js';
// metrics (docs/metrics.md): the one prom-client registry — an application instance serves (or merges) it to
// expose its routed-request and fast-path metrics; a migration's control-plane gauges are filled at scrape time
export { registry as metricsRegistry, metricsText, serveMetrics } from './core/metrics.js';
export { migrationMetricsText, refreshStatusMetrics, type StatusMetricsOptions } from './runtime/metrics.js';
