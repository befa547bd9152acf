import { TandemError } from '../core/errors.js';
import type { AdvanceSequencesOptions, Executor, Row, Store } from '../stores/types.js';
import { primaryRole, readPhase, type Phase } from './phase.js';

/**
 * The legacy-write guard: Tandem's own connection to the legacy (source) store, wrapped so that a write outside
 * Tandem's control tables before write cutover cannot happen, whichever code path tries it (DESIGN.md Safety
 * rule: no command writes to the legacy store before cutover beyond its outbox, control tables and `prepare`).
 *
 * Every statement sent through the guarded store or one of its transactions is classified first:
 * - reads and session statements (SELECT, WITH … SELECT, SHOW, EXPLAIN, SET, BEGIN/COMMIT/ROLLBACK, SAVEPOINT,
 *   RELEASE) pass;
 * - any statement on Tandem's control namespace (PostgreSQL/PGlite schema `tandem`; MySQL/SQLite tables
 *   `tandem_*`) passes: the control plane and the outbox;
 * - DML on another table (INSERT, UPDATE, DELETE, REPLACE, MERGE) passes only when the phase, read from the
 *   control store at that moment (once per transaction), makes the new store primary (`new_primary` and later:
 *   the reverse relay and the writer's reverse fast path write the legacy rows back);
 * - the schema changes of `tandem prepare` (ALTER TABLE, CREATE/DROP TRIGGER, CREATE/DROP FUNCTION, COMMENT ON)
 *   pass only on a store guarded with `{ prepare: true }`;
 * - anything else — DROP/TRUNCATE/CREATE TABLE of a legacy table, DROP SCHEMA/DATABASE, a statement the guard
 *   cannot read — is refused in every phase.
 * The store's schema-level writes of cutover and rollback — `advanceSequences` (not a dry run) and `setReadOnly(…,
 * true)` — run only when the phase makes the new store primary; undoing read-only runs in any phase.
 * A refused statement throws `TANDEM_ERR_LEGACY_WRITE_REFUSED` naming the store (redacted), the table and the
 * phase, never the statement's values; nothing is sent to the store.
 */
export interface LegacyGuardOptions {
  /** The current phase; a failure counts as `prepare` (the strictest). */
  phase: () => Promise<Phase>;
  /** Allow `tandem prepare`'s schema changes (version column, triggers). Default false. */
  prepare?: boolean;
}

/** What a statement does, as far as the guard is concerned. */
export type StatementClass =
  | { kind: 'read' }
  | { kind: 'dml'; object: string[] }
  | { kind: 'prepare-ddl'; object: string[] }
  | { kind: 'other'; verb: string; object: string[] | null };

const IDENT = String.raw`(?:"(?:[^"]|"")+"|\x60(?:[^\x60]|\x60\x60)+\x60|\[[^\]]+\]|[A-Za-z_$][\w$]*)`;
const NAME = String.raw`(${IDENT}(?:\s*\.\s*${IDENT}){0,2})`;

/** Splits a possibly qualified, possibly quoted name into its unquoted parts. */
function nameParts(name: string): string[] {
  const out: string[] = [];
  const re = new RegExp(IDENT, 'g');
  for (const m of name.matchAll(re)) {
    const p = m[0];
    if (p.startsWith('"')) out.push(p.slice(1, -1).replace(/""/g, '"'));
    else if (p.startsWith('`')) out.push(p.slice(1, -1).replace(/``/g, '`'));
    else if (p.startsWith('[')) out.push(p.slice(1, -1));
    else out.push(p);
  }
  return out;
}

/** Drops leading comments and whitespace. */
function strip(sql: string): string {
  let s = sql;
  for (;;) {
    const t = s.replace(/^\s+/, '');
    if (t.startsWith('--')) s = t.slice(t.indexOf('\n') < 0 ? t.length : t.indexOf('\n') + 1);
    else if (t.startsWith('/*')) s = t.slice(t.indexOf('*/') < 0 ? t.length : t.indexOf('*/') + 2);
    else return t;
  }
}

const READ =
  /^(?:SELECT|SHOW|EXPLAIN|DESCRIBE|DESC|VALUES|TABLE|SET|RESET|BEGIN|START\s+TRANSACTION|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE)\b/i;
const DML: RegExp[] = [
  new RegExp(
    String.raw`^INSERT\s+(?:(?:LOW_PRIORITY|DELAYED|HIGH_PRIORITY|IGNORE)\s+)*(?:OR\s+\w+\s+)?INTO\s+${NAME}`,
    'i',
  ),
  new RegExp(String.raw`^REPLACE\s+(?:(?:LOW_PRIORITY|DELAYED)\s+)?INTO\s+${NAME}`, 'i'),
  new RegExp(String.raw`^UPDATE\s+(?:(?:LOW_PRIORITY|IGNORE|ONLY)\s+)*(?:OR\s+\w+\s+)?${NAME}`, 'i'),
  new RegExp(String.raw`^DELETE\s+(?:(?:LOW_PRIORITY|QUICK|IGNORE)\s+)*FROM\s+(?:ONLY\s+)?${NAME}`, 'i'),
  new RegExp(String.raw`^MERGE\s+INTO\s+${NAME}`, 'i'),
];
const PREPARE_DDL: RegExp[] = [
  new RegExp(String.raw`^ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?${NAME}\s+(?:ADD|DROP)\s+COLUMN\b`, 'i'),
  new RegExp(String.raw`^CREATE\s+(?:OR\s+REPLACE\s+)?TRIGGER\s+${NAME}`, 'i'),
  new RegExp(String.raw`^DROP\s+TRIGGER\s+(?:IF\s+EXISTS\s+)?${NAME}`, 'i'),
  new RegExp(String.raw`^CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+${NAME}`, 'i'),
  new RegExp(String.raw`^DROP\s+FUNCTION\s+(?:IF\s+EXISTS\s+)?${NAME}`, 'i'),
  new RegExp(String.raw`^COMMENT\s+ON\s+COLUMN\s+${NAME}`, 'i'),
];
const OTHER: RegExp[] = [
  new RegExp(
    String.raw`^CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(?:${NAME}\s+)?ON\s+(?:ONLY\s+)?${NAME}`,
    'i',
  ),
  new RegExp(
    String.raw`^(?:CREATE|DROP|ALTER|TRUNCATE)\s+(?:(?:TEMPORARY|TEMP|UNLOGGED|TABLE|SCHEMA|DATABASE|VIEW|SEQUENCE|INDEX|IF|NOT|EXISTS|ONLY)\s+)*${NAME}`,
    'i',
  ),
];

/**
 * Classifies one SQL statement for the guard (pure; see the module comment). `object` is the table (or schema)
 * the statement changes, as its unquoted name parts (`['tandem', 'outbox']`).
 */
export function classifyStatement(sql: string): StatementClass {
  const s = strip(sql);
  if (/^WITH\b/i.test(s)) {
    // a CTE that changes data is a write to an object the guard does not parse: never on legacy tables
    return /\b(?:INSERT|UPDATE|DELETE|MERGE)\b/i.test(s)
      ? { kind: 'other', verb: 'WITH', object: null }
      : { kind: 'read' };
  }
  if (READ.test(s)) return { kind: 'read' };
  for (const re of DML) {
    const m = re.exec(s);
    if (m) return { kind: 'dml', object: nameParts(m[1]!) };
  }
  for (const re of PREPARE_DDL) {
    const m = re.exec(s);
    if (m) {
      // a trigger or function is named for itself: the table it belongs to is after ON (triggers)
      const on = /^(?:CREATE|DROP)\s+(?:OR\s+REPLACE\s+)?TRIGGER\b/i.test(s)
        ? new RegExp(String.raw`\bON\s+${NAME}`, 'i').exec(s)
        : null;
      return { kind: 'prepare-ddl', object: nameParts((on ?? m)[1]!) };
    }
  }
  const idx = OTHER[0]!.exec(s);
  if (idx) return { kind: 'other', verb: 'CREATE INDEX', object: nameParts(idx[2]!) };
  const o = OTHER[1]!.exec(s);
  const verb = (/^\w+/.exec(s)?.[0] ?? '').toUpperCase();
  return { kind: 'other', verb, object: o ? nameParts(o[1]!) : null };
}

/** True when `object` is in the store's control namespace: schema `tandem` (PostgreSQL/PGlite) or `tandem_*`. */
export function isControlObject(store: Pick<Store, 'controlSchema'>, object: string[] | null, verb?: string): boolean {
  if (!object?.length) return false;
  if (store.controlSchema) {
    // CREATE SCHEMA tandem
    if (verb === 'CREATE' && object.length === 1 && object[0] === store.controlSchema) return true;
    return object.length >= 2 && object[object.length - 2] === store.controlSchema;
  }
  return object[object.length - 1]!.toLowerCase().startsWith('tandem_');
}

/**
 * Wraps Tandem's connection to the legacy store in the guard (see the module comment). The returned store is the
 * same store in every other respect (dialect, SQL builders, introspection, ledger, close).
 */
export function guardLegacyWrites(store: Store, o: LegacyGuardOptions): Store {
  const phaseNow = async (): Promise<Phase> => {
    try {
      return await o.phase();
    } catch {
      return 'prepare';
    }
  };
  /** Throws when `sql` may not run now; `phase` memoizes the phase read for one transaction. */
  const check = async (sql: string, phase: { value?: Promise<Phase> }): Promise<void> => {
    const c = classifyStatement(sql);
    if (c.kind === 'read') return;
    if (isControlObject(store, c.object, c.kind === 'other' ? c.verb : undefined)) return;
    const table = c.object ? c.object.join('.') : 'an object the guard cannot name';
    if (c.kind === 'prepare-ddl' && o.prepare) return;
    if (c.kind === 'dml') {
      const p = await (phase.value ??= phaseNow());
      if (primaryRole(p) === 'new') return;
      throw new TandemError(
        'LEGACY_WRITE_REFUSED',
        `refused to write legacy table "${table}" of ${store.url} in phase ${p}: before write cutover (new_primary) Tandem writes only its control tables there`,
        { table, phase: p },
      );
    }
    throw new TandemError(
      'LEGACY_WRITE_REFUSED',
      `refused ${c.kind === 'prepare-ddl' ? 'a schema change' : `a ${c.kind === 'other' ? c.verb : ''} statement`} on "${table}" of ${store.url}: Tandem only changes its control tables there${c.kind === 'prepare-ddl' ? " (schema changes are tandem prepare's)" : ''}`,
      { table },
    );
  };
  const wrap = (ex: Executor, phase: { value?: Promise<Phase> }): Executor => ({
    async query<T extends Row = Row>(sql: string, params?: unknown[]): Promise<T[]> {
      await check(sql, phase);
      return ex.query<T>(sql, params);
    },
    async execute(sql: string, params?: unknown[]): Promise<number> {
      await check(sql, phase);
      return ex.execute(sql, params);
    },
  });
  const auto = (): { value?: Promise<Phase> } => ({});
  /** The schema-level writes of cutover and rollback run only once the new store is primary. */
  const afterCutover = async (what: string): Promise<void> => {
    const p = await phaseNow();
    if (primaryRole(p) === 'new') return;
    throw new TandemError(
      'LEGACY_WRITE_REFUSED',
      `refused to ${what} of ${store.url} in phase ${p}: only after write cutover (new_primary), when legacy is no longer the primary`,
      { phase: p },
    );
  };
  // the apply's one-statement and bulk-load writes are data-modifying CTEs (the bulk load also a temporary staging
  // table) the guard does not read: on legacy the apply takes the two-step path, whose statements it does
  const { ledgeredUpsert: _one, stagedUpsert: _bulk, ...sql } = store.sql;
  return {
    ...store,
    sql,
    query: <T extends Row = Row>(sql: string, params?: unknown[]) => wrap(store, auto()).query<T>(sql, params),
    execute: (sql: string, params?: unknown[]) => wrap(store, auto()).execute(sql, params),
    transaction: <T>(fn: (tx: Executor) => Promise<T>) => {
      const phase = auto();
      return store.transaction((tx) => fn(wrap(tx, phase)));
    },
    introspect: () => store.introspect(),
    advanceLedger: (tx, table, entity, entries, mode) => store.advanceLedger(tx, table, entity, entries, mode),
    controlTable: (name) => store.controlTable(name),
    close: () => store.close(),
    ...(store.serverIdentity ? { serverIdentity: () => store.serverIdentity!() } : {}),
    // moving legacy's sequences (rollback) and making its tables read-only (legacy_read_only) are writes: after
    // write cutover only; a dry run reads, and undoing read-only removes only Tandem's own triggers (any phase)
    ...(store.advanceSequences
      ? {
          advanceSequences: async (tables: string[], opts?: AdvanceSequencesOptions) => {
            if (!opts?.dryRun) await afterCutover('advance the sequences of legacy tables');
            return store.advanceSequences!(tables, opts);
          },
        }
      : {}),
    ...(store.setReadOnly
      ? {
          setReadOnly: async (tables: string[], on: boolean) => {
            if (on) await afterCutover('make legacy tables read-only');
            return store.setReadOnly!(tables, on);
          },
        }
      : {}),
  };
}

/**
 * The phase as the control store holds it, for {@link guardLegacyWrites}; `control` may be set after the guard is made.
 */
export function phaseOf(control: () => Store | undefined): () => Promise<Phase> {
  return async () => {
    const c = control();
    if (!c) return 'prepare';
    return readPhase(c);
  };
}
