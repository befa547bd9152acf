/**
 * The identity bridge: lazy password migration on the login path.
 *
 * ```ts
 * const bridge = await openIdentityBridge('tandem.config.ts');             // entity `users`
 * const r = await bridge.authenticate({ identifier: req.body.email, password: req.body.password });
 * if (r.ok) startSession(r.key);                                          // r.key: the user's key values
 * else if (r.reason === 'throttled') reply(429, { retryAfterMs: r.retryAfterMs });
 * else reply(401);                                                        // one answer for every failure
 * ```
 *
 * Flow of one attempt (every store read is by the normalised identifier, see ./normalize.ts):
 * 1. One query to the new store: the user row, the identifier's failure counter and whether the user is
 *    `reset_required` (control plane, same database). A counter in its delay answers `throttled` at once.
 * 2. User in the new store: verify against what it holds — a direct Argon2id hash, a wrapped legacy hash
 *    (./wrap.ts) or a legacy hash copied by the backfill. Success: upgrade to a fresh Argon2id hash when needed
 *    (compare-and-set on the old value), mark the user migrated, return.
 * 3. User not in the new store: read the legacy store (within the global legacy-query budget), verify the legacy
 *    hash. Success: hash the password with Argon2id and write the user to the new store through the guarded apply
 *    path (`applyRows`: the version ledger decides; a newer record in the new store is never overwritten) together
 *    with the ledger row `migrated`, in one transaction. Nothing is written before the password verified.
 * 4. Every failure — unknown user, wrong password against the new store, wrong password against the legacy
 *    store — does the same work, in the same order, and gives the same answer
 *    `{ ok: false, reason: 'invalid_credentials' }`: the new-store query, exactly one Argon2id verification at the
 *    current policy (a fixed dummy hash when there is no real one), the legacy-store query (its answer discarded
 *    when the new store had the user), one legacy verification (a dummy legacy hash when there is no real one), one
 *    failure-counter increment; and the answer is held until a fixed time floor after the attempt started. Errors
 *    (busy, store down) are held to the floor too. (A legacy user's successful first login pays the dummy Argon2id
 *    verification too: it comes before the legacy read, whose outcome it must not depend on.)
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { applyRows } from '../apply/apply.js';
import type { IdentityConfig, TandemConfig } from '../config/schema.js';
import { ensureControlSchema } from '../control/control.js';
import { TandemError, isTandemError } from '../core/errors.js';
import { sleep } from '../core/async.js';
import { createLogger } from '../core/logger.js';
import { openMigration } from '../runtime/migration.js';
import { keyString, type ResolvedEntity } from '../core/mapping.js';
import type { Row, Store } from '../stores/types.js';
import { Argon2idHasher, getDefaultLimiter, type Semaphore } from './argon2.js';
import { TokenBucket, type TokenBucketOptions } from './budget.js';
import { FailureCounter, IdentityLedger, type FailurePolicy } from './ledger.js';
import { MAX_IDENTIFIER_LENGTH, identifierFingerprint, lookupWhere, normalizeIdentifier } from './normalize.js';
import { identifyHash, verifyPassword } from './registry.js';
import { resolveIdentity, type ResolvedIdentity } from './resolve.js';
import type { Argon2Params, VerifyOptions, WorkFactorCaps } from './types.js';
import { isWrappedHash, pepperFromEnv, verifyWrappedHash } from './wrap.js';

/** What {@link IdentityBridge.authenticate} takes. */
export interface Credentials {
  /** What the user typed as login (e-mail, user name); normalised before any lookup. */
  identifier: string;
  /** The password as typed (never normalised: legacy systems hashed the bytes they received). */
  password: string;
}

/** A successful login. */
export interface AuthSuccess {
  ok: true;
  /** The user's entity key values (in the entity's key order), e.g. `[42]`. */
  key: unknown[];
  /** The normalised identifier. */
  identifier: string;
  /** Where the credentials were verified: the new store, or the legacy store (the user was migrated by this login). */
  source: 'new' | 'legacy';
  /** Whether the new store's hash was (re)written by this login (migration, unwrap, parameter drift). */
  upgraded: boolean;
}

/**
 * A failed login. `invalid_credentials` is the one answer for an unknown user and for a wrong password on either
 * side (same shape, same timing). `throttled`: the identifier's failure counter is in its delay (this says nothing
 * about whether a user has the identifier: counters exist for any identifier).
 */
export type AuthFailure =
  | { ok: false; reason: 'invalid_credentials' }
  | { ok: false; reason: 'throttled'; retryAfterMs: number };

/** Result of {@link IdentityBridge.authenticate}. */
export type AuthResult = AuthSuccess | AuthFailure;

/** Options of {@link createIdentityBridge}. */
export interface IdentityBridgeOptions {
  /** The legacy store; null once it is gone (the legacy path is then closed, every non-migrated user fails). */
  source: Store | null;
  /** The new store (the identity ledger and failure counters live in its control tables). */
  target: Store;
  /** The resolved entity holding the users. */
  entity: ResolvedEntity;
  /** Overrides the entity's `identity` config block. */
  identity?: IdentityConfig;
  /** Argon2id policy (OWASP by default) and the semaphore to run under (default: the process-wide one). */
  argon2?: Partial<Argon2Params> & { limiter?: Semaphore };
  /**
   * Every failure answers no earlier than this many ms after the attempt started. Default 250. It must exceed the
   * slowest failure path (Argon2id verify + the slowest legacy verify + store round trips); when an attempt
   * exceeds it, `floorExceeded` counts it and a warning is logged. 0 disables the floor (tests, benchmarks).
   */
  floorMs?: number;
  /** Global budget of legacy-store queries (per process). Default 100/s, burst 200, wait up to 250 ms. */
  legacyBudget?: TokenBucketOptions | TokenBucket;
  /** Failure counter policy (exponential delay). */
  failures?: FailurePolicy;
  /** Pepper of wrapped hashes (Argon2 secret); default `TANDEM_IDENTITY_PEPPER`; null for none. */
  pepper?: Uint8Array | string | null;
  /**
   * The legacy hash dummy-verified when there is no real one; default: sampled from the legacy table's commonest
   * scheme.
   */
  dummyLegacyHash?: string;
  /** Caps on work factors read from stored hashes, and the longest password hashed. */
  verify?: { caps?: Partial<WorkFactorCaps>; maxPasswordBytes?: number };
  /** Logger (pino); default `createLogger()`. Passwords, hashes and identifiers are never logged. */
  logger?: Logger;
  /** Create/upgrade the control-plane tables in the target first (default true). */
  ensureSchema?: boolean;
}

/** Counters of one bridge since it was created. */
export interface BridgeStats {
  attempts: number;
  succeeded: number;
  migrated: number;
  upgraded: number;
  failed: number;
  throttled: number;
  errors: number;
  /** Failures (or errors) whose work took longer than the floor: their timing was not masked. */
  floorExceeded: number;
  /** Longest failure-path work seen, ms (before the floor wait). */
  maxFailureWorkMs: number;
}

interface Hit {
  row: Row;
}

interface Lookup {
  match: Hit | null;
  /** Several rows normalise to the identifier: treated as a failure. */
  ambiguous: boolean;
}

interface Work {
  argon: boolean;
  legacy: boolean;
}

interface NewVerify {
  ok: boolean;
  /** `argon2`: a direct Argon2id hash; `wrapped`; `legacy`: any other scheme (a copied legacy hash). */
  kind: 'argon2' | 'wrapped' | 'legacy' | 'none';
  scheme: string | null;
  upgrade: boolean;
}

const FAILURE: Readonly<AuthFailure> = Object.freeze({
  ok: false,
  reason: 'invalid_credentials',
}) as Readonly<AuthFailure>;

function text(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return null;
}

/**
 * The identity bridge of one entity. Create it with {@link createIdentityBridge} or {@link openIdentityBridge}.
 * Safe for concurrent use; one per process is enough.
 */
export class IdentityBridge {
  readonly resolved: ResolvedIdentity;
  readonly floorMs: number;
  readonly #source: Store | null;
  readonly #target: Store;
  readonly #hasher: Argon2idHasher;
  readonly #pepper: Uint8Array | null;
  readonly #ledger: IdentityLedger;
  readonly #failures: FailureCounter;
  readonly #budget: TokenBucket;
  readonly #log: Logger;
  readonly #verifyOptions: VerifyOptions;
  readonly #dummyPhc: string;
  readonly #dummyLegacy: string;
  readonly #onClose: () => Promise<void>;
  readonly #stats: BridgeStats = {
    attempts: 0,
    succeeded: 0,
    migrated: 0,
    upgraded: 0,
    failed: 0,
    throttled: 0,
    errors: 0,
    floorExceeded: 0,
    maxFailureWorkMs: 0,
  };

  /** @internal use {@link createIdentityBridge} */
  constructor(init: {
    resolved: ResolvedIdentity;
    source: Store | null;
    target: Store;
    hasher: Argon2idHasher;
    pepper: Uint8Array | null;
    budget: TokenBucket;
    failures: FailurePolicy;
    floorMs: number;
    log: Logger;
    verifyOptions: VerifyOptions;
    dummyPhc: string;
    dummyLegacy: string;
    onClose: () => Promise<void>;
  }) {
    this.resolved = init.resolved;
    this.#source = init.source;
    this.#target = init.target;
    this.#hasher = init.hasher;
    this.#pepper = init.pepper;
    this.#ledger = new IdentityLedger(init.target);
    this.#failures = new FailureCounter(init.target, init.failures);
    this.#budget = init.budget;
    this.floorMs = init.floorMs;
    this.#log = init.log;
    this.#verifyOptions = init.verifyOptions;
    this.#dummyPhc = init.dummyPhc;
    this.#dummyLegacy = init.dummyLegacy;
    this.#onClose = init.onClose;
  }

  /** The Argon2id policy new hashes are made with. */
  get argon2Params(): Readonly<Argon2Params> {
    return this.#hasher.params;
  }

  /** A copy of the bridge's counters. */
  stats(): BridgeStats {
    return { ...this.#stats };
  }

  /** The failure counter (for operators: pruning, policy). */
  get failureCounter(): FailureCounter {
    return this.#failures;
  }

  /**
   * Authenticates a user against the new store, falling back to the legacy store (see the module comment).
   * @param credentials identifier and password as the user typed them
   * @returns `{ ok: true, key, identifier, source, upgraded }`, `{ ok: false, reason: 'invalid_credentials' }` (unknown
   *   user or wrong password, indistinguishable) or `{ ok: false, reason: 'throttled', retryAfterMs }`
   * @throws TANDEM_ERR_IDENTITY_BUSY when the Argon2 semaphore is full or the legacy query budget is spent (the
   *   caller should answer 503 / retry later); store errors (`TANDEM_ERR_STORE_*`). Errors are also held to the floor.
   * @throws TypeError when `password` is not a string
   */
  async authenticate(credentials: Credentials): Promise<AuthResult> {
    const t0 = performance.now();
    const password = credentials?.password;
    if (typeof password !== 'string') throw new TypeError('password must be a string');
    this.#stats.attempts++;
    const entity = this.resolved.entity.name;
    const norm = normalizeIdentifier(credentials.identifier);
    const fp = identifierFingerprint(entity, norm, this.#pepper);
    const valid = norm !== '' && norm.length <= MAX_IDENTIFIER_LENGTH;
    const work: Work = { argon: false, legacy: false };
    let path: 'new' | 'legacy' | 'none' = 'none';
    try {
      const { ctx, fromNew } = await this.#newStoreAndContext(fp, norm, valid);
      if (ctx.retryAfterMs > 0) {
        this.#stats.throttled++;
        this.#log.debug(
          { event: 'identity.login', outcome: 'throttled', who: fp.slice(0, 12), retryAfterMs: ctx.retryAfterMs },
          'login throttled',
        );
        return { ok: false, reason: 'throttled', retryAfterMs: ctx.retryAfterMs };
      }
      if (fromNew.match || fromNew.ambiguous) {
        path = 'new';
        if (fromNew.match) {
          const r = await this.#verifyNew(fromNew.match.row, password, work);
          if (r.ok && (!ctx.reset || r.kind === 'argon2'))
            return await this.#succeedNew(fromNew.match.row, norm, password, r, ctx, fp, t0);
        }
        // both stores are read on every failure path: the legacy answer is discarded here
        await this.#lookupLegacy(norm);
      } else if (valid) {
        // the same sequence as a failure against the new store: Argon2id verify, legacy read, legacy verify
        await this.#hasher.verify(this.#dummyPhc, password).catch((e) => this.#rethrowBusy(e));
        work.argon = true;
        const fromLegacy = await this.#lookupLegacy(norm);
        if (fromLegacy.match) {
          path = 'legacy';
          if (!ctx.reset) {
            const v = await this.#verifyLegacy(fromLegacy.match.row, password, work);
            if (v.ok) {
              const done = await this.#migrate(fromLegacy.match.row, norm, password, v.scheme, ctx, fp, t0);
              if (done) return done;
            }
          }
        }
      }
      await this.#fail(fp, password, work, t0, path);
      return { ...FAILURE };
    } catch (e) {
      this.#stats.errors++;
      this.#log.warn(
        {
          event: 'identity.error',
          code: isTandemError(e) ? e.code : 'TANDEM_ERR_INTERNAL',
          msg: isTandemError(e) ? e.message : String((e as Error)?.message ?? e),
        },
        'login failed with an error',
      );
      await this.#holdToFloor(t0, 'error');
      throw e;
    }
  }

  /** Closes the stores when the bridge opened them ({@link openIdentityBridge}); otherwise does nothing. */
  async close(): Promise<void> {
    await this.#onClose();
  }

  // --- the failure path -----------------------------------------------------------------------------------------

  async #fail(fp: string, password: string, work: Work, t0: number, path: string): Promise<void> {
    if (!work.argon) await this.#hasher.verify(this.#dummyPhc, password).catch((e) => this.#rethrowBusy(e));
    if (!work.legacy)
      await verifyPassword(password, this.#dummyLegacy, {
        ...this.#verifyOptions,
        argon2Limiter: this.#hasher.limiter,
      }).catch((e) => this.#rethrowBusy(e));
    await this.#failures.record(fp);
    this.#stats.failed++;
    this.#log.debug(
      { event: 'identity.login', outcome: 'invalid_credentials', path, who: fp.slice(0, 12) },
      'login failed',
    );
    await this.#holdToFloor(t0, 'failure');
  }

  #rethrowBusy(e: unknown): void {
    if (isTandemError(e, 'IDENTITY_BUSY')) throw e;
  }

  async #holdToFloor(t0: number, what: string): Promise<void> {
    const spent = performance.now() - t0;
    if (spent > this.#stats.maxFailureWorkMs) this.#stats.maxFailureWorkMs = spent;
    if (this.floorMs === 0) return;
    if (spent > this.floorMs) {
      this.#stats.floorExceeded++;
      this.#log.warn(
        { event: 'identity.floor_exceeded', what, workMs: Math.round(spent), floorMs: this.floorMs },
        'a failed login took longer than the time floor; raise floorMs',
      );
      return;
    }
    await sleep(this.floorMs - spent);
    // setTimeout may fire a little early: top up to the floor
    let left = this.floorMs - (performance.now() - t0);
    while (left > 0) {
      await sleep(Math.ceil(left));
      left = this.floorMs - (performance.now() - t0);
    }
  }

  // --- reads --------------------------------------------------------------------------------------------------

  /**
   * One round trip to the new store: the identifier's failure counter and reset-required flag (control plane), and
   * the candidate user rows (a one-row derived table LEFT JOINed to the lookup, so the counter comes back even when
   * no user matches).
   */
  async #newStoreAndContext(
    fp: string,
    norm: string,
    valid: boolean,
  ): Promise<{ ctx: { failures: number; retryAfterMs: number; reset: boolean }; fromNew: Lookup }> {
    const t = this.#target;
    const r = this.resolved.target;
    const p = (i: number) => t.sql.param(i);
    const q = (c: string) => t.sql.ident(c);
    const cols = [...new Set([...r.keyColumns, r.identifier, r.password])];
    const w = valid ? lookupWhere(t, r.identifier, r.mode, norm, 5) : { sql: '1 = 0', params: [] as string[] };
    const f = this.#failures.table;
    const rows = await t.query(
      `SELECT c.tandem_failures, c.tandem_last_ms, c.tandem_reset, ${cols.map((c) => `u.${q(c)}`).join(', ')}
       FROM (SELECT (SELECT failures FROM ${f} WHERE id = ${p(1)}) AS tandem_failures, (SELECT last_failure_ms FROM ${f} WHERE id = ${p(2)}) AS tandem_last_ms,
                    (SELECT count(*) FROM ${this.#ledger.table} WHERE entity = ${p(3)} AND identifier = ${p(4)} AND state = 'reset_required') AS tandem_reset) c
       LEFT JOIN (SELECT ${cols.map(q).join(', ')} FROM ${t.sql.table(r.table.table.name)} WHERE ${w.sql} LIMIT 5) u ON 1 = 1`,
      [fp, fp, this.resolved.entity.name, norm, ...w.params],
    );
    const first = rows[0] ?? {};
    const gate =
      first.tandem_failures === null || first.tandem_failures === undefined
        ? { failures: 0, retryAfterMs: 0 }
        : this.#failures.gate(Number(first.tandem_failures), Number(first.tandem_last_ms));
    const users = rows.filter((row) => r.keyColumns.every((k) => row[k] !== null && row[k] !== undefined));
    return {
      ctx: { ...gate, reset: Number(first.tandem_reset ?? 0) > 0 },
      fromNew: this.#candidates(users, r.identifier, r.table.table.name, norm),
    };
  }

  #candidates(rows: Row[], identifierColumn: string, table: string, norm: string): Lookup {
    const hits = rows.filter((r) => normalizeIdentifier(text(r[identifierColumn])) === norm);
    if (hits.length > 1) {
      this.#log.warn(
        { event: 'identity.ambiguous_identifier', table, rows: hits.length },
        'several users share one normalised identifier; none can log in until it is fixed',
      );
      return { match: null, ambiguous: true };
    }
    return { match: hits[0] ? { row: hits[0] } : null, ambiguous: false };
  }

  async #find(
    store: Store,
    table: string,
    columns: string[],
    identifierColumn: string,
    mode: ResolvedIdentity['source']['mode'],
    norm: string,
  ): Promise<Lookup> {
    const w = lookupWhere(store, identifierColumn, mode, norm);
    const rows = await store.query(
      `SELECT ${columns.map((c) => store.sql.ident(c)).join(', ')} FROM ${store.sql.table(table)} WHERE ${w.sql} LIMIT 5`,
      w.params,
    );
    return this.#candidates(rows, identifierColumn, table, norm);
  }

  #lookupNew(norm: string): Promise<Lookup> {
    const t = this.resolved.target;
    const cols = [...new Set([...t.keyColumns, t.identifier, t.password])];
    return this.#find(this.#target, t.table.table.name, cols, t.identifier, t.mode, norm);
  }

  async #lookupLegacy(norm: string): Promise<Lookup> {
    if (!this.#source) return { match: null, ambiguous: false };
    await this.#budget.take();
    const s = this.resolved.source;
    return this.#find(this.#source, s.table, s.columns, s.identifier, s.mode, norm);
  }

  // --- verification ------------------------------------------------------------------------------------------

  #hashProblem(side: 'new' | 'legacy', e: unknown, key: unknown): void {
    if (isTandemError(e, 'IDENTITY_BUSY')) throw e;
    const code = isTandemError(e) ? e.code : 'TANDEM_ERR_INTERNAL';
    const scheme = isTandemError(e) ? (e.detail.scheme as string | undefined) : undefined;
    this.#log.warn(
      { event: 'identity.hash_invalid', side, entity: this.resolved.entity.name, key: String(key), code, scheme },
      'a stored password hash cannot be verified',
    );
  }

  #keyOf(row: Row, columns: string[]): unknown[] {
    return columns.map((c) => row[c]);
  }

  async #verifyNew(row: Row, password: string, work: Work): Promise<NewVerify> {
    const t = this.resolved.target;
    const stored = text(row[t.password]);
    if (!stored) return { ok: false, kind: 'none', scheme: null, upgrade: false };
    try {
      if (isWrappedHash(stored)) {
        const r = await verifyWrappedHash(password, stored, {
          pepper: this.#pepper,
          limiter: this.#hasher.limiter,
          options: this.#verifyOptions,
        });
        work.argon = true;
        return { ok: r.ok, kind: 'wrapped', scheme: r.scheme, upgrade: true };
      }
      const r = await verifyPassword(password, stored, {
        ...this.#verifyOptions,
        argon2: this.#hasher.params,
        argon2Limiter: this.#hasher.limiter,
      });
      if (r.scheme.includes('argon2')) work.argon = true;
      else work.legacy = true;
      return {
        ok: r.ok,
        kind: r.scheme === 'argon2id' ? 'argon2' : 'legacy',
        scheme: r.scheme,
        upgrade: r.needsRehash,
      };
    } catch (e) {
      this.#hashProblem('new', e, JSON.stringify(this.#keyOf(row, t.keyColumns)));
      return { ok: false, kind: 'none', scheme: null, upgrade: false };
    }
  }

  async #verifyLegacy(row: Row, password: string, work: Work): Promise<{ ok: boolean; scheme: string }> {
    const stored = text(row[this.resolved.source.password]);
    if (!stored) return { ok: false, scheme: 'none' };
    try {
      const r = await verifyPassword(password, stored, { ...this.#verifyOptions, argon2Limiter: this.#hasher.limiter });
      if (r.scheme.includes('argon2')) work.argon = true;
      else work.legacy = true;
      return { ok: r.ok, scheme: r.scheme };
    } catch (e) {
      this.#hashProblem('legacy', e, JSON.stringify(this.#keyOf(row, this.resolved.entity.key)));
      return { ok: false, scheme: 'none' };
    }
  }

  // --- success paths -----------------------------------------------------------------------------------------

  #keyWhere(first: number): string {
    return this.resolved.target.keyColumns
      .map((c, i) => `${this.#target.sql.ident(c)} = ${this.#target.sql.param(first + i)}`)
      .join(' AND ');
  }

  async #succeedNew(
    row: Row,
    norm: string,
    password: string,
    r: NewVerify,
    ctx: { failures: number; reset: boolean },
    fp: string,
    t0: number,
  ): Promise<AuthSuccess> {
    const t = this.resolved.target;
    const keyValues = this.#keyOf(row, t.keyColumns);
    const key = keyString(keyValues, this.resolved.entity.keyColumns);
    const entity = this.resolved.entity.name;
    let upgraded = false;
    const migrates = r.kind !== 'argon2' || ctx.reset;
    if (r.upgrade) {
      try {
        const fresh = await this.#hasher.hash(password);
        upgraded = await this.#target.transaction(async (tx) => {
          const n = await tx.execute(
            `UPDATE ${this.#target.sql.table(t.table.table.name)} SET ${this.#target.sql.ident(t.password)} = ${this.#target.sql.param(1)} WHERE ${this.#keyWhere(2)} AND ${this.#target.sql.ident(t.password)} = ${this.#target.sql.param(2 + keyValues.length)}`,
            [fresh, ...keyValues, text(row[t.password])],
          );
          if (n > 0 && migrates)
            await this.#ledger.write(
              tx,
              entity,
              [{ key, identifier: norm, state: 'migrated', scheme: r.kind === 'argon2' ? null : r.scheme }],
              'overwrite',
            );
          return n > 0;
        });
      } catch (e) {
        if (isTandemError(e, 'IDENTITY_BUSY'))
          this.#log.info(
            { event: 'identity.upgrade_deferred', entity, key },
            'hash upgrade deferred: the Argon2 semaphore is full',
          );
        else
          this.#log.warn(
            { event: 'identity.upgrade_failed', entity, key, code: isTandemError(e) ? e.code : 'TANDEM_ERR_INTERNAL' },
            'could not upgrade a password hash; the next login retries',
          );
      }
    } else if (ctx.reset) {
      // an Argon2id hash written by the application's reset flow: the reset is complete
      await this.#ledger.write(
        this.#target,
        entity,
        [{ key, identifier: norm, state: 'migrated', scheme: null }],
        'overwrite',
      );
    }
    if (ctx.failures > 0) await this.#failures.clear(fp);
    this.#stats.succeeded++;
    if (upgraded) this.#stats.upgraded++;
    this.#log.debug(
      {
        event: 'identity.login',
        outcome: 'ok',
        path: 'new',
        entity,
        key,
        upgraded,
        ms: Math.round(performance.now() - t0),
      },
      'login',
    );
    return { ok: true, key: keyValues, identifier: norm, source: 'new', upgraded };
  }

  async #migrate(
    row: Row,
    norm: string,
    password: string,
    scheme: string,
    ctx: { failures: number; reset: boolean },
    fp: string,
    t0: number,
  ): Promise<AuthSuccess | null> {
    const e = this.resolved.entity;
    const t = this.resolved.target;
    const fresh = await this.#hasher.hash(password);
    const keyValues = e.key.map((k) => row[k]);
    const key = keyString(keyValues, e.keyColumns);
    const written = await this.#target.transaction(async (tx) => {
      const applied = await applyRows(
        this.#target,
        tx,
        e,
        [{ ...row, [this.resolved.source.password]: fresh }],
        this.#source ? { source: this.#source } : {},
      );
      if (applied.applied !== 1) return false;
      if (!t.passwordByRename) {
        // the mapping does not copy the hash column as it is: set the fresh hash explicitly
        await tx.execute(
          `UPDATE ${this.#target.sql.table(t.table.table.name)} SET ${this.#target.sql.ident(t.password)} = ${this.#target.sql.param(1)} WHERE ${this.#keyWhere(2)}`,
          [fresh, ...keyValues],
        );
      }
      await this.#ledger.write(tx, e.name, [{ key, identifier: norm, state: 'migrated', scheme }], 'overwrite');
      return true;
    });
    if (!written) {
      // the new store got this user at the same or a newer version between the two reads (a backfill or relay):
      // it is never overwritten; authenticate against what it now holds
      this.#log.info(
        { event: 'identity.migrate_raced', entity: e.name, key },
        'the new store already holds this user; verifying against it',
      );
      const again = await this.#lookupNew(norm);
      if (!again.match) return null;
      const r = await this.#verifyNew(again.match.row, password, { argon: false, legacy: false });
      if (!r.ok || (ctx.reset && r.kind !== 'argon2')) return null;
      return this.#succeedNew(again.match.row, norm, password, r, ctx, fp, t0);
    }
    if (ctx.failures > 0) await this.#failures.clear(fp);
    this.#stats.succeeded++;
    this.#stats.migrated++;
    this.#stats.upgraded++;
    this.#log.info(
      { event: 'identity.migrated', entity: e.name, key, scheme, ms: Math.round(performance.now() - t0) },
      'user migrated to the new store on login',
    );
    return { ok: true, key: keyValues, identifier: norm, source: 'legacy', upgraded: true };
  }
}

/**
 * Picks the legacy hash that failure paths dummy-verify: among up to 200 legacy hashes, one of the commonest scheme
 * that verifies without error. Falls back to a Django salted SHA-1 of a random password.
 */
async function pickDummyLegacyHash(source: Store | null, resolved: ResolvedIdentity): Promise<string> {
  const fallback = `sha1$${randomBytes(6).toString('hex')}$${randomBytes(20).toString('hex')}`;
  if (!source) return fallback;
  const s = resolved.source;
  const rows = await source.query(
    `SELECT ${source.sql.ident(s.password)} AS h FROM ${source.sql.table(s.table)} LIMIT 200`,
  );
  const byScheme = new Map<string, string[]>();
  for (const r of rows) {
    const h = text(r.h);
    if (!h) continue;
    const scheme = identifyHash(h, resolved.verifyOptions);
    if (!scheme) continue;
    byScheme.set(scheme, [...(byScheme.get(scheme) ?? []), h]);
  }
  const ranked = [...byScheme.entries()].sort((a, b) => b[1].length - a[1].length);
  const probe = randomBytes(12).toString('base64');
  for (const [, hashes] of ranked) {
    for (const h of hashes.slice(0, 5)) {
      try {
        await verifyPassword(probe, h, resolved.verifyOptions);
        return h;
      } catch {
        /* malformed or capped: try another */
      }
    }
  }
  return fallback;
}

/**
 * Creates the identity bridge of one entity over open stores: resolves the entity's `identity` block, creates the
 * control-plane tables when needed, makes the dummy Argon2id hash (current policy) and picks the dummy legacy hash.
 * @param options stores, entity and tuning (see {@link IdentityBridgeOptions})
 * @returns the bridge; `close()` leaves the stores open (they belong to the caller)
 * @throws TANDEM_ERR_CONFIG_INVALID / TANDEM_ERR_COLUMN_NOT_FOUND for a bad identity block; store errors
 */
export function createIdentityBridge(options: IdentityBridgeOptions): Promise<IdentityBridge> {
  return buildBridge(options, async () => {});
}

async function buildBridge(options: IdentityBridgeOptions, onClose: () => Promise<void>): Promise<IdentityBridge> {
  const { source, target, entity } = options;
  if (options.ensureSchema !== false) await ensureControlSchema(target);
  const resolved = await resolveIdentity(entity, source, target, options.identity);
  const { limiter, ...policy } = options.argon2 ?? {};
  const hasher = new Argon2idHasher({ ...policy, limiter: limiter ?? getDefaultLimiter() });
  const pepperOpt = options.pepper === undefined ? pepperFromEnv() : options.pepper;
  const pepper = pepperOpt === null ? null : typeof pepperOpt === 'string' ? Buffer.from(pepperOpt, 'utf8') : pepperOpt;
  const floorMs = options.floorMs ?? 250;
  if (!(floorMs >= 0) || !Number.isFinite(floorMs))
    throw new TandemError('CONFIG_INVALID', 'identity bridge: floorMs must be a number ≥ 0', { parameter: 'floorMs' });
  const budget =
    options.legacyBudget instanceof TokenBucket
      ? options.legacyBudget
      : new TokenBucket(options.legacyBudget ?? { perSecond: 100, burst: 200, maxWaitMs: 250 });
  const verifyOptions: VerifyOptions = {
    ...resolved.verifyOptions,
    ...(options.verify?.caps ? { caps: options.verify.caps } : {}),
    ...(options.verify?.maxPasswordBytes ? { maxPasswordBytes: options.verify.maxPasswordBytes } : {}),
  };
  const dummyPhc = await hasher.hash(randomBytes(24));
  const dummyLegacy = options.dummyLegacyHash ?? (await pickDummyLegacyHash(source, resolved));
  return new IdentityBridge({
    resolved,
    source,
    target,
    hasher,
    pepper: pepper?.length ? pepper : null,
    budget,
    failures: options.failures ?? {},
    floorMs,
    log: options.logger ?? createLogger(),
    verifyOptions,
    dummyPhc,
    dummyLegacy,
    onClose,
  });
}

/**
 * Opens the identity bridge from a config file (or a loaded config): opens the source and target stores,
 * resolves the entity, and creates the bridge. `close()` closes both stores.
 * @param config path of `tandem.config.ts`, or a validated config
 * @param options `entity` (default `users`) and the tuning of {@link IdentityBridgeOptions}
 */
export async function openIdentityBridge(
  config: string | TandemConfig,
  options: Omit<IdentityBridgeOptions, 'source' | 'target' | 'entity'> & {
    /** The entity holding the users (default `users`). */
    entity?: string;
    /** false: do not use the legacy store (after its decommissioning). Default true. */
    legacy?: boolean;
  } = {},
): Promise<IdentityBridge> {
  const name = options.entity ?? 'users';
  // the bridge only ever reads the legacy store (it writes the new one): its connection refuses any legacy write
  const m = await openMigration(config, { entities: [name], legacyWrites: 'never', log: options.logger });
  try {
    const { entity: _name, legacy, ...rest } = options;
    return await buildBridge(
      { ...rest, source: legacy === false ? null : m.stores.legacy, target: m.stores.new, entity: m.entities[0]! },
      () => m.close(),
    );
  } catch (e) {
    await m.close();
    throw e;
  }
}
