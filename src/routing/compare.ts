import { readSourceRows } from '../apply/apply.js';
import { errorLine } from '../core/errors.js';
import { keyString, versionOf, type ResolvedEntity } from '../core/mapping.js';
import { pendingKeys } from '../outbox/outbox.js';
import type { Roles } from '../runtime/migration.js';
import type { Migration } from '../runtime/migration.js';
import type { Row, Store } from '../stores/types.js';
import { recordMismatches } from '../verify/mismatches.js';
import { compareKeysNow } from '../verify/rows.js';
import type { KeyDifference } from '../verify/verify.js';
import type { CompareOutcome, ReadObserver, ShadowComparator } from './types.js';

/**
 * Shadow comparison and lag (docs/shadow.md).
 *
 * A shadowed key is compared by one of two comparators:
 * - {@link createStoredRowComparator} (the default): re-reads the key's row from the primary and its rows from the
 *   secondary and compares mapping(primary row) with them in the canonical encoding — the very compare of
 *   `tandem verify` (`compareKeysNow`, `compareKey`: per column, sensitive columns redacted);
 * - {@link createResultComparator}: the application's own `compare(legacyResult, newResult)`.
 *
 * A difference is not yet a mismatch. When the key has a change **in flight** — a change of the key waiting in
 * the primary's outbox, or a secondary version-ledger entry below the primary row's version (absent, or not yet
 * a tombstone for a row gone from the primary) — it is `lagging`: the key is kept (at most `maxPending` keys) and
 * compared again every `recheckMs` until it matches (→ `matched`) or `lagWindowMs` passed (→ `mismatched`). A
 * difference with nothing in flight must be seen twice in a row (the second look at once, or at the next recheck)
 * before it is `mismatched`: a relay that applied the change between the two reads of one look makes it look
 * different once. A mismatch is recorded **confirmed** in the control plane's mismatches table with origin
 * `shadow` (src/verify/mismatches.ts), where `tandem repair` and continuous verification find it.
 *
 * Counting (what a {@link ReadObserver} sees): `compare()` resolves with the first outcome, which the caller (the
 * reader) reports; the comparator itself reports to `options.observer.comparison` only the **final** outcome of a
 * key that was `lagging`: `matched` or `mismatched` once per lagging answer it gave (`dropped` when `close()` ends
 * the wait first). So a lagging key counts `lagging` once and then `matched` or `mismatched` once; `lagging` is a
 * count of answers that had to wait, not a gauge, and the settled outcomes are counted where they belong.
 *
 * Roles come from `migration.roles(phase)` at each look: before write cutover the primary is legacy (legacy row
 * mapped, compared with the new rows); from `new_primary` on it is new and the entity is the reversed one (new
 * rows mapped back, compared with the legacy row), as the reverse relay sees it.
 *
 * Never throws, never logs row values (a failure is logged by event name and error line, at debug level).
 */

/** Options of {@link createStoredRowComparator} and {@link createResultComparator}. */
export interface ShadowCompareOptions {
  /** How long a lagging key may wait for the relay before its difference counts as a mismatch, ms. Default 10000. */
  lagWindowMs?: number;
  /** How often lagging keys are compared again, ms. Default 500. */
  recheckMs?: number;
  /** Most keys waiting for a recheck at once; a further lagging key is answered `dropped`. Default 1000. */
  maxPending?: number;
  /** Told the final outcome of every lagging answer (see the module comment); never the first outcome. */
  observer?: ReadObserver;
  /** Called once per lagging answer when it settles (after the observer). Exceptions are ignored. */
  onSettled?: (s: SettledComparison) => void;
  /** The clock (Unix ms), for tests. */
  now?: () => number;
}

/** The final outcome of a `lagging` answer. */
export interface SettledComparison {
  entity: string;
  /** The key as the caller passed it (the application's own value; never logged). */
  key: unknown[];
  outcome: Exclude<CompareOutcome, 'lagging'>;
  /** How long the key waited, ms. */
  waitedMs: number;
}

/** A comparator with the lag tracker's figures (for status and tests). */
export interface ShadowComparatorWithLag extends ShadowComparator {
  /** Keys waiting for a recheck now. */
  readonly pending: number;
  /** Recheck rounds run so far (each looks at every waiting key once). */
  readonly rechecks: number;
  close(): Promise<void>;
}

/** The application's reads, for {@link createResultComparator} to run again when it rechecks a lagging key. */
export interface ResultReads {
  legacy: (key: unknown[]) => unknown;
  new: (key: unknown[]) => unknown;
}

/** Options of {@link createResultComparator}. */
export interface ResultCompareOptions extends ShadowCompareOptions {
  /**
   * The application's read functions (those given to `migration.reads`). With them a lagging key is rechecked by
   * reading and comparing the results again (and a difference with nothing in flight is read a second time before
   * it counts). Without them a lagging key settles, once nothing is in flight, by the stored-row comparison.
   */
  reread?: ResultReads;
}

/** One look at a key: does it differ now, and is a change of it still in flight? */
type Look = { differs: false } | { differs: true; inFlight: boolean; difference: KeyDifference };

interface Pending {
  key: string;
  keyValues: unknown[];
  firstMs: number;
  deadlineMs: number;
  /** Lagging answers given for this key (each settles once). */
  waiters: number;
  /** Consecutive looks that found a difference with nothing in flight. */
  strikes: number;
}

/** Where one look runs: the roles of the phase and the entity as the primary sees it. */
export interface ComparisonScene {
  roles: Roles;
  e: ResolvedEntity;
}

const DEFAULTS = { lagWindowMs: 10_000, recheckMs: 500, maxPending: 1000 };

/** A difference recorded for a result comparison whose stored rows agree (the reads differ, not the data). */
export const RESULT_COLUMN = { table: '(result)', column: 'compare' } as const;

/**
 * The shared half of both comparators: the first look, the pending keys, the rechecks, the settling and the
 * recording of mismatches.
 */
class LagTracker implements ShadowComparatorWithLag {
  readonly #pending = new Map<string, Pending>();
  readonly #o: Required<Pick<ShadowCompareOptions, 'lagWindowMs' | 'recheckMs' | 'maxPending' | 'now'>> &
    ShadowCompareOptions;
  #timer: NodeJS.Timeout | null = null;
  #tick: Promise<void> | null = null;
  #closed = false;
  #rechecks = 0;

  constructor(
    readonly migration: Migration,
    readonly entity: string,
    o: ShadowCompareOptions,
    /**
     * Looks at keys. `results` carries the caller's results for the looks inside `compare()` (the first, and the
     * second at once when nothing was in flight: `again`); rechecks get none.
     */
    readonly look: (
      s: ComparisonScene,
      keys: { key: string; keyValues: unknown[] }[],
      results?: { legacy: unknown; new: unknown; again: boolean },
    ) => Promise<Map<string, Look>>,
  ) {
    this.#o = {
      ...o,
      lagWindowMs: Math.max(0, o.lagWindowMs ?? DEFAULTS.lagWindowMs),
      recheckMs: Math.max(10, o.recheckMs ?? DEFAULTS.recheckMs),
      maxPending: Math.max(0, Math.floor(o.maxPending ?? DEFAULTS.maxPending)),
      now: o.now ?? (() => Date.now()),
    };
  }

  get pending(): number {
    return this.#pending.size;
  }

  get rechecks(): number {
    return this.#rechecks;
  }

  async #scene(): Promise<ComparisonScene | null> {
    const roles = this.migration.roles(await this.migration.phase());
    const e = roles.entities.find((x) => x.name === this.entity);
    return e ? { roles, e } : null;
  }

  async compare(key: unknown[], legacyResult: unknown, newResult: unknown): Promise<CompareOutcome> {
    if (this.#closed) return 'dropped';
    try {
      const s = await this.#scene();
      if (!s || !Array.isArray(key) || key.length !== s.e.key.length) return 'dropped';
      const k = keyString(key, s.e.keyColumns);
      const waiting = this.#pending.get(k);
      if (waiting) {
        waiting.waiters++;
        return 'lagging';
      }
      const one = [{ key: k, keyValues: key }];
      let l = (await this.look(s, one, { legacy: legacyResult, new: newResult, again: false })).get(k);
      if (!l) return 'dropped';
      if (!l.differs) return 'matched';
      if (!l.inFlight) {
        // a second look: the first may have raced the relay applying this very change
        l = (await this.look(s, one, { legacy: legacyResult, new: newResult, again: true })).get(k);
        if (!l) return 'dropped';
        if (!l.differs) return 'matched';
        if (!l.inFlight) {
          await this.#record(s, [{ difference: l.difference, keyValues: key }]);
          return 'mismatched';
        }
      }
      if (this.#closed || this.#pending.size >= this.#o.maxPending) return 'dropped';
      const now = this.#o.now();
      this.#pending.set(k, {
        key: k,
        keyValues: key,
        firstMs: now,
        deadlineMs: now + this.#o.lagWindowMs,
        waiters: 1,
        strikes: 0,
      });
      this.#schedule();
      return 'lagging';
    } catch (e) {
      this.migration.log.debug(
        { event: 'shadow.compare_failed', entity: this.entity, err: errorLine(e) },
        'shadow comparison failed',
      );
      return 'dropped';
    }
  }

  #schedule(): void {
    if (this.#timer || this.#tick || this.#closed || !this.#pending.size) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#tick = this.#recheck().finally(() => {
        this.#tick = null;
        this.#schedule();
      });
    }, this.#o.recheckMs);
    this.#timer.unref();
  }

  /** Compares every pending key again and settles those that match, persist past the window, or are real. */
  async #recheck(): Promise<void> {
    const list = [...this.#pending.values()];
    if (!list.length) return;
    this.#rechecks++;
    let looks: Map<string, Look> | null = null;
    let s: ComparisonScene | null = null;
    try {
      s = await this.#scene();
      if (s)
        looks = await this.look(
          s,
          list.map((p) => ({ key: p.key, keyValues: p.keyValues })),
        );
    } catch (e) {
      this.migration.log.debug(
        { event: 'shadow.recheck_failed', entity: this.entity, err: errorLine(e) },
        'shadow recheck failed',
      );
    }
    const now = this.#o.now();
    const found: { p: Pending; difference: KeyDifference }[] = [];
    for (const p of list) {
      if (this.#closed) return;
      const l = looks?.get(p.key);
      if (!l) {
        // not compared this time (a store failed): wait on, or give up at the end of the window
        if (now >= p.deadlineMs) this.#settle(p, 'dropped', now);
        continue;
      }
      if (!l.differs) {
        this.#settle(p, 'matched', now);
        continue;
      }
      p.strikes = l.inFlight ? 0 : p.strikes + 1;
      if (now >= p.deadlineMs || p.strikes >= 2) found.push({ p, difference: l.difference });
    }
    if (!found.length || !s) return;
    await this.#record(
      s,
      found.map((f) => ({ difference: f.difference, keyValues: f.p.keyValues })),
    );
    // recorded: they settle mismatched even when close() came meanwhile
    for (const f of found) this.#settle(f.p, 'mismatched', now);
  }

  #settle(p: Pending, outcome: SettledComparison['outcome'], now: number): void {
    if (this.#pending.get(p.key) !== p) return;
    this.#pending.delete(p.key);
    for (let i = 0; i < p.waiters; i++) {
      try {
        this.#o.observer?.comparison(this.entity, outcome);
      } catch {
        /* an observer must not throw; if it does, the others are still told */
      }
      try {
        this.#o.onSettled?.({ entity: this.entity, key: p.keyValues, outcome, waitedMs: now - p.firstMs });
      } catch {
        /* ignored */
      }
    }
  }

  /** Records mismatches (confirmed, origin shadow). A failure is logged, never thrown: the outcome stands. */
  async #record(s: ComparisonScene, found: { difference: KeyDifference; keyValues: unknown[] }[]): Promise<void> {
    try {
      await recordMismatches(this.migration.stores.control, s.e.name, found, this.#o.now(), true, 'shadow');
    } catch (e) {
      this.migration.log.warn(
        { event: 'shadow.record_failed', entity: this.entity, err: errorLine(e) },
        'could not record a shadow mismatch',
      );
    }
  }

  /** Stops the rechecks; every key still waiting settles `dropped`. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    // closed first: a recheck in progress stops at its next key, and no new one is scheduled
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#tick?.catch(() => {});
    const now = this.#o.now();
    for (const p of [...this.#pending.values()]) this.#settle(p, 'dropped', now);
  }
}

/** A version-ledger entry of the secondary. */
interface LedgerEntry {
  version: bigint;
  deleted: boolean;
}

/** Version-ledger entries of `keys` (canonical key strings) of `entity` in `store`, 500 keys per statement. */
export async function ledgerEntries(store: Store, entity: string, keys: string[]): Promise<Map<string, LedgerEntry>> {
  const out = new Map<string, LedgerEntry>();
  const t = store.controlTable('version_ledger');
  const unique = [...new Set(keys)];
  for (let i = 0; i < unique.length; i += 500) {
    const chunk = unique.slice(i, i + 500);
    const rows = await store.query<Row>(
      `SELECT entity_key, version, deleted FROM ${t} WHERE entity = ${store.sql.param(1)} ` +
        `AND entity_key IN (${chunk.map((_, j) => store.sql.param(j + 2)).join(', ')})`,
      [entity, ...chunk],
    );
    for (const r of rows) {
      const k = Buffer.isBuffer(r.entity_key) ? r.entity_key.toString('utf8') : String(r.entity_key);
      out.set(k, { version: BigInt(String(r.version)), deleted: r.deleted === true || Number(r.deleted) === 1 });
    }
  }
  return out;
}

/**
 * The keys among `keys` with a change still in flight from the primary of `s` to its secondary: a change waiting
 * in the primary's outbox, or a secondary ledger entry behind the primary — for a row on the primary, no entry or
 * a version below the row's (entities with a version column); for a key gone from the primary, an entry that is
 * not a tombstone yet. Throws what the stores throw.
 */
export async function keysInFlight(
  s: ComparisonScene,
  keys: { key: string; keyValues: unknown[] }[],
): Promise<Set<string>> {
  const { primary, secondary } = s.roles;
  // a primary without an outbox (its changes captured another way, or a store prepared for reads only) has no
  // entry waiting; the ledger check below still tells a change in flight
  const out = await pendingKeys(
    primary,
    s.e.name,
    keys.map((k) => k.key),
  ).catch(async (e) => {
    if (await hasOutbox(primary)) throw e;
    return new Set<string>();
  });
  const rest = keys.filter((k) => !out.has(k.key));
  if (!rest.length) return out;
  const rows = await readSourceRows(
    primary,
    s.e,
    rest.map((k) => k.keyValues),
  );
  const versions = new Map(
    rows.map((r) => [
      keyString(
        s.e.key.map((c) => r[c]),
        s.e.keyColumns,
      ),
      versionOf(r, s.e.version),
    ]),
  );
  const ledger = await ledgerEntries(
    secondary,
    s.e.name,
    rest.map((k) => k.key),
  );
  for (const k of rest) {
    const l = ledger.get(k.key);
    const v = versions.get(k.key);
    if (v === undefined) {
      if (l && !l.deleted) out.add(k.key);
    } else if (s.e.version && (!l || (!l.deleted && l.version < v))) out.add(k.key);
  }
  return out;
}

/** The stored-row look: compareKeysNow, then the in-flight check of the differing keys. */
async function storedLook(
  s: ComparisonScene,
  keys: { key: string; keyValues: unknown[] }[],
): Promise<Map<string, Look>> {
  const res = await compareKeysNow(s.roles.primary, s.roles.secondary, s.e, keys);
  const differing = keys.filter((k) => res.get(k.key));
  const flying = differing.length ? await keysInFlight(s, differing) : new Set<string>();
  const out = new Map<string, Look>();
  for (const k of keys) {
    const d = res.get(k.key);
    out.set(k.key, d ? { differs: true, inFlight: flying.has(k.key), difference: d } : { differs: false });
  }
  return out;
}

/**
 * The default shadow comparator of `entity`: re-reads the key's stored rows on both sides and compares them as
 * `tandem verify` does (see the module comment for lag, rechecks, recording and counting). `legacyResult` and
 * `newResult` are ignored. The answer of `compare()` never throws: `dropped` when the key could not be compared
 * (unknown entity, a key of the wrong arity, a store failing, closed, or `maxPending` keys already waiting).
 *
 * ```ts
 * const cmp = createStoredRowComparator(migration, 'users', { lagWindowMs: 10_000, observer });
 * const outcome = await cmp.compare([42], legacyUser, newUser);   // 'matched' | 'mismatched' | 'lagging' | 'dropped'
 * await cmp.close();
 * ```
 */
export function createStoredRowComparator(
  migration: Migration,
  entity: string,
  options: ShadowCompareOptions = {},
): ShadowComparatorWithLag {
  return new LagTracker(migration, entity, options, (s, keys) => storedLook(s, keys));
}

/**
 * A shadow comparator of `entity` that compares the application's own results with `compare(legacyResult,
 * newResult)` (true: equal), to catch a difference in the new read code as well as in the data. A `false` is
 * subject to the same lag check as the stored-row comparison: with a change of the key in flight it is `lagging`,
 * and rechecks — with `options.reread`, the application's reads run and compared again; without, the stored rows
 * once nothing is in flight — settle it `matched` or `mismatched`. A mismatch is recorded (origin `shadow`) with
 * the stored rows' difference when they differ, else as column `(result).compare` (the data agree, the reads do
 * not: `tandem repair` cannot fix that, and continuous verification resolves it). A `compare` that throws is
 * `dropped`. Never throws.
 */
export function createResultComparator(
  compare: (legacyResult: unknown, newResult: unknown, keyValues: unknown[]) => boolean | Promise<boolean>,
  migration: Migration,
  entity: string,
  options: ResultCompareOptions = {},
): ShadowComparatorWithLag {
  const same = async (a: unknown, b: unknown, kv: unknown[]) => (await compare(a, b, kv)) === true;
  const { reread } = options;
  return new LagTracker(migration, entity, options, async (s, keys, results) => {
    const out = new Map<string, Look>();
    const differing: { key: string; keyValues: unknown[] }[] = [];
    // the caller's results for the first look, and for the second without the reads; the reads again otherwise
    const given = results && !(results.again && reread) ? results : null;
    for (const k of keys) {
      let equal: boolean;
      if (given) equal = await same(given.legacy, given.new, k.keyValues);
      else if (reread) equal = await same(await reread.legacy(k.keyValues), await reread.new(k.keyValues), k.keyValues);
      else equal = false;
      if (equal) out.set(k.key, { differs: false });
      else differing.push(k);
    }
    if (!differing.length) return out;
    const flying = await keysInFlight(s, differing);
    const settled = differing.filter((k) => !flying.has(k.key));
    const stored = settled.length
      ? await compareKeysNow(s.roles.primary, s.roles.secondary, s.e, settled)
      : new Map<string, KeyDifference | null>();
    for (const k of differing) {
      const d = stored.get(k.key) ?? {
        entity: s.e.name,
        key: k.key,
        kind: 'different' as const,
        columns: [{ ...RESULT_COLUMN, source: null, target: null }],
      };
      // without the reads, a key whose change has landed is judged by its stored rows
      if (!given && !reread && !flying.has(k.key) && !stored.get(k.key)) out.set(k.key, { differs: false });
      else out.set(k.key, { differs: true, inFlight: flying.has(k.key), difference: d });
    }
    return out;
  });
}

/** Whether `store` has the outbox table (a cheap probe; false when the probe itself fails). */
async function hasOutbox(store: Store): Promise<boolean> {
  try {
    await store.query(`SELECT 1 FROM ${store.controlTable('outbox')} WHERE 1 = 0`);
    return true;
  } catch {
    return false;
  }
}
