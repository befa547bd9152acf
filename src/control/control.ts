import { hostname, userInfo } from 'node:os';
import { TandemError } from '../core/errors.js';
import { redactDeep, redactText } from '../core/redact.js';
import type { Executor, Store } from '../stores/types.js';
import { fenceLease, type Lease } from './lease.js';
import { CONTROL_SCHEMA_VERSION, migrations } from './schema.js';
import { decodeKeyValues, encodeKeyValues } from '../outbox/outbox.js';

export { decodeKeyValues, encodeKeyValues } from '../outbox/outbox.js';

/**
 * Creates or upgrades the control-plane tables in `store` (idempotent; safe to run from several processes at
 * once: PostgreSQL takes an advisory lock, MySQL a named lock, SQLite an immediate transaction — `sql.ddl.lock`).
 * Returns the
 * schema version. Throws TANDEM_ERR_CONTROL_SCHEMA when the store holds a newer schema than this build knows.
 */
export async function ensureControlSchema(store: Store): Promise<number> {
  const t = (n: string) => store.controlTable(n);
  const mig = t('schema_migrations');
  const { ddl } = store.sql;
  const run = async (db: Executor) => {
    if (ddl.createNamespace) await db.execute(ddl.createNamespace);
    await db.execute(
      `CREATE TABLE IF NOT EXISTS ${mig} (version integer NOT NULL PRIMARY KEY, description ${ddl.text(200)} NOT NULL, applied_at ${ddl.ts} NOT NULL DEFAULT ${store.sql.now()})`,
    );
    const done = new Set(
      (await db.query<{ version: number | string }>(`SELECT version FROM ${mig}`)).map((r) => Number(r.version)),
    );
    const newest = Math.max(0, ...done);
    if (newest > CONTROL_SCHEMA_VERSION)
      throw new TandemError(
        'CONTROL_SCHEMA',
        `control plane in ${store.url} is at schema version ${newest}; this Tandem knows up to ${CONTROL_SCHEMA_VERSION} — upgrade Tandem`,
      );
    for (const m of migrations(store.dialect)) {
      if (done.has(m.version)) continue;
      for (const s of m.statements(t)) await db.execute(s);
      await db.execute(
        `INSERT INTO ${mig} (version, description) VALUES (${store.sql.param(1)}, ${store.sql.param(2)})`,
        [m.version, m.description],
      );
    }
    return CONTROL_SCHEMA_VERSION;
  };
  const lock = ddl.lock;
  // one transaction (SQLite: BEGIN IMMEDIATE is the lock); where DDL commits on its own (MySQL), the named lock
  // held on the transaction's one connection serializes the upgrade instead
  return store.transaction(async (tx) => {
    if (!lock) return run(tx);
    await tx.query(lock.acquire);
    try {
      return await run(tx);
    } finally {
      if (lock.release) await tx.query(lock.release);
    }
  });
}

/** The control-plane schema version of a store, or 0 when Tandem has never run there. Writes nothing. */
export async function controlSchemaVersion(store: Store): Promise<number> {
  try {
    const r = await store.query<{ v: number | string | null }>(
      `SELECT max(version) AS v FROM ${store.controlTable('schema_migrations')}`,
    );
    return Number(r[0]?.v ?? 0);
  } catch {
    return 0;
  }
}

/** One audit-log entry: the command, its arguments (never secrets: URLs are redacted by the caller), its outcome. */
export interface AuditEntry {
  command: string;
  args: Record<string, unknown>;
  /**
   * `not_exhaustive`: a verify that compared no difference but not every row either (sample, quick). `tripped`:
   * the guard set the canary to 0 (src/routing/guard.ts).
   */
  outcome: 'ok' | 'differences' | 'error' | 'interrupted' | 'not_exhaustive' | 'tripped';
  detail?: string;
  /**
   * Who asked, when not this process's `user@host` ({@link actor}): the API passes `token:<name>` of the bearer
   * token that asked (docs/api.md).
   */
  actor?: string;
}

/** `user@host` of this process, for the audit log. */
export function actor(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    /* no passwd entry */
  }
  return `${user}@${hostname()}`;
}

/** Appends an entry to the audit log of `store`. */
export async function audit(store: Store, e: AuditEntry): Promise<void> {
  const p = (i: number) => store.sql.param(i);
  await store.execute(
    `INSERT INTO ${store.controlTable('audit_log')} (command, args, actor, outcome, detail) VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)})`,
    // the last line of defence: URLs and secret pairs in args and detail are redacted here, whoever wrote them
    [
      e.command,
      JSON.stringify(redactDeep(e.args)),
      e.actor ?? actor(),
      e.outcome,
      e.detail == null ? null : redactText(e.detail),
    ],
  );
}

/** The last `limit` audit entries, newest first. */
export async function recentAudit(
  store: Store,
  limit = 10,
): Promise<{ at: string; command: string; actor: string; outcome: string; detail: string | null }[]> {
  return store.query(
    `SELECT at, command, actor, outcome, detail FROM ${store.controlTable('audit_log')} ORDER BY id DESC LIMIT ${Math.floor(limit)}`,
  );
}

/** A backfill checkpoint: where an entity's keyset scan stands. `lastKey` holds the raw source key values. */
export interface Checkpoint {
  entity: string;
  lastKey: unknown[] | null;
  rowsCopied: number;
  rowsApplied: number;
  rowsTotal: number | null;
  status: 'running' | 'done';
  startedAt?: string;
  updatedAt?: string;
  finishedAt?: string | null;
}

/** Reads an entity's checkpoint, or null when its backfill never started. */
export async function readCheckpoint(db: Executor, store: Store, entity: string): Promise<Checkpoint | null> {
  const r = await db.query<Record<string, unknown>>(
    `SELECT entity, last_key, rows_copied, rows_applied, rows_total, status, started_at, updated_at, finished_at FROM ${store.controlTable('checkpoints')} WHERE entity = ${store.sql.param(1)}`,
    [entity],
  );
  const row = r[0];
  if (!row) return null;
  return {
    entity,
    lastKey: row.last_key ? decodeKeyValues(String(row.last_key)) : null,
    rowsCopied: Number(row.rows_copied),
    rowsApplied: Number(row.rows_applied),
    rowsTotal: row.rows_total === null ? null : Number(row.rows_total),
    status: row.status as Checkpoint['status'],
    startedAt: String(row.started_at),
    updatedAt: String(row.updated_at),
    finishedAt: row.finished_at === null ? null : String(row.finished_at),
  };
}

/** All checkpoints of a store. */
export async function listCheckpoints(store: Store): Promise<Checkpoint[]> {
  const names = await store.query<{ entity: string }>(
    `SELECT entity FROM ${store.controlTable('checkpoints')} ORDER BY entity`,
  );
  const out: Checkpoint[] = [];
  for (const n of names) out.push((await readCheckpoint(store, store, n.entity))!);
  return out;
}

/**
 * Creates the checkpoint row (status running, no position) or, with `restart`, resets it. With `fence` (the
 * entity's backfill lease) it happens only while that lease is still this holder's (else TANDEM_ERR_LEASE_LOST,
 * nothing written).
 */
export async function startCheckpoint(
  store: Store,
  entity: string,
  rowsTotal: number,
  restart: boolean,
  fence?: Lease,
): Promise<Checkpoint> {
  const p = (i: number) => store.sql.param(i);
  const t = store.controlTable('checkpoints');
  await store.transaction(async (tx) => {
    if (fence) await fenceLease(tx, store, fence);
    const cur = await readCheckpoint(tx, store, entity);
    if (!cur) {
      await tx.execute(
        `INSERT INTO ${t} (entity, last_key, rows_copied, rows_applied, rows_total, status) VALUES (${p(1)}, NULL, 0, 0, ${p(2)}, 'running')`,
        [entity, rowsTotal],
      );
    } else if (restart) {
      await tx.execute(
        `UPDATE ${t} SET last_key = NULL, rows_copied = 0, rows_applied = 0, rows_total = ${p(1)}, status = 'running', finished_at = NULL WHERE entity = ${p(2)}`,
        [rowsTotal, entity],
      );
    } else {
      await tx.execute(`UPDATE ${t} SET rows_total = ${p(1)} WHERE entity = ${p(2)}`, [rowsTotal, entity]);
    }
  });
  return (await readCheckpoint(store, store, entity))!;
}

/** Thrown by {@link advanceCheckpoint} when the chunk was already committed (a retry after a lost COMMIT reply). */
export class ChunkAlreadyCommitted extends Error {}

/**
 * Moves an entity's checkpoint from `prevKey` to `lastKey` inside the chunk's own transaction `tx`, so the
 * position and the rows it covers commit together (a SIGKILL before commit loses both; after commit keeps
 * both). The move is fenced: it happens only if the checkpoint still stands at `prevKey`. If it already stands
 * at `lastKey` (a retried chunk whose first COMMIT went through) it throws {@link ChunkAlreadyCommitted} so the
 * caller rolls back and moves on; if it stands anywhere else, another worker moved it: TANDEM_ERR_INTERNAL.
 * With `fence` (the entity's backfill lease) the move is fenced on the lease's token too, checked first in the
 * same transaction (which renews the lease): a holder whose lease was taken over gets TANDEM_ERR_LEASE_LOST
 * and its transaction, rows included, rolls back.
 */
export async function advanceCheckpoint(
  tx: Executor,
  store: Store,
  entity: string,
  prevKey: unknown[] | null,
  lastKey: unknown[],
  copied: number,
  applied: number,
  fence?: Lease,
): Promise<void> {
  const p = (i: number) => store.sql.param(i);
  if (fence) await fenceLease(tx, store, fence);
  const now = store.sql.now();
  const t = store.controlTable('checkpoints');
  const n = await tx.execute(
    `UPDATE ${t} SET last_key = ${p(1)}, rows_copied = rows_copied + ${p(2)}, rows_applied = rows_applied + ${p(3)}, updated_at = ${now} WHERE entity = ${p(4)} AND COALESCE(last_key, '') = ${p(5)}`,
    [encodeKeyValues(lastKey), copied, applied, entity, prevKey ? encodeKeyValues(prevKey) : ''],
  );
  if (n >= 1) return;
  const cur = await tx.query<{ last_key: string | null }>(`SELECT last_key FROM ${t} WHERE entity = ${p(1)}`, [entity]);
  if (cur[0]?.last_key === encodeKeyValues(lastKey)) throw new ChunkAlreadyCommitted();
  throw new TandemError(
    'INTERNAL',
    `checkpoint of entity ${entity} was moved by another process; stop the other backfill first`,
  );
}

/**
 * Marks an entity's backfill done; with `fence`, only while the lease is still this holder's (else
 * TANDEM_ERR_LEASE_LOST).
 */
export async function finishCheckpoint(store: Store, entity: string, fence?: Lease): Promise<void> {
  const p = (i: number) => store.sql.param(i);
  const now = store.sql.now();
  await store.transaction(async (tx) => {
    if (fence) await fenceLease(tx, store, fence);
    await tx.execute(
      `UPDATE ${store.controlTable('checkpoints')} SET status = 'done', finished_at = ${now}, updated_at = ${now} WHERE entity = ${p(1)}`,
      [entity],
    );
  });
}
