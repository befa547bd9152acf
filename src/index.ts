/**
 * Tandem's public API. Glossary (DESIGN.md): source/legacy, target/new, store, entity, key, version, mapping,
 * change, outbox, relay, apply, version ledger, backfill, verify, repair, parity, phase.
 */
export { defineConfig, type TandemConfig, type TandemConfigInput, type EntityConfig, type TargetConfig, type ColumnSpec, type Cast } from './config/schema.js';
export { loadConfig, parseConfig } from './config/load.js';
export { resolveConfig, resolveEntity, orderEntities } from './config/resolve.js';
export { snakeCase, renameColumns } from './core/naming.js';
export { canonicalize, canonicalJson } from './core/canonical.js';
export { TandemError, isTandemError, ErrorCodes, type ErrorCode } from './core/errors.js';
export { mapRow, keyString, versionOf, type ResolvedEntity, type ResolvedTarget, type MappedRow } from './core/mapping.js';
export { openStore, parseStoreUrl } from './stores/index.js';
export type * from './stores/types.js';
export { applyRows, type ApplyResult } from './apply/apply.js';
export { runBackfill, type BackfillOptions, type EntityBackfillResult } from './backfill/backfill.js';
export { verifyEntities, type VerifyResult, type EntityVerifyResult, type KeyDifference } from './verify/verify.js';
export { ensureControlSchema, audit } from './control/control.js';
