import type { TandemConfig } from '../config/schema.js';
import { TandemError, isTandemError } from '../core/errors.js';
import type { Executor, Store } from '../stores/types.js';
import type {
  DdlStatement,
  PrepareSql,
  TableState,
  TriggerState,
  VersionDdl,
  VersionObjectNames,
} from '../stores/prepare.js';
import { inspectTable, sameColumn, sameTable } from './inspect.js';
import { prepareSqlOf, VERSION_COLUMN_DEFAULT, versionObjectNames } from './sql.js';

/**
 * `tandem prepare`: gives a legacy (source) table without a version column an integer counter that grows on every
 * change — a `BIGINT NOT NULL DEFAULT 1` column and trigger(s) that set it to OLD + 1 on every UPDATE — and takes
 * it away again (`undo`). Idempotent: the state is read from the catalog first, and only what is missing is
 * created (or, for undo, only what Tandem created is dropped). The catalog read and the DDL run under a lock
 * (PostgreSQL advisory lock in the DDL's own transaction, MySQL `GET_LOCK`, SQLite `BEGIN IMMEDIATE`), with a
 * lock timeout so a long transaction on the table makes `prepare` fail instead of queueing every write behind it.
 */

/** Options of {@link prepareEntity}. */
export interface PrepareOptions {
  /** Name of the version column; default `tandem_version`. */
  column?: string;
  /** Drop the trigger(s) and the column instead of creating them. */
  undo?: boolean;
  /** Read the state and return the statements that would run, without running any (and without locking). */
  dryRun?: boolean;
  /** How long a DDL statement may wait for a lock on the table before failing; default 10 s. */
  lockTimeoutSeconds?: number;
  /** MySQL/MariaDB: accept a table copy that blocks writes when the server cannot add/drop the column online. */
  allowLocking?: boolean;
}

/** One entity to prepare: its name, its source table, and the version column its config names (if any). */
export interface PrepareRequest {
  entity: string;
  table: string;
  version: string | null;
}

/**
 * What happened to one entity: `prepared` (column and/or trigger(s) created), `already_prepared` (nothing to
 * do), `undone`, `nothing_to_undo`; with `dryRun`, `would_prepare` / `would_undo` instead of the first and third.
 */
export type PrepareStatus =
  | 'prepared'
  | 'already_prepared'
  | 'undone'
  | 'nothing_to_undo'
  | 'would_prepare'
  | 'would_undo';

/** The change the user has to make to the entity in the config file, if any. */
export type ConfigChange = { set: { version: string } } | { remove: 'version' };

/** Result of {@link prepareEntity} for one entity. */
export interface PrepareEntityResult {
  entity: string;
  table: string;
  column: string;
  status: PrepareStatus;
  /** Names of the trigger(s) that maintain the column (created, found, or dropped). */
  triggers: string[];
  /** The statements run (with `dryRun`: the ones that would run), in order. */
  statements: string[];
  /** Things the user should know (the online DDL algorithm used, other triggers on the table, …). */
  notes: string[];
  /** The config edit that remains to be made, or null when the config already says the right thing. */
  configChange: ConfigChange | null;
}

/** Default lock timeout of `prepare`'s DDL, in seconds. */
export const DEFAULT_LOCK_TIMEOUT_SECONDS = 10;

/**
 * The entities `prepare` works on. Without `only`: every entity of the config that names no version column, or
 * names `column` itself (so a second run, after the config was edited, reports them as already prepared, and
 * `--undo` finds them). With `only`: those entities; an unknown name is `TANDEM_ERR_CONFIG_INVALID`, and so is
 * (without `undo`) an entity whose config already names another version column.
 */
export function selectPrepareEntities(
  config: TandemConfig,
  only: string[] | undefined,
  column: string,
  undo: boolean,
): PrepareRequest[] {
  const names = Object.keys(config.entities);
  for (const n of only ?? [])
    if (!names.includes(n))
      throw new TandemError('CONFIG_INVALID', `unknown entity "${n}" (the config has ${names.join(', ')})`);
  const req = (n: string): PrepareRequest => ({
    entity: n,
    table: config.entities[n]!.table,
    version: config.entities[n]!.version ?? null,
  });
  if (only?.length) {
    return names
      .filter((n) => only.includes(n))
      .map((n) => {
        const r = req(n);
        if (!undo && r.version !== null && r.version !== column)
          throw new TandemError(
            'CONFIG_INVALID',
            `entity ${n} already has a version column ("${r.version}") in the config; tandem prepare adds one only where there is none (to prepare it anyway, remove version from the entity first)`,
            { entity: n },
          );
        return r;
      });
  }
  return names.map(req).filter((r) => r.version === null || r.version === column);
}

/**
 * Prepares (or, with `undo`, unprepares) the source table of one entity in `store`. Reads the table's state,
 * plans the statements that are missing, and runs them under a lock (unless `dryRun`). Throws
 * `TANDEM_ERR_TABLE_NOT_FOUND` for a missing table; `TANDEM_ERR_CONFIG_INVALID` when the column or a trigger of
 * Tandem's name exists but was not created by `tandem prepare` for this column (nothing is changed then);
 * `TANDEM_ERR_STORE_QUERY` when the store rejects a statement (lock timeout, privileges, an ALTER that cannot run
 * online on MySQL without `allowLocking`).
 */
export async function prepareEntity(
  store: Store,
  req: PrepareRequest,
  opts: PrepareOptions = {},
): Promise<PrepareEntityResult> {
  const column = opts.column ?? VERSION_COLUMN_DEFAULT;
  store.sql.ident(column); // validates the name (TANDEM_ERR_CONFIG_INVALID)
  store.sql.table(req.table);
  const names = versionObjectNames(req.table);
  const undo = !!opts.undo;
  const work = async (db: Executor) => {
    const state = await inspectTable(store, db, req.table, column, names.fn);
    const ddl = prepareSqlOf(store.sql, store.url).versionDdl(store.sql, req.table, column, names, state.shape);
    const plan = undo
      ? planUndo(store, req.table, column, names, ddl, state)
      : planForward(store, req.table, column, names, ddl, state);
    if (opts.dryRun || plan.statements.length === 0) {
      const fallback = plan.statements.some((s) => s.fallbacks?.length);
      const notes = fallback
        ? [
            'if the server refuses ALGORITHM=INSTANT, prepare retries with ALGORITHM=INPLACE, LOCK=NONE (online), and only with --allow-locking as a table copy that blocks writes',
          ]
        : [];
      return { plan, ran: plan.statements.map((s) => s.sql), notes };
    }
    const { ran, notes } = await runStatements(store, db, plan.statements, !!opts.allowLocking);
    return { plan, ran, notes };
  };
  const seconds = lockSeconds(opts.lockTimeoutSeconds);
  let out: Awaited<ReturnType<typeof work>>;
  try {
    out = opts.dryRun ? await work(store) : await withPrepareLock(store, seconds, work);
  } catch (e) {
    if (store.classifyError(e) !== 'lock_timeout') throw e;
    const after = store.capabilities.transactionalDdl
      ? 'nothing was changed'
      : 'statements before it stay done; run prepare again to complete';
    throw new TandemError(
      'STORE_QUERY',
      `${store.url}: gave up after waiting ${seconds}s for a lock on source table "${req.table}" (a transaction is using it; ${after}); retry when it ends, or raise --lock-timeout`,
      { table: req.table },
      { cause: e },
    );
  }
  const { plan, ran, notes } = out;
  const changed = plan.statements.length > 0;
  const status: PrepareStatus = undo
    ? changed
      ? opts.dryRun
        ? 'would_undo'
        : 'undone'
      : 'nothing_to_undo'
    : changed
      ? opts.dryRun
        ? 'would_prepare'
        : 'prepared'
      : 'already_prepared';
  let configChange: ConfigChange | null = null;
  if (undo) {
    if (req.version !== null && sameColumn(store, req.version, column)) configChange = { remove: 'version' };
  } else if (req.version === null || !sameColumn(store, req.version, column)) {
    configChange = { set: { version: plan.columnName ?? column } };
  }
  return {
    entity: req.entity,
    table: req.table,
    column: plan.columnName ?? column,
    status,
    triggers: plan.triggers,
    statements: ran,
    notes: [...plan.notes, ...notes],
    configChange,
  };
}

/** The statements to run for one table, and what to tell the user. */
interface Plan {
  statements: DdlStatement[];
  triggers: string[];
  notes: string[];
  /** The column's name as the database spells it, when it exists. */
  columnName?: string;
}

/** The trigger names Tandem uses on this store: one on PostgreSQL/PGlite (INSERT OR UPDATE), two elsewhere. */
function expectedTriggers(store: Store, names: VersionObjectNames): string[] {
  return prep(store).expectedTriggers(names);
}

function prep(store: Store): PrepareSql {
  return prepareSqlOf(store.sql, store.url);
}

function includesText(store: Store, body: string, marker: string | undefined): boolean {
  if (!marker) return false;
  return store.capabilities.columnNamesFoldCase
    ? body.toLowerCase().includes(marker.toLowerCase())
    : body.includes(marker);
}

/** True when `tr` is the trigger `tandem prepare` writes for this table and column. */
function isOurTrigger(
  store: Store,
  table: string,
  tr: TriggerState,
  ddl: VersionDdl,
  state: TableState,
  names: VersionObjectNames,
): boolean {
  if (!sameTable(store, tr.table, table)) return false;
  if (!prep(store).runsOurFunction(tr, state, names)) return false;
  return includesText(store, tr.body, ddl.markers[tr.name]);
}

/** Notes about other triggers on the table that interact with Tandem's. */
function triggerNotes(
  store: Store,
  table: string,
  column: string,
  names: VersionObjectNames,
  state: TableState,
): string[] {
  const ours = new Set([names.update, names.insert]);
  const others = state.otherUpdateTriggers.filter((n) => !ours.has(n));
  if (others.length === 0) return [];
  return prep(store).triggerNotes(others, table, column, names);
}

function planForward(
  store: Store,
  table: string,
  column: string,
  names: VersionObjectNames,
  ddl: VersionDdl,
  state: TableState,
): Plan {
  const expected = expectedTriggers(store, names);
  const present: string[] = [];
  for (const n of expected) {
    const tr = state.triggers.get(n);
    if (!tr) continue;
    if (!sameTable(store, tr.table, table))
      throw new TandemError(
        'PREPARE_CONFLICT',
        `trigger "${n}" already exists on table "${tr.table}"; tandem prepare needs that name for table "${table}" (rename or drop the other trigger)`,
        { table, trigger: n },
      );
    if (!isOurTrigger(store, table, tr, ddl, state, names))
      throw new TandemError(
        'PREPARE_CONFLICT',
        `trigger "${n}" on source table "${table}" does not maintain column "${column}": the table was prepared with another --column (undo that first: tandem prepare --undo --column <name>), or the trigger is not Tandem's`,
        { table, trigger: n },
      );
    present.push(n);
  }
  const missing = expected.filter((n) => !present.includes(n));
  const notes = triggerNotes(store, table, column, names, state);
  const c = state.column;
  if (c) {
    if (!c.marked && present.length === 0)
      throw new TandemError(
        'PREPARE_CONFLICT',
        `source table "${table}" already has a column "${c.name}" that tandem prepare did not create; if it grows on every change, name it as the entity's version (version: '${c.name}'), otherwise choose another name with --column`,
        { table, column: c.name },
      );
    if (!c.integer)
      throw new TandemError(
        'PREPARE_CONFLICT',
        `column "${c.name}" of source table "${table}" is ${c.dataType}, not an integer; undo with tandem prepare --undo and run prepare again`,
        { table, column: c.name },
      );
    if (missing.length === 0) return { statements: [], triggers: expected, notes, columnName: c.name };
    return {
      statements: ddl.createTriggers.filter((s) => !s.trigger || missing.includes(s.trigger)),
      triggers: expected,
      notes: [
        `completes an earlier prepare that stopped half-way: column "${c.name}" exists, trigger(s) ${missing.map((n) => `"${n}"`).join(', ')} missing`,
        ...notes,
      ],
      columnName: c.name,
    };
  }
  // no column: a trigger of ours without it (the column was dropped by hand) is replaced with the rest
  const stale = ddl.dropTriggers.filter((s) => s.trigger && present.includes(s.trigger));
  return {
    statements: [...stale, ...ddl.addColumn, ...ddl.createTriggers],
    triggers: expected,
    notes: [
      ...(stale.length
        ? [
            `trigger(s) ${present.map((n) => `"${n}"`).join(', ')} existed without column "${column}" and are created again`,
          ]
        : []),
      ...notes,
    ],
  };
}

function planUndo(
  store: Store,
  table: string,
  _column: string,
  names: VersionObjectNames,
  ddl: VersionDdl,
  state: TableState,
): Plan {
  const expected = expectedTriggers(store, names);
  const own = expected.filter((n) => {
    const tr = state.triggers.get(n);
    return tr !== undefined && isOurTrigger(store, table, tr, ddl, state, names);
  });
  const fnOurs = state.functionBody !== null && includesText(store, state.functionBody, ddl.markers[names.fn]);
  const c = state.column;
  const ours = own.length > 0 || !!c?.marked;
  const drops = ddl.dropTriggers.filter((s) => (s.trigger ? own.includes(s.trigger) : fnOurs));
  if (!ours) {
    if (c) {
      throw new TandemError(
        'PREPARE_CONFLICT',
        `column "${c.name}" of source table "${table}" was not created by tandem prepare (no Tandem trigger maintains it); --undo removes only what prepare created`,
        { table, column: c.name },
      );
    }
    // a trigger function left alone (PostgreSQL) is the only possible leftover
    return { statements: drops, triggers: [], notes: [] };
  }
  return { statements: [...drops, ...(c ? ddl.dropColumn : [])], triggers: own, notes: [], columnName: c?.name };
}

/** The lock timeout in whole seconds (MySQL's `lock_wait_timeout` is an integer), at least 1. */
function lockSeconds(v: number | undefined): number {
  return Math.max(1, Math.ceil(v ?? DEFAULT_LOCK_TIMEOUT_SECONDS));
}

/** The server refused the statement's form (MySQL/MariaDB `ALGORITHM=`): the kind `unsupported`. */
function isAlgorithmRefused(store: Store, e: unknown): boolean {
  return isTandemError(e, 'STORE_QUERY') && store.classifyError(e) === 'unsupported';
}

/**
 * Runs the planned statements on `db` in order; on MySQL/MariaDB, an `ALTER TABLE` the server cannot run with
 * `ALGORITHM=INSTANT` is retried with `INPLACE, LOCK=NONE`, then (only with `allowLocking`) as a table copy.
 * Returns the statements as they ran, and a note per fallback.
 */
async function runStatements(
  store: Store,
  db: Executor,
  statements: DdlStatement[],
  allowLocking: boolean,
): Promise<{ ran: string[]; notes: string[] }> {
  const ran: string[] = [];
  const notes: string[] = [];
  for (const st of statements) {
    try {
      await db.execute(st.sql);
      ran.push(st.sql);
    } catch (e) {
      if (!st.fallbacks?.length || !isAlgorithmRefused(store, e)) throw e;
      let last: unknown = e;
      let done = false;
      for (const fb of st.fallbacks) {
        if (fb.locking && !allowLocking) {
          throw new TandemError(
            'STORE_QUERY',
            `${store.url} cannot run this ALTER TABLE online (${(last as Error).message.replace(/^MySQL at \S+: /, '')}); a table copy would block writes to the table while it runs — rerun with --allow-locking to accept that`,
            { statement: st.sql },
            { cause: last },
          );
        }
        try {
          await db.execute(fb.sql);
          ran.push(fb.sql);
          notes.push(
            fb.locking
              ? `ran as a table copy (writes to the table waited): ${fb.sql}`
              : `ALGORITHM=INSTANT was refused; ran online with ALGORITHM=INPLACE, LOCK=NONE: ${fb.sql}`,
          );
          done = true;
          break;
        } catch (e2) {
          if (!isAlgorithmRefused(store, e2)) throw e2;
          last = e2;
        }
      }
      if (!done) throw last;
    }
  }
  return { ran, notes };
}

/**
 * Runs `fn` holding `prepare`'s lock on `store`, with the DDL lock timeout set:
 * - PostgreSQL/PGlite: one transaction (the DDL is transactional: all of it or none), `lock_timeout` for it, and
 *   a transaction-scoped advisory lock;
 * - MySQL/MariaDB: one connection, `lock_wait_timeout` for its session (restored after), `GET_LOCK`. DDL commits
 *   on its own there; an interrupted run is completed by the next one;
 * - SQLite: one `BEGIN IMMEDIATE` transaction (the DDL is transactional).
 * Throws `TANDEM_ERR_STORE_QUERY` when the lock cannot be had in time.
 */
async function withPrepareLock<T>(store: Store, seconds: number, fn: (db: Executor) => Promise<T>): Promise<T> {
  return prep(store).withLock(store, seconds, fn);
}
