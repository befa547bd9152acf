/**
 * The synthetic write load of a rehearsal (and of the demo's simulated application), with its own history of
 * what it committed, kept apart from anything Tandem stores — the model is the chaos harness (chaos/history.ts,
 * chaos/judge.ts).
 *
 * **Which rows it touches.** Only rows it creates itself: keys from {@link LOAD_KEY_BASE} upwards (integer keys)
 * or starting with {@link LOAD_KEY_PREFIX} (text keys), under a range no existing row may hold — the load refuses
 * to start (`TANDEM_ERR_USAGE`, nothing written) when either store already has a row in it. Existing rows are
 * never read for writing, updated or deleted. At the end {@link SyntheticLoad.cleanup} deletes every row it
 * created, through the same writer, so that the outbox carries the deletes to the other store.
 *
 * **What it writes.** Inserts, updates and deletes of the migration's eligible entities (single-column integer or
 * text key, a version column, a text column mapped by a rename into the entity's first target table — the
 * "payload" — required foreign keys of one column given the smallest existing referenced value), through the phase-aware writer: the legacy path writes the source
 * table, the new path the target tables (values mapped by the entity's own mapping). Every committed write is
 * recorded (entity, key, version, digest of the payload, commit time), and every failed one.
 *
 * **The check** ({@link checkLoad}) reads both stores with plain SQL (`SELECT key, payload`: the payload names the write, key and version; no apply or
 * verify code) and counts, per key whose last committed write is known: missing or older on the store that is
 * primary at the end (lost), and not carried to the other store (lost there); a deleted key present (resurrected).
 */
import { createHash, randomUUID } from 'node:crypto';
import { sleep } from '../core/async.js';
import { TandemError } from '../core/errors.js';
import { mapRow, specSource, type ResolvedEntity } from '../core/mapping.js';
import type { ColumnInfo, Executor, Row, Store } from '../stores/types.js';

/** First key of the integer range the load creates rows in (fits a 4-byte signed integer). */
export const LOAD_KEY_BASE = 1_900_000_000;
/** Size of the integer key range reserved to the load. */
export const LOAD_KEY_SPAN = 200_000_000;
/** Integer keys one run of the load reserves (inserts stop when they are used up). */
export const KEY_BLOCK = 100_000;
/** Prefix of the text keys the load creates. */
export const LOAD_KEY_PREFIX = 'tandem-load-';

/** The transaction a write path gets: run statements, mark the changed key. */
export interface LoadTx extends Executor {
  changed(entity: string, key: unknown): void;
}

/**
 * How the load writes: the phase-aware form of the dual writer (`dual.write({ legacy, new })`) runs the path of
 * the current primary inside the fence and resolves when it committed; it throws when the write failed (rolled
 * back).
 */
export interface LoadWriter {
  /** The SQL dialect of each store (placeholders, quoting), for the statements of each path. */
  sql: { legacy: Store['sql']; new: Store['sql'] };
  write(paths: { legacy: (tx: LoadTx) => Promise<void>; new: (tx: LoadTx) => Promise<void> }): Promise<unknown>;
}

/** How one entity is written and read back by the load (derived from the resolved entity and its config). */
export interface LoadEntity {
  entity: ResolvedEntity;
  /** Source side: table, key, version, payload column names. */
  legacy: { table: string; key: string; version: string; payload: string };
  /** New side (first target table): the same columns as mapped (the version, when the mapping copies it). */
  next: { table: string; key: string; version: string | null; payload: string };
  keyKind: 'integer' | 'text';
  payloadMax: number;
  /** Required single-column foreign keys: the column, and the table and column it references (on legacy). */
  references: { column: string; table: string; refColumn: string }[];
  /** The existing value each required foreign-key column is given (read, never written, by the load). */
  refValues: Record<string, unknown>;
}

/** An entity the load leaves alone, and why. */
export interface SkippedEntity {
  entity: string;
  reason: string;
}

/** One committed or failed write. `at`: ms since the load started. */
export interface LoadWrite {
  version: number;
  digest: string;
  at: number;
}

interface KeyState {
  committed: LoadWrite[];
  deletedAt?: number;
  failed: number;
}

/** The load's counts. */
export interface LoadCounts {
  committed: number;
  inserts: number;
  updates: number;
  deletes: number;
  failed: number;
  /** Writes that found the fence and failed with TANDEM_ERR_WRITE_FENCED (counted in `failed` too). */
  fenced: number;
}

/** What {@link checkLoad} found. */
export interface LoadCheck {
  /** Keys checked (every key the load wrote). */
  keys: number;
  /** Committed writes of the history. */
  committed: number;
  /** Keys whose last committed write is missing or older on the primary at the end, or on the other store. */
  lostWrites: number;
  lostOnPrimary: number;
  lostOnSecondary: number;
  /** Deleted keys present on a store. */
  resurrected: number;
  /** Keys of the load's range on a store that no committed write made (a failed write that stuck, a stranger). */
  extra: number;
  /** Up to 5 lost keys with a short history (keys are the load's own synthetic keys, never an existing row's). */
  examples: string[];
}

const digestOf = (payload: string) => createHash('sha1').update(payload).digest('hex').slice(0, 16);

/**
 * Finds which entities the load can write and how. An entity is eligible when its key is one integer (4 or 8
 * bytes) or text column, it has a version column of integer type, and a text column other than the key is mapped
 * by a plain rename into its first target table, with the key mapped by rename too (the version as well, when the
 * mapping copies it: it is then kept up on the new path), and its
 * required foreign keys are of one column (given an existing referenced value). Others are skipped with a reason.
 */
export function loadEntities(entities: ResolvedEntity[]): { entities: LoadEntity[]; skipped: SkippedEntity[] } {
  const out: LoadEntity[] = [];
  const skipped: SkippedEntity[] = [];
  for (const e of entities) {
    const skip = (reason: string) => skipped.push({ entity: e.name, reason });
    if (e.key.length !== 1) {
      skip('composite key');
      continue;
    }
    const kc = e.keyColumns[0]!;
    const keyKind =
      kc.category === 'integer' && (kc.intBytes ?? 8) >= 4 ? 'integer' : kc.category === 'text' ? 'text' : null;
    if (!keyKind) {
      skip(`key column type ${kc.dataType}`);
      continue;
    }
    if (e.version?.category !== 'integer') {
      skip('no integer version column');
      continue;
    }
    const t = e.targets[0];
    if (!t) {
      skip('no target table');
      continue;
    }
    const renamed = (src: string): string | null => {
      for (const [col, spec] of Object.entries(t.config.columns ?? {}))
        if (specSource(spec as never) === src && (typeof spec === 'string' || !('cast' in spec && spec.cast)))
          return col;
      return null;
    };
    const required = new Set(e.source.columns.filter((c) => !c.nullable).map((c) => c.name));
    const fks = e.source.foreignKeys.filter((f) => f.columns.some((c) => required.has(c)));
    if (fks.some((f) => f.columns.length !== 1 || f.columns[0] === kc.name)) {
      skip('a required composite foreign key, or a key that is a foreign key');
      continue;
    }
    const references = fks.map((f) => ({ column: f.columns[0]!, table: f.refTable, refColumn: f.refColumns[0]! }));
    const payload = e.source.columns.find(
      (c) =>
        c.category === 'text' &&
        c.name !== kc.name &&
        !e.sensitive.has(c.name) &&
        (c.maxLength === undefined || c.maxLength >= 40) &&
        renamed(c.name),
    );
    const nk = renamed(kc.name);
    const nv = renamed(e.version.name);
    if (!payload || !nk) {
      skip('no text column, key or version mapped by a rename into the first target table');
      continue;
    }
    if (e.source.columns.some((c) => !c.generated && !c.nullable && valueFor(c, 1, '', 1) === undefined)) {
      skip('a required column of a type the load cannot fill');
      continue;
    }
    out.push({
      entity: e,
      legacy: { table: e.source.name, key: kc.name, version: e.version.name, payload: payload.name },
      next: { table: t.table.name, key: nk, version: nv, payload: renamed(payload.name)! },
      keyKind,
      payloadMax: payload.maxLength ?? 200,
      references,
      refValues: {},
    });
  }
  return { entities: out, skipped };
}

/** A value for a required column of a row the load inserts; undefined when the type is not one it fills. */
function valueFor(c: ColumnInfo, key: unknown, payload: string, version: number): unknown {
  switch (c.category) {
    case 'integer':
      return 1;
    case 'decimal':
      return c.scale ? `1.${'0'.repeat(c.scale)}` : '1';
    case 'float':
      return 1.5;
    case 'text': {
      const s = `${LOAD_KEY_PREFIX}${String(key)}-${c.name}`;
      return c.maxLength ? s.slice(-c.maxLength) : s;
    }
    case 'boolean':
      return false;
    case 'timestamp':
    case 'timestamptz':
      return '2026-01-01 00:00:00';
    case 'date':
      return '2026-01-01';
    case 'time':
      return '00:00:00';
    case 'json':
      return '{}';
    case 'uuid':
      return randomUUID();
    case 'binary':
      return Buffer.from('tandem-load');
    default:
      void payload;
      void version;
      return undefined;
  }
}

/** Options of {@link SyntheticLoad}. */
export interface LoadOptions {
  /** Target rate of writes per second over all writers. Default 100. */
  writesPerSecond?: number;
  /** Concurrent writers (default: rate / 40, 2 to 16). Each owns its keys, so a key's writes never race. */
  writers?: number;
  /** Share of the keys per writer kept alive (inserts until this many, then updates and some deletes). Default 20. */
  liveKeysPerWriter?: number;
  /** Where the integer key range starts (default {@link LOAD_KEY_BASE}). */
  keyBase?: number;
  /** How many integer keys the range holds (default {@link LOAD_KEY_SPAN}); text keys are told apart by prefix. */
  keySpan?: number;
  /** Called on every failed write with its error (the load goes on). */
  onError?: (e: unknown) => void;
}

/**
 * A synthetic write load on the eligible entities of a migration (see the module comment): `start()`, `pause()`
 * / `resume()` (a pause resolves once no write is in flight), `stop()`, `cleanup()` (deletes every row it
 * created, through the writer), and `history` for {@link checkLoad}.
 */
export class SyntheticLoad {
  readonly counts: LoadCounts = { committed: 0, inserts: 0, updates: 0, deletes: 0, failed: 0, fenced: 0 };
  /** entity → key (canonical text) → state. */
  readonly history = new Map<string, Map<string, KeyState>>();
  /** Every committed write's start and end, ms since the load started (the last 100,000). */
  readonly timings: { start: number; end: number }[] = [];
  readonly #t0 = performance.now();
  #running = false;
  #paused = false;
  #inflight = 0;
  #workers: Promise<void>[] = [];
  #resume: (() => void) | null = null;
  #resumed: Promise<void> = Promise.resolve();
  readonly #writers: number;
  readonly #rate: number;
  readonly #live: number;
  readonly #base: number;
  readonly #run = randomUUID().slice(0, 8);
  #offset = 0;
  #block = Number.MAX_SAFE_INTEGER;
  /** Keys alive per writer and entity. */
  readonly #alive: Map<string, { key: unknown; version: number }>[][];

  constructor(
    readonly writer: LoadWriter,
    readonly entities: LoadEntity[],
    readonly o: LoadOptions = {},
  ) {
    if (!entities.length)
      throw new TandemError('USAGE', 'the synthetic load has no entity to write (none is eligible, see the report)');
    this.#rate = Math.max(1, o.writesPerSecond ?? 100);
    this.#writers = o.writers ?? Math.min(16, Math.max(2, Math.ceil(this.#rate / 40)));
    this.#live = o.liveKeysPerWriter ?? 20;
    this.#base = o.keyBase ?? LOAD_KEY_BASE;
    this.#alive = Array.from({ length: this.#writers }, () => entities.map(() => new Map()));
  }

  /** How many integer keys the load's range holds. */
  get span(): number {
    return this.o.keySpan ?? LOAD_KEY_SPAN;
  }

  /** ms since the load was created. */
  now(): number {
    return performance.now() - this.#t0;
  }

  #state(entity: string, key: string): KeyState {
    let m = this.history.get(entity);
    if (!m) this.history.set(entity, (m = new Map()));
    let s = m.get(key);
    if (!s) m.set(key, (s = { committed: [], failed: 0 }));
    return s;
  }

  /** The key range of the load on each store is empty (or throws TANDEM_ERR_USAGE, writing nothing). */
  async assertRangeEmpty(legacy: Executor, next: Executor): Promise<void> {
    // a required foreign key gets the smallest existing referenced value (read only; backfill copied it to new)
    for (const le of this.entities)
      for (const r of le.references) {
        const q = this.writer.sql.legacy;
        const rows = await legacy.query<{ v: unknown }>(
          `SELECT ${q.ident(r.refColumn)} AS v FROM ${q.table(r.table)} ORDER BY ${q.ident(r.refColumn)} LIMIT 1`,
        );
        if (!rows.length)
          throw new TandemError(
            'USAGE',
            `the synthetic load cannot write ${le.entity.name}: ${r.table}, which ${le.legacy.table}.${r.column} references, is empty; nothing written`,
          );
        le.refValues[r.column] = rows[0]!.v;
      }
    for (const le of this.entities)
      for (const [side, store, t, q] of [
        ['legacy', legacy, le.legacy, this.writer.sql.legacy],
        ['new', next, le.next, this.writer.sql.new],
      ] as const) {
        const n = await countRange(store, q, t, le.keyKind, this.#base, this.span);
        if (n > 0)
          throw new TandemError(
            'USAGE',
            `the synthetic load's key range is not empty: ${n} row(s) of ${t.table} on the ${side} store have ${
              le.keyKind === 'integer'
                ? `${t.key} from ${this.#base} to ${this.#base + this.span - 1}`
                : `${t.key} starting with '${LOAD_KEY_PREFIX}'`
            } (left by an interrupted rehearsal? delete them first); nothing written`,
          );
      }
  }

  /**
   * Reserves this run's block of integer keys in the control plane (state row `load_keys:<base>`), so that no key
   * is ever used twice across runs: a key deleted by an earlier run keeps its tombstone in the version ledger, and
   * a row inserted again under it would (rightly) never be applied. Call before {@link start}. Throws
   * TANDEM_ERR_USAGE when the range is used up.
   */
  async reserveKeys(control: Store, block = KEY_BLOCK): Promise<void> {
    const name = `load_keys:${this.#base}`;
    const t = control.controlTable('state');
    const p = (i: number) => control.sql.param(i);
    this.#offset = await control.transaction(async (tx) => {
      const rows = await tx.query<{ value: string }>(`SELECT value FROM ${t} WHERE name = ${p(1)}`, [name]);
      const at = rows.length ? Number(rows[0]!.value) : 0;
      if (at + block > this.span)
        throw new TandemError(
          'USAGE',
          `the synthetic load's key range from ${this.#base} is used up (${at} keys used by earlier runs); give another keyBase`,
        );
      if (rows.length)
        await tx.execute(`UPDATE ${t} SET value = ${p(1)} WHERE name = ${p(2)}`, [String(at + block), name]);
      else await tx.execute(`INSERT INTO ${t} (name, value) VALUES (${p(1)}, ${p(2)})`, [name, String(at + block)]);
      return at;
    });
    this.#block = block;
  }

  /** Starts the writers. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#workers = Array.from({ length: this.#writers }, (_, i) => this.#work(i));
  }

  /** Holds the writers and resolves once no write is in flight. */
  async pause(): Promise<void> {
    if (!this.#paused) {
      this.#paused = true;
      this.#resumed = new Promise((r) => (this.#resume = r));
    }
    while (this.#inflight > 0) await sleep(5);
  }

  /**
   * Stops writing key `key` (its `String` form) of `entity`: the writers no longer update or delete it, and its
   * history stays as it is, for {@link checkLoad} to judge. For a fault injected on purpose (a row removed behind
   * the load's back), so that a later write of the load cannot cover it up.
   */
  retire(entity: string, key: string): void {
    const ei = this.entities.findIndex((le) => le.entity.name === entity);
    if (ei < 0) return;
    for (const perWriter of this.#alive) perWriter[ei]!.delete(key);
  }

  /** Lets the writers go on after {@link pause}. */
  resume(): void {
    this.#paused = false;
    this.#resume?.();
    this.#resume = null;
  }

  /** Stops the writers after the writes in flight. */
  async stop(): Promise<void> {
    this.#running = false;
    this.resume();
    await Promise.all(this.#workers);
  }

  async #work(w: number): Promise<void> {
    const period = (1000 * this.#writers) / this.#rate;
    let next = performance.now() + Math.random() * period;
    let n = 0;
    while (this.#running) {
      if (this.#paused) {
        await this.#resumed;
        next = performance.now();
        continue;
      }
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      if (!this.#running || this.#paused) continue;
      next += period;
      // a writer that fell behind (held at a fence) does not burst to catch up
      if (next < performance.now() - period) next = performance.now();
      const ei = n++ % this.entities.length;
      const alive = this.#alive[w]![ei]!;
      const r = Math.random();
      let op: 'insert' | 'update' | 'delete' =
        alive.size < this.#live ? 'insert' : r < 0.7 ? 'update' : r < 0.85 ? 'delete' : 'insert';
      // the run's block of keys used up: no more inserts (a key is never used twice, see reserveKeyBlock)
      if (op === 'insert' && ((this.#seq[w] ?? 0) + 1) * this.#writers + w >= this.#block) {
        if (!alive.size) continue;
        op = 'update';
      }
      await this.#one(w, ei, op);
    }
  }

  #newKey(w: number, le: LoadEntity, seq: number): unknown {
    if (le.keyKind === 'integer') return this.#base + this.#offset + seq * this.#writers + w;
    return `${LOAD_KEY_PREFIX}${this.#run}-${w}-${seq}`;
  }

  readonly #seq: number[] = [];

  async #one(w: number, ei: number, op: 'insert' | 'update' | 'delete', pick?: unknown): Promise<boolean> {
    const le = this.entities[ei]!;
    const alive = this.#alive[w]![ei]!;
    let key: unknown;
    let version: number;
    if (op === 'insert') {
      const seq = (this.#seq[w] = (this.#seq[w] ?? 0) + 1);
      key = this.#newKey(w, le, seq);
      version = 1;
    } else {
      const ks = pick !== undefined ? String(pick) : [...alive.keys()][Math.floor(Math.random() * alive.size)];
      if (ks === undefined) return false;
      const cur = alive.get(ks)!;
      key = cur.key;
      version = cur.version + 1;
    }
    const ks = String(key);
    const payload = `${LOAD_KEY_PREFIX}${ks}:${version}:${randomUUID().slice(0, 8)}`.slice(-le.payloadMax);
    const st = this.#state(le.entity.name, ks);
    const write: LoadWrite = { version, digest: op === 'delete' ? 'deleted' : digestOf(payload), at: 0 };
    this.#inflight++;
    const t = performance.now();
    try {
      await this.writer.write({
        legacy: (tx) => legacyWrite(this.writer.sql.legacy, tx, le, op, key, version, payload),
        new: (tx) => newWrite(this.writer.sql.new, tx, le, op, key, version, payload),
      });
      write.at = this.now();
      this.timings.push({ start: t - this.#t0, end: write.at });
      if (this.timings.length > 100_000) this.timings.shift();
      this.counts.committed++;
      if (op === 'delete') {
        st.deletedAt = write.at;
        alive.delete(ks);
        this.counts.deletes++;
      } else {
        st.committed.push(write);
        alive.set(ks, { key, version });
        if (op === 'insert') this.counts.inserts++;
        else this.counts.updates++;
      }
      return true;
    } catch (e) {
      st.failed++;
      this.counts.failed++;
      if ((e as { code?: string }).code === 'TANDEM_ERR_WRITE_FENCED') this.counts.fenced++;
      this.o.onError?.(e);
      return false;
    } finally {
      this.#inflight--;
    }
  }

  /**
   * The latency the load itself saw of the writes that ran (at least partly) between `from` and `to` (ms since
   * the load started): count, p99 and max, ms. A cross-check of the fence's own figure (writes that waited on a
   * lock rather than reading the closed fence are counted here too).
   */
  latencyBetween(from: number, to: number): { writes: number; p99Ms: number; maxMs: number } {
    const xs = this.timings
      .filter((w) => w.start < to && w.end > from)
      .map((w) => w.end - w.start)
      .sort((a, b) => a - b);
    if (!xs.length) return { writes: 0, p99Ms: 0, maxMs: 0 };
    const p99 = xs[Math.min(xs.length - 1, Math.ceil(xs.length * 0.99) - 1)]!;
    return { writes: xs.length, p99Ms: Math.round(p99), maxMs: Math.round(xs[xs.length - 1]!) };
  }

  /**
   * Deletes every row the load created and still alive, through the writer (so the outbox carries the deletes).
   * Call after {@link stop}. A delete that fails is tried again (up to 3 times); after `budgetMs` (default 30 s)
   * it stops (the caller counts the rows left). Returns how many deletes it ran.
   */
  async cleanup(budgetMs = 30_000): Promise<number> {
    let n = 0;
    const until = performance.now() + budgetMs;
    for (let w = 0; w < this.#writers; w++)
      for (let ei = 0; ei < this.entities.length; ei++)
        for (const ks of [...this.#alive[w]![ei]!.keys()]) {
          // a migration stuck behind a closed fence must not hold the cleanup for ever: the rows left are counted
          if (performance.now() > until) return n;
          for (let attempt = 0; attempt < 3; attempt++) if (await this.#one(w, ei, 'delete', ks)) break;
          n++;
        }
    return n;
  }
}

async function countRange(
  store: Executor,
  q: Pick<Store['sql'], 'ident' | 'table'>,
  t: { table: string; key: string },
  kind: 'integer' | 'text',
  base: number,
  span: number,
): Promise<number> {
  const k = q.ident(t.key);
  const where = kind === 'integer' ? `${k} >= ${base} AND ${k} < ${base + span}` : `${k} LIKE '${LOAD_KEY_PREFIX}%'`;
  const r = await store.query<{ n: unknown }>(`SELECT COUNT(*) AS n FROM ${q.table(t.table)} WHERE ${where}`);
  return Number(r[0]?.n ?? 0);
}

function sourceRow(le: LoadEntity, key: unknown, version: number, payload: string): Row {
  const row: Row = {};
  for (const c of le.entity.source.columns) {
    if (c.name === le.legacy.key) row[c.name] = key;
    else if (c.name === le.legacy.version) row[c.name] = version;
    else if (c.name === le.legacy.payload) row[c.name] = payload;
    else if (c.name in le.refValues) row[c.name] = le.refValues[c.name];
    else if (!c.generated) row[c.name] = c.nullable ? null : valueFor(c, key, payload, version);
  }
  return row;
}

async function legacyWrite(
  q: Store['sql'],
  tx: LoadTx,
  le: LoadEntity,
  op: 'insert' | 'update' | 'delete',
  key: unknown,
  version: number,
  payload: string,
): Promise<void> {
  const t = q.table(le.legacy.table);
  const k = q.ident(le.legacy.key);
  if (op === 'insert') {
    const row = sourceRow(le, key, version, payload);
    const cols = Object.keys(row);
    await tx.execute(
      `INSERT INTO ${t} (${cols.map((c) => q.ident(c)).join(', ')}) VALUES (${cols.map((_, i) => q.param(i + 1)).join(', ')})`,
      cols.map((c) => row[c]),
    );
  } else if (op === 'update') {
    const n = await tx.execute(
      `UPDATE ${t} SET ${q.ident(le.legacy.payload)} = ${q.param(1)}, ${q.ident(le.legacy.version)} = ${q.param(2)} WHERE ${k} = ${q.param(3)}`,
      [payload, version, key],
    );
    if (n !== 1) throw new Error(`load: update of its own row changed ${n} rows`);
  } else {
    const n = await tx.execute(`DELETE FROM ${t} WHERE ${k} = ${q.param(1)}`, [key]);
    if (n !== 1) throw new Error(`load: delete of its own row changed ${n} rows`);
  }
  tx.changed(le.entity.name, key);
}

async function newWrite(
  q: Store['sql'],
  tx: LoadTx,
  le: LoadEntity,
  op: 'insert' | 'update' | 'delete',
  key: unknown,
  version: number,
  payload: string,
): Promise<void> {
  const targets = le.entity.targets;
  if (op === 'insert') {
    const mapped = mapRow(le.entity, sourceRow(le, key, version, payload));
    for (let i = 0; i < targets.length; i++) {
      const cols = targets[i]!.columns.map((c) => c.name);
      await tx.execute(
        `INSERT INTO ${q.table(targets[i]!.table.name)} (${cols.map((c) => q.ident(c)).join(', ')}) VALUES (${cols.map((_, j) => q.param(j + 1)).join(', ')})`,
        mapped.values[i]!,
      );
    }
  } else if (op === 'update') {
    const n = le.next.version
      ? await tx.execute(
          `UPDATE ${q.table(le.next.table)} SET ${q.ident(le.next.payload)} = ${q.param(1)}, ${q.ident(le.next.version)} = ${q.param(2)} WHERE ${q.ident(le.next.key)} = ${q.param(3)}`,
          [payload, version, key],
        )
      : await tx.execute(
          `UPDATE ${q.table(le.next.table)} SET ${q.ident(le.next.payload)} = ${q.param(1)} WHERE ${q.ident(le.next.key)} = ${q.param(2)}`,
          [payload, key],
        );
    if (n !== 1) throw new Error(`load: update of its own row changed ${n} rows`);
  } else {
    // dependent target tables first (they reference the first one)
    for (let i = targets.length - 1; i >= 0; i--) {
      const kc = targets[i]!.keyColumns[0]!;
      await tx.execute(`DELETE FROM ${q.table(targets[i]!.table.name)} WHERE ${q.ident(kc)} = ${q.param(1)}`, [key]);
    }
  }
  tx.changed(le.entity.name, key);
}

interface Seen {
  version: number;
  digest: string;
}

async function readSide(
  store: Executor,
  q: Pick<Store['sql'], 'ident' | 'table'>,
  t: { table: string; key: string; payload: string },
  kind: 'integer' | 'text',
  base: number,
  span: number,
): Promise<Map<string, Seen>> {
  const k = q.ident(t.key);
  const where = kind === 'integer' ? `${k} >= ${base} AND ${k} < ${base + span}` : `${k} LIKE '${LOAD_KEY_PREFIX}%'`;
  const rows = await store.query<Row>(
    `SELECT ${k} AS k, ${q.ident(t.payload)} AS p FROM ${q.table(t.table)} WHERE ${where}`,
  );
  const out = new Map<string, Seen>();
  // the payload names the write that made it (`…<key>:<version>:<random>`): its version, and its digest
  for (const r of rows) {
    const p = String(r.p);
    out.set(String(r.k), { version: Number(p.split(':').at(-2) ?? -1), digest: digestOf(p) });
  }
  return out;
}

/**
 * The independent history check: reads the load's key range on both stores with plain SQL and compares it with
 * the load's history (see the module comment). Run it once the load stopped and the relay drained. `primary`
 * names the store that is primary now. `keyBase` must be the load's.
 */
export async function checkLoad(
  load: SyntheticLoad,
  stores: { legacy: { exec: Executor; sql: Store['sql'] }; new: { exec: Executor; sql: Store['sql'] } },
  primary: 'legacy' | 'new',
): Promise<LoadCheck> {
  const base = load.o.keyBase ?? LOAD_KEY_BASE;
  const c: LoadCheck = {
    keys: 0,
    committed: load.counts.committed,
    lostWrites: 0,
    lostOnPrimary: 0,
    lostOnSecondary: 0,
    resurrected: 0,
    extra: 0,
    examples: [],
  };
  for (const le of load.entities) {
    const legacy = await readSide(stores.legacy.exec, stores.legacy.sql, le.legacy, le.keyKind, base, load.span);
    const next = await readSide(stores.new.exec, stores.new.sql, le.next, le.keyKind, base, load.span);
    const sides = primary === 'legacy' ? { p: legacy, s: next } : { p: next, s: legacy };
    const hist = load.history.get(le.entity.name) ?? new Map<string, KeyState>();
    for (const [key, h] of hist) {
      c.keys++;
      if (h.deletedAt !== undefined) {
        if (sides.p.has(key) || sides.s.has(key)) c.resurrected++;
        continue;
      }
      if (!h.committed.length) continue;
      let last = h.committed[0]!;
      for (const w of h.committed) if (w.version > last.version) last = w;
      const bad = (x: Seen | undefined) =>
        !x || x.version < last.version || (x.version === last.version && x.digest !== last.digest);
      const lp = bad(sides.p.get(key));
      const ls = bad(sides.s.get(key));
      if (lp) c.lostOnPrimary++;
      if (ls) c.lostOnSecondary++;
      if (lp || ls) {
        c.lostWrites++;
        if (c.examples.length < 5)
          c.examples.push(
            `${le.entity.name} ${key}: last committed v${last.version}@${Math.round(last.at)}ms; primary ${show(sides.p.get(key))}, other ${show(sides.s.get(key))}`,
          );
      }
    }
    for (const m of [legacy, next]) for (const key of m.keys()) if (!hist.has(key)) c.extra++;
  }
  return c;
}

const show = (x: Seen | undefined) => (x ? `v${x.version}` : 'missing');

/** How many rows of the load's key range are left on a store (0 after {@link SyntheticLoad.cleanup} and a drain). */
export async function loadRowsLeft(
  load: SyntheticLoad,
  store: Executor,
  q: Store['sql'],
  side: 'legacy' | 'new',
): Promise<number> {
  let n = 0;
  for (const le of load.entities)
    n += await countRange(
      store,
      q,
      side === 'legacy' ? le.legacy : le.next,
      le.keyKind,
      load.o.keyBase ?? LOAD_KEY_BASE,
      load.span,
    );
  return n;
}
