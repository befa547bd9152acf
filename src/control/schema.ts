import { outboxDdl } from '../outbox/outbox.js';
import { type Family, familyOf as familyOfDialect, sqlForFamily } from '../stores/dialects.js';
import type { Dialect } from '../stores/types.js';

/**
 * The control plane's own schema, created and upgraded by Tandem (never by hand). Each migration is a list of
 * statements per dialect family; `schema_migrations` records which versions ran. Migrations only ever append:
 * a released version is never edited.
 *
 * Tables (PostgreSQL/PGlite: schema `tandem`; MySQL/SQLite: prefix `tandem_`):
 * - `schema_migrations(version, applied_at)`
 * - `version_ledger(entity, entity_key, version, deleted, applied_at)` — one row per applied key; the guard of the
 *   apply path
 * - `checkpoints(entity, last_key, rows_copied, rows_applied, rows_total, status, started_at, updated_at, finished_at)`
 * - `audit_log(id, at, command, args, actor, outcome, detail)`
 * - `outbox(id, entity, entity_key, key_values, created_at, attempts, next_attempt_at, last_error)` — changes
 *   written in the application's transaction on whichever store is primary (v2)
 * - `dead_letters(id, origin, change_id, entity, entity_key, key_values, attempts, reason, first_seen_at, dead_at)`
 *   (v2)
 * - `state(name, value, updated_at)` — the phase and flags (v2)
 * - `identity_ledger(entity, entity_key, identifier, state, scheme, updated_ms, migrated_ms)` — the identity bridge's
 *   per-user state: `migrated`, `wrapped`, `reset_required` (v3; see src/identity/ledger.ts)
 * - `identity_failures(id, failures, last_failure_ms)` — login failure counters per identifier fingerprint (v3)
 * - `mismatches(entity, entity_key, key_values, kind, columns_differing, state, first_seen_ms, last_seen_ms, state_ms,
 *   checks)` (v4)
 * - `leases(scope, token, holder_id, host, pid, acquired_ms, renewed_ms, expires_ms)` — time-limited claims with a
 *   fencing token (`backfill:<entity>`); used in the target, next to the checkpoints they fence (v5;
 * src/control/lease.ts)
 * - `heartbeats(id, role, scope, host, pid, started_ms, last_beat_ms, interval_ms, state, info)` — one row per running
 *   long-lived command; used in the control store, read by `tandem status` (v5; src/control/heartbeat.ts)
 * - `routing_windows(instance_id, entity, origin, window_start_ms, window_end_ms, samples, ok, errors, timeouts,
 *   fallbacks, served, latency, matched, mismatched, lagging, dropped, published_ms)` — what every application
 *   instance's read path saw over a few seconds, published for the guard's fleet aggregate; `latency` is a JSON
 *   histogram (src/routing/latency.ts), `published_ms` the database's clock; pruned after 15 minutes
 *   (v6; src/routing/stats.ts, docs/guard.md)
 *
 * - `mismatches.origin` — who found the mismatch: `verify` (checksum, full, sample, continuous) or `shadow` (a shadow
 *   read, src/routing/compare.ts); existing rows are `verify` (v7)
 *
 * - `fence(name, epoch, phase, side, state, holder, updated_ms)` — the write fence of cutover and rollback: one row
 *   `writes` in every store, created `open` at epoch 0; every dual write reads it with a shared lock inside its own
 *   transaction on the primary, and the cutover closes it (bumping the epoch) on the old primary before draining
 *   and flipping (v8; src/cutover/fence.ts, docs/cutover.md "Fence")
 * - `fence_waits(id, epoch, wait_ms, outcome, instance_id, at_ms)` — how long writes were held at a closed fence,
 *   recorded best-effort by every writer in the control store; the cutover sums them up (v8)
 *
 * - `backfill_ranges(entity, range_no, ranges, plan_id, lower_key, upper_key, last_key, rows_copied, rows_applied,
 *   rows_estimate, status, started_at, updated_at, finished_at)` — the key ranges of an entity backfilled by parallel
 *   workers: range `range_no` of `ranges` covers the keys in (`lower_key`, `upper_key`] (canonical key values, null:
 *   open), its own checkpoint `last_key`; one lease `backfill:<entity>/<range_no>` each. An entity planned as one range
 *   (small tables, checkpoints of older versions) has no rows here: its checkpoint row is its one range (v9;
 *   src/control/ranges.ts, docs/backfill.md "Parallel workers"); `checkpoints.plan_id`: the plan that created the
 *   checkpoint row (null for rows of older versions and one-range plans made by them) (v9)
 *
 * Columns named `*_ms` hold epoch milliseconds; those of v5 are taken from the database's clock (`sql.nowMs()`).
 *
 * The column types, index placement and clock of each dialect come from its SQL builders (`store.sql.ddl`,
 * `src/stores/<dialect>/sql.ts`); the outbox tables from src/outbox/outbox.ts.
 *
 * The same schema goes into every store Tandem writes to (source and target): the primary role moves from the
 * legacy store to the new one at cutover, and with it the outbox; the ledger is used on whichever is secondary.
 */
export interface Migration {
  version: number;
  description: string;
  statements: (t: (name: string) => string) => string[];
}

/**
 * The dialect family whose DDL a store uses (PGlite is PostgreSQL).
 * @deprecated Engine differences are the store's (`store.sql`, `store.capabilities`); kept for older callers.
 * @internal
 */
export const familyOf = familyOfDialect;

/**
 * SQL for "now" in a dialect family (SQLite: ISO-8601 text in UTC).
 * @deprecated Use `store.sql.now()`.
 * @internal
 */
export const nowSql = (family: Family | Dialect): string => sqlForFamily(family).now();

/**
 * SQL for "now" as epoch milliseconds on the database's clock.
 * @deprecated Use `store.sql.nowMs()`.
 * @internal
 */
export const nowMsSql = (family: Family | Dialect): string => sqlForFamily(family).nowMs();

/** All migrations, in order, for a dialect (or dialect family: `pg`, `mysql`, `sqlite`). */
export function migrations(dialect: Family | Dialect): Migration[] {
  const sql = sqlForFamily(dialect);
  const y = { ...sql.ddl, now: sql.now() };
  const suffix = y.tableSuffix;
  const inline = y.inlineIndexes;
  const index = (name: string, table: string, cols: string) =>
    inline ? [] : [`CREATE INDEX IF NOT EXISTS ${y.indexName(name)} ON ${table} (${cols})`];
  return [
    {
      version: 1,
      description: 'version ledger, checkpoints, audit log',
      statements: (t) => [
        `CREATE TABLE IF NOT EXISTS ${t('version_ledger')} (
          entity ${y.text(128)} NOT NULL,
          entity_key ${y.text(512)} NOT NULL,
          version ${y.bigint} NOT NULL,
          deleted ${y.bool} NOT NULL,
          applied_at ${y.ts} NOT NULL DEFAULT ${y.now},
          PRIMARY KEY (entity, entity_key))${suffix}`,
        `CREATE TABLE IF NOT EXISTS ${t('checkpoints')} (
          entity ${y.text(128)} NOT NULL PRIMARY KEY,
          last_key ${y.longtext},
          rows_copied ${y.bigint} NOT NULL DEFAULT 0,
          rows_applied ${y.bigint} NOT NULL DEFAULT 0,
          rows_total ${y.bigint},
          status ${y.text(16)} NOT NULL,
          started_at ${y.ts} NOT NULL DEFAULT ${y.now},
          updated_at ${y.ts} NOT NULL DEFAULT ${y.now},
          finished_at ${y.ts})${suffix}`,
        `CREATE TABLE IF NOT EXISTS ${t('audit_log')} (
          id ${y.serial},
          at ${y.ts} NOT NULL DEFAULT ${y.now},
          command ${y.text(64)} NOT NULL,
          args ${y.longtext} NOT NULL,
          actor ${y.text(256)} NOT NULL,
          outcome ${y.text(16)} NOT NULL,
          detail ${y.longtext})${suffix}`,
      ],
    },
    {
      version: 2,
      description: 'outbox, dead letters, state (phase)',
      statements: (t) => [
        ...outboxDdl(t, sql),
        `CREATE TABLE IF NOT EXISTS ${t('state')} (
          name ${y.text(64)} NOT NULL PRIMARY KEY,
          value ${y.longtext} NOT NULL,
          updated_at ${y.ts} NOT NULL DEFAULT ${y.now})${suffix}`,
      ],
    },
    {
      version: 3,
      description: 'identity bridge: identity ledger, login failure counters',
      statements: (t) => [
        `CREATE TABLE IF NOT EXISTS ${t('identity_ledger')} (
          entity ${y.text(128)} NOT NULL,
          entity_key ${y.text(512)} NOT NULL,
          identifier ${y.text(512)} NOT NULL,
          state ${y.text(16)} NOT NULL,
          scheme ${y.text(64)},
          updated_ms ${y.bigint} NOT NULL,
          migrated_ms ${y.bigint},
          PRIMARY KEY (entity, entity_key)${inline ? ', INDEX identity_ledger_identifier (entity, identifier), INDEX identity_ledger_state (entity, state)' : ''})${suffix}`,
        ...index('identity_ledger_identifier', t('identity_ledger'), 'entity, identifier'),
        ...index('identity_ledger_state', t('identity_ledger'), 'entity, state'),
        `CREATE TABLE IF NOT EXISTS ${t('identity_failures')} (
          id ${y.text(64)} NOT NULL PRIMARY KEY,
          failures integer NOT NULL,
          last_failure_ms ${y.bigint} NOT NULL${inline ? ', INDEX identity_failures_last (last_failure_ms)' : ''})${suffix}`,
        ...index('identity_failures_last', t('identity_failures'), 'last_failure_ms'),
      ],
    },
    {
      version: 4,
      description: 'verify: mismatches (pending, confirmed, repaired, resolved)',
      statements: (t) => [
        `CREATE TABLE IF NOT EXISTS ${t('mismatches')} (
          entity ${y.text(128)} NOT NULL,
          entity_key ${y.text(512)} NOT NULL,
          key_values ${y.longtext} NOT NULL,
          kind ${y.text(16)} NOT NULL,
          columns_differing ${y.longtext},
          state ${y.text(16)} NOT NULL,
          first_seen_ms ${y.bigint} NOT NULL,
          last_seen_ms ${y.bigint} NOT NULL,
          state_ms ${y.bigint} NOT NULL,
          checks integer NOT NULL DEFAULT 1,
          PRIMARY KEY (entity, entity_key)${inline ? ', INDEX mismatches_state (entity, state)' : ''})${suffix}`,
        ...index('mismatches_state', t('mismatches'), 'entity, state'),
      ],
    },
    {
      version: 5,
      description: 'leases with fencing tokens, heartbeats of running processes',
      statements: (t) => [
        `CREATE TABLE IF NOT EXISTS ${t('leases')} (
          scope ${y.text(256)} NOT NULL PRIMARY KEY,
          token ${y.bigint} NOT NULL,
          holder_id ${y.text(64)},
          host ${y.text(256)},
          pid ${y.bigint},
          acquired_ms ${y.bigint},
          renewed_ms ${y.bigint},
          expires_ms ${y.bigint} NOT NULL)${suffix}`,
        `CREATE TABLE IF NOT EXISTS ${t('heartbeats')} (
          id ${y.text(64)} NOT NULL PRIMARY KEY,
          role ${y.text(64)} NOT NULL,
          scope ${y.text(256)},
          host ${y.text(256)} NOT NULL,
          pid ${y.bigint} NOT NULL,
          started_ms ${y.bigint} NOT NULL,
          last_beat_ms ${y.bigint} NOT NULL,
          interval_ms ${y.bigint} NOT NULL,
          state ${y.text(16)} NOT NULL,
          info ${y.longtext})${suffix}`,
      ],
    },
    {
      version: 6,
      description: 'routing: read-path windows published by every instance (the guard)',
      statements: (t) => [
        `CREATE TABLE IF NOT EXISTS ${t('routing_windows')} (
          instance_id ${y.text(64)} NOT NULL,
          entity ${y.text(128)} NOT NULL,
          origin ${y.text(16)} NOT NULL,
          window_start_ms ${y.bigint} NOT NULL,
          window_end_ms ${y.bigint} NOT NULL,
          samples ${y.bigint} NOT NULL,
          ok ${y.bigint} NOT NULL,
          errors ${y.bigint} NOT NULL,
          timeouts ${y.bigint} NOT NULL,
          fallbacks ${y.bigint} NOT NULL,
          served ${y.bigint} NOT NULL,
          latency ${y.longtext} NOT NULL,
          matched ${y.bigint} NOT NULL,
          mismatched ${y.bigint} NOT NULL,
          lagging ${y.bigint} NOT NULL,
          dropped ${y.bigint} NOT NULL,
          published_ms ${y.bigint} NOT NULL,
          PRIMARY KEY (instance_id, entity, origin, window_start_ms)${inline ? ', INDEX routing_windows_published (published_ms)' : ''})${suffix}`,
        ...index('routing_windows_published', t('routing_windows'), 'published_ms'),
      ],
    },
    {
      version: 7,
      description: 'mismatches: origin (verify, shadow)',
      statements: (t) => [`ALTER TABLE ${t('mismatches')} ADD COLUMN origin ${y.text(16)} NOT NULL DEFAULT 'verify'`],
    },
    {
      version: 8,
      description: 'write fence of cutover and rollback (epoch row), held-write waits',
      statements: (t) => [
        `CREATE TABLE IF NOT EXISTS ${t('fence')} (
          name ${y.text(64)} NOT NULL PRIMARY KEY,
          epoch ${y.bigint} NOT NULL,
          phase ${y.text(32)},
          side ${y.text(16)},
          state ${y.text(16)} NOT NULL,
          holder ${y.text(256)},
          updated_ms ${y.bigint} NOT NULL)${suffix}`,
        `INSERT INTO ${t('fence')} (name, epoch, phase, side, state, holder, updated_ms) VALUES ('writes', 0, NULL, NULL, 'open', NULL, ${sql.nowMs()})`,
        `CREATE TABLE IF NOT EXISTS ${t('fence_waits')} (
          id ${y.serial},
          epoch ${y.bigint} NOT NULL,
          wait_ms ${y.bigint} NOT NULL,
          outcome ${y.text(16)} NOT NULL,
          instance_id ${y.text(64)} NOT NULL,
          at_ms ${y.bigint} NOT NULL${inline ? ', INDEX fence_waits_epoch (epoch)' : ''})${suffix}`,
        ...index('fence_waits_epoch', t('fence_waits'), 'epoch'),
      ],
    },
    {
      version: 9,
      description: 'backfill: key ranges of parallel workers (one checkpoint and lease per range)',
      statements: (t) => [
        `CREATE TABLE IF NOT EXISTS ${t('backfill_ranges')} (
          entity ${y.text(128)} NOT NULL,
          range_no integer NOT NULL,
          ranges integer NOT NULL,
          plan_id ${y.text(64)} NOT NULL,
          lower_key ${y.longtext},
          upper_key ${y.longtext},
          last_key ${y.longtext},
          rows_copied ${y.bigint} NOT NULL DEFAULT 0,
          rows_applied ${y.bigint} NOT NULL DEFAULT 0,
          rows_estimate ${y.bigint},
          status ${y.text(16)} NOT NULL,
          started_at ${y.ts},
          updated_at ${y.ts} NOT NULL DEFAULT ${y.now},
          finished_at ${y.ts},
          PRIMARY KEY (entity, range_no))${suffix}`,
        `ALTER TABLE ${t('checkpoints')} ADD COLUMN plan_id ${y.text(64)}`,
      ],
    },
  ];
}

/** The newest control-plane schema version this build knows. */
export const CONTROL_SCHEMA_VERSION = 9;
