/**
 * The identity bridge's control-plane tables, in the new store (next to the version ledger; migration v3 of
 * src/control/schema.ts):
 *
 * - `identity_ledger(entity, entity_key, identifier, state, scheme, updated_ms, migrated_ms)`: one row per user the
 *   bridge or an operator command touched. `state` is `migrated` (logged in through the bridge: the new store holds
 *   a direct Argon2id hash), `wrapped` (`tandem identity wrap` replaced the fast legacy hash in the new store) or
 *   `reset_required` (`tandem identity sunset`: legacy credentials are no longer accepted). Users without a row are
 *   "legacy only". `identifier` is the normalised identifier; `scheme` the legacy scheme; times are epoch ms.
 * - `identity_failures(id, failures, last_failure_ms)`: login failures per identifier fingerprint (never the
 *   identifier itself), shared by both stores' paths and by every application instance.
 *
 * SQL is written for the three dialect families (PostgreSQL/PGlite, MySQL/MariaDB, SQLite).
 */
import type { Executor, Store } from '../stores/types.js';

/** A user's state in the identity ledger. */
export type IdentityState = 'migrated' | 'wrapped' | 'reset_required';

/** One ledger write. */
export interface LedgerWrite {
  /** Canonical entity key string (`keyString`). */
  key: string;
  /** Normalised identifier. */
  identifier: string;
  state: IdentityState;
  /** Legacy scheme, when known. */
  scheme: string | null;
}

/**
 * How a ledger write treats an existing row: `overwrite` (the bridge: a login is authoritative), `unless-migrated`
 * (sunset: never demote a migrated user), `insert-only` (wrap: a row that exists keeps its state).
 */
export type LedgerWriteMode = 'overwrite' | 'unless-migrated' | 'insert-only';

/** Reads and writes the identity ledger of one store. */
export class IdentityLedger {
  readonly table: string;
  readonly #store: Store;

  /** @param store the new store (its control tables must exist: `ensureControlSchema`) */
  constructor(store: Store) {
    this.#store = store;
    this.table = store.controlTable('identity_ledger');
  }

  #p(i: number): string {
    return this.#store.sql.param(i);
  }

  /**
   * Writes ledger rows (one statement per row; call inside a transaction for atomicity with other writes).
   * @param db the store or a transaction on it
   * @param entity the entity name
   * @param rows the rows
   * @param mode see {@link LedgerWriteMode}
   * @param nowMs the time written to `updated_ms` (and `migrated_ms` for `migrated`)
   */
  async write(
    db: Executor,
    entity: string,
    rows: LedgerWrite[],
    mode: LedgerWriteMode,
    nowMs = Date.now(),
  ): Promise<void> {
    const sql = this.#store.sql.identity.ledgerWrite(this.table, mode);
    for (const r of rows) {
      await db.execute(sql, [
        entity,
        r.key,
        r.identifier,
        r.state,
        r.scheme,
        nowMs,
        r.state === 'migrated' ? nowMs : null,
      ]);
    }
  }

  /**
   * The ledger states of a set of keys.
   * @returns canonical key → state (keys without a row are absent)
   */
  async statesOf(entity: string, keys: string[], db: Executor = this.#store): Promise<Map<string, IdentityState>> {
    const out = new Map<string, IdentityState>();
    for (let i = 0; i < keys.length; i += 500) {
      const chunk = keys.slice(i, i + 500);
      const rows = await db.query<{ entity_key: unknown; state: string }>(
        `SELECT entity_key, state FROM ${this.table} WHERE entity = ${this.#p(1)} AND entity_key IN (${chunk.map((_, j) => this.#p(j + 2)).join(', ')})`,
        [entity, ...chunk],
      );
      for (const r of rows)
        out.set(
          Buffer.isBuffer(r.entity_key) ? r.entity_key.toString('utf8') : String(r.entity_key),
          r.state as IdentityState,
        );
    }
    return out;
  }

  /** Row counts per state. */
  async countByState(entity: string): Promise<Record<IdentityState, number>> {
    const rows = await this.#store.query<{ state: string; n: unknown }>(
      `SELECT state, count(*) AS n FROM ${this.table} WHERE entity = ${this.#p(1)} GROUP BY state`,
      [entity],
    );
    const out: Record<IdentityState, number> = { migrated: 0, wrapped: 0, reset_required: 0 };
    for (const r of rows) if (r.state in out) out[r.state as IdentityState] = Number(r.n);
    return out;
  }

  /** Users migrated through the bridge per UTC day (`YYYY-MM-DD`), oldest first. */
  async migratedPerDay(entity: string): Promise<{ day: string; count: number }[]> {
    const div = this.#store.sql.intDiv('migrated_ms', '86400000');
    const rows = await this.#store.query<{ d: unknown; n: unknown }>(
      `SELECT ${div} AS d, count(*) AS n FROM ${this.table} WHERE entity = ${this.#p(1)} AND state = 'migrated' AND migrated_ms IS NOT NULL GROUP BY ${div} ORDER BY ${div}`,
      [entity],
    );
    return rows.map((r) => ({
      day: new Date(Number(r.d) * 86_400_000).toISOString().slice(0, 10),
      count: Number(r.n),
    }));
  }
}

/** Settings of the per-identifier failure counter. */
export interface FailurePolicy {
  /** Failures allowed without any delay. Default 5. */
  freeAttempts?: number;
  /** Delay after the first failure past the free ones; doubles with each further failure. Default 1000 ms. */
  baseDelayMs?: number;
  /** Longest delay. Default 15 minutes. */
  maxDelayMs?: number;
  /** A counter whose last failure is older than this starts again from zero. Default 24 hours. */
  resetAfterMs?: number;
}

/** What {@link FailureCounter.check} found. */
export interface FailureGate {
  /** Failures counted (0 when none or expired). */
  failures: number;
  /** Milliseconds until the next attempt is allowed; 0 when allowed now. */
  retryAfterMs: number;
}

/**
 * Login failures per identifier fingerprint, with exponential delay: after `freeAttempts` failures, the next attempt
 * is allowed `baseDelayMs · 2^(failures − freeAttempts)` ms (at most `maxDelayMs`) after the last failure. Counting
 * is by identifier whether or not a user has it, so the delay says nothing about existence.
 *
 * The check is a read and the increment happens on failure, so a burst of parallel attempts that all read the counter
 * before any of them failed passes the gate together: at most one wave of concurrent requests per delay step.
 */
export class FailureCounter {
  readonly table: string;
  readonly policy: Required<FailurePolicy>;
  readonly #store: Store;

  /** @param store the new store (control tables must exist) */
  constructor(store: Store, policy: FailurePolicy = {}) {
    this.#store = store;
    this.table = store.controlTable('identity_failures');
    this.policy = {
      freeAttempts: 5,
      baseDelayMs: 1000,
      maxDelayMs: 15 * 60_000,
      resetAfterMs: 24 * 3_600_000,
      ...policy,
    };
  }

  /** The delay after `failures` failures (0 while within the free attempts). */
  delayFor(failures: number): number {
    const { freeAttempts, baseDelayMs, maxDelayMs } = this.policy;
    if (failures < freeAttempts) return 0;
    return Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(failures - freeAttempts, 40));
  }

  /** Turns a counter row into a gate. */
  gate(failures: number, lastMs: number, nowMs = Date.now()): FailureGate {
    if (!failures || nowMs - lastMs > this.policy.resetAfterMs) return { failures: 0, retryAfterMs: 0 };
    return { failures, retryAfterMs: Math.max(0, Math.ceil(lastMs + this.delayFor(failures) - nowMs)) };
  }

  /** Reads the counter of a fingerprint. */
  async check(id: string, nowMs = Date.now()): Promise<FailureGate> {
    const r = await this.#store.query<{ failures: unknown; last_failure_ms: unknown }>(
      `SELECT failures, last_failure_ms FROM ${this.table} WHERE id = ${this.#store.sql.param(1)}`,
      [id],
    );
    return r[0]
      ? this.gate(Number(r[0].failures), Number(r[0].last_failure_ms), nowMs)
      : { failures: 0, retryAfterMs: 0 };
  }

  /** Counts one failure (an expired counter starts again at 1). */
  async record(id: string, nowMs = Date.now()): Promise<void> {
    const stale = nowMs - this.policy.resetAfterMs;
    const sql = this.#store.sql.identity.failureCount(this.table);
    await this.#write(sql, [id, nowMs, stale]);
  }

  /** Forgets the failures of a fingerprint (after a successful login). */
  async clear(id: string): Promise<void> {
    await this.#write(`DELETE FROM ${this.table} WHERE id = ${this.#store.sql.param(1)}`, [id]);
  }

  /**
   * Counter writes are on the login path and need no durability (a crash forgets the last few failures, it
   * never locks anyone out): where the store can (`sql.asyncCommit`: PostgreSQL) they commit without waiting for
   * the WAL flush, so a login does not pay an fsync.
   */
  async #write(sql: string, params: unknown[]): Promise<void> {
    const asyncCommit = this.#store.sql.asyncCommit;
    if (!asyncCommit) {
      await this.#store.execute(sql, params);
      return;
    }
    await this.#store.transaction(async (tx) => {
      await tx.execute(asyncCommit);
      await tx.execute(sql, params);
    });
  }

  /**
   * Deletes counters whose last failure is older than the reset period (they no longer delay anything).
   * @returns rows deleted
   */
  async prune(nowMs = Date.now()): Promise<number> {
    return this.#store.execute(`DELETE FROM ${this.table} WHERE last_failure_ms < ${this.#store.sql.param(1)}`, [
      nowMs - this.policy.resetAfterMs,
    ]);
  }
}
