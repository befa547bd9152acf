/**
 * The chaos workload: the application's writers through the dual-write API. Every write computes its values in
 * JS and learns the committed version inside its own transaction (`SELECT … FOR UPDATE`, then `UPDATE … SET
 * version = v + 1`), so the history knows exactly which (version, values) each commit made. The COMMIT is seen
 * through the adapter: a write is recorded the moment its COMMIT returns (before any fast path runs); a COMMIT that
 * fails leaves the write "uncertain". Keys are never reused after a delete.
 *
 * With `cutover` (the `--cutover` runs) every write goes through the two-path form `dual.write({ legacy, new })`:
 * the same logical change written by the path of the store that is primary — the legacy tables, or the new tables
 * of the chaos config with the values its forward mapping would give (chaos/entities.ts) — so the history stays the
 * truth for both paths, and versions grow across them (each path reads the key's current version on its store). A
 * write that fails with TANDEM_ERR_WRITE_FENCED is a failed write (nothing committed); a share of the writes asks
 * for it (`onFence: 'fail'`), the others are held up to `cutover.fenceMs`.
 *
 * Keys: seeded rows take even integers; inserts take odd integers across the whole range (behind the backfill
 * cursor as well as ahead of it) or new integers past the end; UUIDs fall anywhere in key order.
 */
import type { TxAdapter } from '../src/capture/adapters.js';
import type { DualWriter, WriteTx } from '../src/capture/writer.js';
import { CHAOS_ENTITIES, type ChaosEntity, type SourceDialect, uuidFrom } from './entities.js';
import type { History } from './history.js';
import { type CommitSeen, expectedDigest, judgeEntity } from './judge.js';
import { mulberry32, STREAM, streamSeed } from './schedule.js';
import type { AppConn } from './stores.js';

type Row = Record<string, unknown>;

/** Live keys of one entity: random pick in O(1), removal in O(1). */
class KeySet {
  private readonly arr: string[] = [];
  private readonly idx = new Map<string, number>();
  readonly values = new Map<string, Row>();
  hot: string[] = [];
  add(k: string, key: Row): void {
    if (this.idx.has(k)) return;
    this.idx.set(k, this.arr.length);
    this.arr.push(k);
    this.values.set(k, key);
  }
  remove(k: string): void {
    const i = this.idx.get(k);
    if (i === undefined) return;
    const last = this.arr.pop()!;
    if (last !== k) {
      this.arr[i] = last;
      this.idx.set(last, i);
    }
    this.idx.delete(k);
  }
  pick(r: () => number): string | undefined {
    if (this.hot.length && r() < 0.25) return this.hot[Math.floor(r() * this.hot.length)];
    return this.arr.length ? this.arr[Math.floor(r() * this.arr.length)] : undefined;
  }
  get size(): number {
    return this.arr.length;
  }
}

/** What a committed transaction did, for the history. */
interface Action {
  writes: { entity: string; key: string; keyRow: Row; version: bigint; digest: string; insert?: boolean }[];
  deletes: { entity: string; key: string }[];
}

/** Sizes of the seeded tables for `rows` users. */
export function seededCounts(rows: number): Record<string, number> {
  return {
    users: rows,
    memberships: Math.max(10, Math.floor(rows / 5)),
    devices: Math.max(10, Math.floor(rows / 5)),
    settings: Math.max(10, Math.floor(rows / 10)),
  };
}

const ORGS = 10;

/** The key columns of the i-th seeded row (0-based) of an entity. */
function seededKey(e: ChaosEntity, i: number, r: () => number): Row {
  if (e.name === 'memberships') return { org_id: 1 + (i % ORGS), user_no: 2 * (1 + Math.floor(i / ORGS)) };
  if (e.name === 'devices') return { id: uuidFrom(r) };
  return { id: 2 * (i + 1) };
}

/** The key as `tx.changed()` takes it. */
function keyInput(e: ChaosEntity, key: Row): unknown {
  return e.key.length === 1 ? key[e.key[0]!] : e.key.map((c) => key[c]);
}

const where = (cols: string[]) => cols.map((c) => `${c} = ?`).join(' AND ');

/** Runs `sql` (with `?` placeholders) and returns its rows (none for a statement that is not a SELECT). */
type Q = (sql: string, params?: unknown[]) => Promise<Row[]>;

/** One table row of a logical change, in one schema: its table, key columns and values. */
interface TableRow {
  table: string;
  key: string[];
  row: Row;
}

/**
 * How one schema (the legacy tables, or the new tables of the chaos config) stores the chaos entities. Values and
 * keys are always given as the legacy columns (what the history digests); the new schema maps them the way the
 * config's forward mapping does (chaos/entities.ts `configText`).
 */
interface PathSchema {
  side: 'legacy' | 'new';
  /** The rows of `vals` (legacy columns), parents first. */
  rows(e: ChaosEntity, vals: Row): TableRow[];
  /** The SELECT of the key's counter (`counter`) and, for users, `email`: `?` for each key column. */
  readSql(e: ChaosEntity, lock: string): string;
  /** SELECT id, email, version of two users (`?`, `?`) in id order. */
  pairSql(lock: string): string;
  /** UPDATE of a user's email only (`?` email, `?` id). */
  emailSql: string;
}

const LEGACY_SCHEMA: PathSchema = {
  side: 'legacy',
  rows: (e, vals) => [{ table: e.table, key: e.key, row: vals }],
  readSql: (e, lock) =>
    `SELECT ${e.counter} AS counter${e.name === 'users' ? ', email' : ''} FROM ${e.table} WHERE ${where(e.key)}${lock}`,
  pairSql: (lock) => `SELECT id, email, version FROM users WHERE id IN (?, ?) ORDER BY id${lock}`,
  emailSql: 'UPDATE users SET email = ? WHERE id = ?',
};

/** The new tables: users → accounts + account_profiles, memberships → org_members, devices → devices, settings → prefs. */
const NEW_SCHEMA: PathSchema = {
  side: 'new',
  rows: (e, v) => {
    switch (e.name) {
      case 'users':
        return [
          {
            table: 'accounts',
            key: ['id'],
            row: { id: v.id, email_address: v.email, state: v.status, balance: v.balance, version: v.version },
          },
          {
            table: 'account_profiles',
            key: ['account_id'],
            row: { account_id: v.id, display_name: `${v.first_name} ${v.last_name}`, bio: v.bio },
          },
        ];
      case 'memberships':
        return [{ table: 'org_members', key: ['org_id', 'user_no'], row: { ...v } }];
      case 'devices':
        return [
          {
            table: 'devices',
            key: ['device_id'],
            row: { device_id: v.id, name: v.name, kind: v.kind, version: v.version },
          },
        ];
      default:
        return [{ table: 'prefs', key: ['id'], row: { ...v } }];
    }
  },
  readSql: (e, lock) => {
    switch (e.name) {
      case 'users':
        return `SELECT version AS counter, email_address AS email FROM accounts WHERE id = ?${lock}`;
      case 'memberships':
        return `SELECT version AS counter FROM org_members WHERE org_id = ? AND user_no = ?${lock}`;
      case 'devices':
        return `SELECT version AS counter FROM devices WHERE device_id = ?${lock}`;
      default:
        return `SELECT rev AS counter FROM prefs WHERE id = ?${lock}`;
    }
  },
  pairSql: (lock) => `SELECT id, email_address AS email, version FROM accounts WHERE id IN (?, ?) ORDER BY id${lock}`,
  emailSql: 'UPDATE accounts SET email_address = ? WHERE id = ?',
};

/** The key's values in the key columns of a table row (the same order as `e.key`). */
const keyParams = (e: ChaosEntity, key: Row) => e.key.map((c) => key[c]);

async function updateRows(q: Q, s: PathSchema, e: ChaosEntity, vals: Row): Promise<void> {
  for (const t of s.rows(e, vals)) {
    const cols = Object.keys(t.row).filter((c) => !t.key.includes(c));
    await q(`UPDATE ${t.table} SET ${cols.map((c) => `${c} = ?`).join(', ')} WHERE ${where(t.key)}`, [
      ...cols.map((c) => t.row[c]),
      ...t.key.map((c) => t.row[c]),
    ]);
  }
}

async function insertRows(q: Q, s: PathSchema, e: ChaosEntity, vals: Row): Promise<void> {
  for (const t of s.rows(e, vals)) {
    const cols = Object.keys(t.row);
    await q(
      `INSERT INTO ${t.table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`,
      cols.map((c) => t.row[c]),
    );
  }
}

async function deleteRows(q: Q, s: PathSchema, e: ChaosEntity, key: Row): Promise<void> {
  // children first (account_profiles references accounts); the key columns are the mapped key's
  for (const t of s.rows(e, { ...key }).reverse())
    await q(
      `DELETE FROM ${t.table} WHERE ${where(t.key)}`,
      t.key.map((c) => t.row[c]),
    );
}

/** `?` placeholders as the dialect's (`$1, $2, …` for PostgreSQL). */
const placeholders = (dialect: string, sql: string) => {
  if (dialect !== 'postgres' && dialect !== 'pglite') return sql;
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
};

export interface WorkloadOptions {
  seed: number;
  rows: number;
  dialect: SourceDialect;
  history: History;
  dual: DualWriter;
  /** ms since the writers started. */
  now: () => number;
  /**
   * The `--cutover` mode: write through the two-path form (`target`: the new store's dialect), and ask for
   * TANDEM_ERR_WRITE_FENCED at once (`onFence: 'fail'`) on this share of the writes (default 0.1).
   */
  cutover?: { target: 'mysql' | 'postgres'; failShare?: number };
}

/** Writers' counters. */
export interface WorkloadStats {
  writes: number;
  failed: number;
  uncertain: number;
  /** Writes that failed with TANDEM_ERR_WRITE_FENCED (counted in `failed` too). */
  fenced: number;
  errors: Record<string, number>;
}

/** The workload of a seed: seeding, writers, and the duplicated deliveries of the fault schedule. */
export class Workload {
  readonly stats: WorkloadStats = { writes: 0, failed: 0, uncertain: 0, fenced: 0, errors: {} };
  /** `--cutover`: every committed write, on which store and when (the judge's fence check by the clock). */
  readonly commits: CommitSeen[] = [];
  private readonly live = new Map<string, KeySet>();
  private readonly reserved = new Set<string>();
  private readonly next = new Map<string, number>();
  private readonly range = new Map<string, number>();
  /**
   * SQLite has one writer at a time: the harness's transactions on it take turns (a busy wait would block the event
   * loop).
   */
  private turn: Promise<unknown> = Promise.resolve();
  stop = false;
  /**
   * While set (during a target outage of an 'after' seed), updates and deletes pick among these keys of each entity:
   * live keys the running backfill has already passed, so only the relay can bring their changes across (a relay
   * that acknowledges failed applies then loses them, and the judge must see it). Set with {@link setBehind}.
   */
  private behindKeys: Map<string, string[]> | null = null;

  /**
   * Starts (`copied`: rows the backfill has copied per entity) or ends (`null`) the writes behind the cursor. The
   * backfill copies in key order, so the first rows of the live keys sorted as the stores sort them (integers by
   * value, tuples column by column, lower-case UUID text bytewise — as PostgreSQL's uuid, MariaDB's CHAR(36) and
   * SQLite's TEXT order them) are behind its cursor; `fraction` (default 0.8) keeps a margin for the keys inserted
   * and deleted since those rows were copied.
   */
  setBehind(copied: Map<string, number> | null, fraction = 0.8): void {
    if (!copied) {
      this.behindKeys = null;
      return;
    }
    const out = new Map<string, string[]>();
    for (const e of CHAOS_ENTITIES) {
      const n = Math.floor((copied.get(e.name) ?? 0) * fraction);
      if (n < 1) continue;
      const set = this.live.get(e.name)!;
      const cmp = (a: Row, b: Row) => {
        for (const c of e.key) {
          const x = a[c] as number | string;
          const y = b[c] as number | string;
          if (x !== y) return x < y ? -1 : 1;
        }
        return 0;
      };
      const sorted = [...set.values].sort((a, b) => cmp(a[1], b[1]));
      out.set(
        e.name,
        sorted.slice(0, n).map(([k]) => k),
      );
    }
    this.behindKeys = out;
  }

  constructor(private readonly o: WorkloadOptions) {
    for (const e of CHAOS_ENTITIES) this.live.set(e.name, new KeySet());
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.o.dialect !== 'sqlite') return fn();
    const run = this.turn.then(fn, fn);
    this.turn = run.catch(() => {});
    return run;
  }

  /** Inserts the seeded rows (version 1) and records them in the history at `at` = -1. */
  async seedRows(c: AppConn): Promise<void> {
    const r = mulberry32(streamSeed(this.o.seed, STREAM.rows));
    const counts = seededCounts(this.o.rows);
    for (const e of CHAOS_ENTITIES) {
      const n = counts[e.name]!;
      const set = this.live.get(e.name)!;
      let batch: Row[] = [];
      const flush = async () => {
        if (!batch.length) return;
        const cols = Object.keys(batch[0]!);
        const one = `(${cols.map(() => '?').join(', ')})`;
        await c.q(
          `INSERT INTO ${e.table} (${cols.join(', ')}) VALUES ${batch.map(() => one).join(', ')}`,
          batch.flatMap((b) => cols.map((col) => b[col])),
        );
        batch = [];
      };
      if (this.o.dialect === 'sqlite') await c.q('BEGIN IMMEDIATE');
      for (let i = 0; i < n; i++) {
        const key = seededKey(e, i, r);
        const vals = e.values(r, key, 1);
        const k = judgeEntity(e.name).keyOf(vals);
        this.o.history.commit(e.name, k, { version: 1n, digest: expectedDigest(e.name, vals), at: -1 });
        this.reserved.add(`${e.name} ${k}`);
        set.add(k, key);
        if (set.hot.length < 10 && e.name !== 'devices') set.hot.push(k);
        batch.push(vals);
        if (batch.length >= 400) await flush();
      }
      await flush();
      if (this.o.dialect === 'sqlite') await c.q('COMMIT');
      this.range.set(e.name, n);
      this.next.set(e.name, e.name === 'memberships' ? Math.ceil(n / ORGS) : 2 * n);
    }
  }

  /** A live key to update or delete: behind the backfill cursor while {@link setBehind} says so, else any. */
  private pick(e: ChaosEntity, set: KeySet, r: () => number): string | undefined {
    const behind = this.behindKeys?.get(e.name);
    if (behind?.length) {
      for (let tries = 0; tries < 4; tries++) {
        const k = behind[Math.floor(r() * behind.length)]!;
        if (set.values.has(k)) return k;
      }
    }
    return set.pick(r);
  }

  /** A key no row ever had: odd integers in the seeded range, new ones past it, or a fresh UUID. */
  private newKey(e: ChaosEntity, r: () => number): { key: Row; k: string } | null {
    for (let tries = 0; tries < 8; tries++) {
      let key: Row;
      if (e.name === 'devices') key = { id: uuidFrom(r) };
      else {
        const behind = r() < 0.5;
        const ahead = () => {
          const n = this.next.get(e.name)! + 1;
          this.next.set(e.name, n);
          return n;
        };
        if (e.name === 'memberships') {
          const perOrg = Math.ceil(this.range.get(e.name)! / ORGS);
          key = {
            org_id: 1 + Math.floor(r() * ORGS),
            user_no: behind ? 2 * Math.floor(r() * perOrg) + 1 : 2 * ahead() + 1,
          };
        } else key = { id: behind ? 2 * Math.floor(r() * this.range.get(e.name)!) + 1 : ahead() };
      }
      const k = judgeEntity(e.name).keyOf(key);
      if (this.reserved.has(`${e.name} ${k}`)) continue;
      this.reserved.add(`${e.name} ${k}`);
      return { key, k };
    }
    return null;
  }

  /** Records a committed action in the history at `at`. */
  private record(action: Action | null, at: number): void {
    if (!action) return;
    for (const w of action.writes) {
      this.o.history.commit(w.entity, w.key, { version: w.version, digest: w.digest, at });
      if (w.insert) this.live.get(w.entity)!.add(w.key, w.keyRow);
    }
    for (const d of action.deletes) {
      this.o.history.delete(d.entity, d.key, at);
      this.live.get(d.entity)!.remove(d.key);
    }
  }

  /** Records a write that did not commit (`uncertain`: it may have) in the history. */
  private notCommitted(e: unknown, a: Action | null, uncertain: boolean): void {
    const code = String((e as { code?: unknown }).code ?? (e as Error).name);
    this.stats.errors[code] = (this.stats.errors[code] ?? 0) + 1;
    if (code === 'TANDEM_ERR_WRITE_FENCED') this.stats.fenced++;
    if (uncertain) this.stats.uncertain++;
    else this.stats.failed++;
    if (!a) return;
    const at = this.o.now();
    for (const w of a.writes)
      (uncertain ? this.o.history.uncertain : this.o.history.fail).call(this.o.history, w.entity, w.key, {
        version: w.version,
        digest: w.digest,
        at,
      });
    if (uncertain)
      for (const d of a.deletes) this.o.history.uncertain(d.entity, d.key, { version: 0n, digest: 'deleted', at });
  }

  /**
   * Runs one transaction through the dual writer and records its outcome in the history: the one-path form on the
   * application's legacy connection `c`, or (`--cutover`) the two-path form on the store that is primary.
   */
  private async tx(
    c: AppConn,
    r: () => number,
    fn: (q: Q, s: PathSchema, lock: string, changed: (e: ChaosEntity, key: Row) => void) => Promise<Action | null>,
  ): Promise<void> {
    if (this.o.cutover) return this.tx2(r, fn);
    let action: Action | null = null;
    const st = { committing: false, committed: false };
    const base = c.adapter;
    const record = () => this.record(action, this.o.now());
    const adapter: TxAdapter = {
      dialect: base.dialect,
      managed: true,
      async query(sql, params) {
        if (sql !== 'COMMIT') return base.query(sql, params);
        st.committing = true;
        const rows = await base.query(sql, params);
        st.committed = true;
        record();
        return rows;
      },
    };
    const lock = this.o.dialect === 'sqlite' ? '' : ' FOR UPDATE';
    try {
      await this.serial(() =>
        this.o.dual.write(adapter, async (tx) => {
          action = await fn(c.q, LEGACY_SCHEMA, lock, (e, key) => tx.changed(e.name, keyInput(e, key)));
        }),
      );
      if (action) this.stats.writes++;
    } catch (e) {
      this.notCommitted(e, action, st.committing && !st.committed);
    }
  }

  /** The two-path form of {@link tx}: `dual.write({ legacy, new })`. */
  private async tx2(
    r: () => number,
    fn: (q: Q, s: PathSchema, lock: string, changed: (e: ChaosEntity, key: Row) => void) => Promise<Action | null>,
  ): Promise<void> {
    const cut = this.o.cutover!;
    let action: Action | null = null;
    let ran: { side: 'legacy' | 'new'; startAt: number } | null = null;
    let pathDone = false;
    const path = (schema: PathSchema) => async (tx: WriteTx) => {
      action = null;
      pathDone = false;
      ran = { side: tx.side, startAt: this.o.now() };
      const dialect = tx.side === 'legacy' ? this.o.dialect : cut.target;
      const q: Q = async (sql, params = []) => {
        const text = placeholders(dialect, sql);
        if (/^\s*SELECT/i.test(text)) return tx.query(text, params);
        await tx.execute(text, params);
        return [];
      };
      action = await fn(q, schema, ' FOR UPDATE', (e, key) => tx.changed(e.name, keyInput(e, key)));
      pathDone = true;
    };
    const onFence = r() < (cut.failShare ?? 0.1) ? 'fail' : 'wait';
    try {
      await this.o.dual.write({ legacy: path(LEGACY_SCHEMA), new: path(NEW_SCHEMA), onFence });
      const doneAt = this.o.now();
      this.record(action, doneAt);
      if (action) {
        this.stats.writes++;
        const seen = ran as { side: 'legacy' | 'new'; startAt: number } | null;
        if (seen) this.commits.push({ side: seen.side, startAt: seen.startAt, doneAt });
      }
    } catch (e) {
      // an error after the path returned came from the outbox insert or the COMMIT: it may have committed
      this.notCommitted(e, action, pathDone);
    }
  }

  /** One writer: random operations over all entities until `stop`. */
  async writer(c: AppConn, w: number): Promise<void> {
    const r = mulberry32(streamSeed(this.o.seed, STREAM.writers * 1000 + w));
    while (!this.stop) {
      // SQLite statements complete synchronously: yield so timers (the schedule, the stop) get their turn
      if (this.o.dialect === 'sqlite') await new Promise((res) => setTimeout(res, 1));
      let x = r();
      let e = CHAOS_ENTITIES[0]!;
      for (const cand of CHAOS_ENTITIES)
        if ((x -= cand.weight) < 0) {
          e = cand;
          break;
        }
      const set = this.live.get(e.name)!;
      const op = r();
      if (op < 0.5 || (op >= 0.85 && e.name !== 'users')) {
        const k = this.pick(e, set, r);
        if (!k) continue;
        const key = set.values.get(k)!;
        await this.tx(c, r, async (q, s, lock, changed) => {
          const rows = await q(s.readSql(e, lock), keyParams(e, key));
          if (!rows.length) return null;
          const v = Number(rows[0]!.counter) + 1;
          const vals = e.values(r, key, v);
          if (e.name === 'users') vals.email = rows[0]!.email;
          await updateRows(q, s, e, vals);
          changed(e, key);
          return {
            writes: [{ entity: e.name, key: k, keyRow: key, version: BigInt(v), digest: expectedDigest(e.name, vals) }],
            deletes: [],
          };
        });
      } else if (op < 0.72) {
        const nk = this.newKey(e, r);
        if (!nk) continue;
        await this.tx(c, r, async (q, s, _lock, changed) => {
          const vals = e.values(r, nk.key, 1);
          await insertRows(q, s, e, vals);
          changed(e, nk.key);
          return {
            writes: [
              {
                entity: e.name,
                key: nk.k,
                keyRow: nk.key,
                version: 1n,
                digest: expectedDigest(e.name, vals),
                insert: true,
              },
            ],
            deletes: [],
          };
        });
      } else if (op < 0.85) {
        const k = this.pick(e, set, r);
        if (!k || set.hot.includes(k)) continue;
        const key = set.values.get(k)!;
        await this.tx(c, r, async (q, s, lock, changed) => {
          const rows = await q(s.readSql(e, lock), keyParams(e, key));
          if (!rows.length) return null;
          await deleteRows(q, s, e, key);
          changed(e, key);
          return { writes: [], deletes: [{ entity: e.name, key: k }] };
        });
      } else {
        // two users swap emails in one transaction (the target's unique index on email_address sees a conflict)
        const a = set.pick(r),
          b = set.pick(r);
        if (!a || !b || a === b) continue;
        const ka = set.values.get(a)!,
          kb = set.values.get(b)!;
        await this.tx(c, r, async (q, s, lock, changed) => {
          const rows = await q(s.pairSql(lock), [ka.id, kb.id]);
          if (rows.length !== 2) return null;
          const [x, y] = rows as [Row, Row];
          await q(s.emailSql, [`swap-${x.id}-${this.stats.writes}@tmp.example`, x.id]);
          const writes: Action['writes'] = [];
          for (const [me, other] of [
            [y, x],
            [x, y],
          ] as const) {
            const key = { id: Number(me.id) };
            const v = Number(me.version) + 1;
            const vals = { ...e.values(r, key, v), email: other.email };
            await updateRows(q, s, e, vals);
            changed(e, key);
            const k = judgeEntity('users').keyOf(key);
            writes.push({
              entity: 'users',
              key: k,
              keyRow: key,
              version: BigInt(v),
              digest: expectedDigest('users', vals),
            });
          }
          return { writes, deletes: [] };
        });
      }
    }
  }

  /**
   * Duplicated and reordered deliveries: `count` changes of random live keys queued again in the
   * legacy outbox, out of order, through the application's connection. Returns how many were queued.
   */
  async duplicate(
    c: AppConn,
    count: number,
    r: () => number,
    outboxSql: (entries: ReturnType<DualWriter['entry']>[]) => { sql: string; params: unknown[] },
    /** Straight into the legacy outbox through `c` even in the `--cutover` mode (the fence-break test). */
    direct = false,
  ): Promise<number> {
    const entries: ReturnType<DualWriter['entry']>[] = [];
    for (let i = 0; i < count; i++) {
      const e = CHAOS_ENTITIES[Math.floor(r() * CHAOS_ENTITIES.length)]!;
      const set = this.live.get(e.name)!;
      const k = set.pick(r);
      if (!k) continue;
      entries.push(this.o.dual.entry(e.name, keyInput(e, set.values.get(k)!)));
    }
    entries.sort(() => r() - 0.5);
    if (!entries.length) return 0;
    if (this.o.cutover && !direct) {
      // into the outbox of the store that is primary, inside the fence: the keys marked, nothing else written
      const mark = async (tx: WriteTx) => {
        for (const x of entries) tx.changed(x.entity, x.keyValues);
      };
      await this.o.dual.write({ legacy: mark, new: mark });
      return entries.length;
    }
    const st = outboxSql(entries);
    await this.serial(() => c.q(st.sql.replace(/\$\d+/g, '?'), st.params));
    return entries.length;
  }
}
