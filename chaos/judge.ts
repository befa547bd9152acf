/**
 * The independent judge of the chaos suite. It imports database drivers only — no Tandem code: it reads the
 * target tables with plain SQL through the identity mapping the chaos entities use (its own copy of that mapping,
 * written here, not Tandem's), normalizes values with its own small rules, digests them, and compares every key
 * with the expected state the harness's history (chaos/history.ts) gives:
 *
 * - lost: the target's row is older than the last committed write of its key (or missing);
 * - resurrected: a key whose delete committed is present;
 * - phantom: the target holds a version no committed write made; different: right version, other values;
 * - extra: a target row of a key the application never wrote;
 * - divergent: all of the above, counted once per key.
 *
 * The watcher (`Watcher`) reads ALL keys' versions and digests during the run and counts regressions: a version
 * that goes down, a row that vanishes without a committed delete, a deleted key seen gone and then back.
 *
 * With `--cutover` the judge reads the legacy tables too (`side: 'legacy'`: plain SQL on them, each row turned into
 * the image the new store must hold by the judge's own mapping, `image()`), so both stores are compared with the
 * same history, and it checks the fence from data of its own (see {@link fenceClockViolations} and
 * {@link outboxCount}).
 *
 * Value rules (chaos column types are chosen so that these round-trip exactly): integers → decimal text, decimals
 * (scale 2) → the database's fixed-scale text, strings as they are, UUIDs lower-cased, NULL as null.
 */
import { createHash } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import mysql from 'mysql2/promise';
import pg from 'pg';
import type { History } from './history.js';

type Row = Record<string, unknown>;
/** A target row set of one key: `{ table: { column: text | null } | null }` (null: no row in that table). */
export type Image = Record<string, Record<string, string | null> | null>;

/** Plain-SQL access to the target, whatever its driver. */
export interface Reader {
  readonly dialect: 'postgres' | 'mysql' | 'pglite';
  query(sql: string): Promise<Row[]>;
  close(): Promise<void>;
}

/** Opens a reader: `postgres://…`, `mysql://…`, or `pglite:<dir>` (the directory must not be open elsewhere). */
export async function openReader(url: string): Promise<Reader> {
  if (url.startsWith('pglite:')) {
    const db = await PGlite.create(url.slice('pglite:'.length));
    return { dialect: 'pglite', query: async (sql) => (await db.query<Row>(sql)).rows, close: () => db.close() };
  }
  if (url.startsWith('mysql:') || url.startsWith('mariadb:')) {
    const c = await mysql.createConnection({
      uri: url.replace(/^mariadb:/, 'mysql:'),
      supportBigNumbers: true,
      bigNumberStrings: true,
    });
    return { dialect: 'mysql', query: async (sql) => (await c.query(sql))[0] as Row[], close: () => c.end() };
  }
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  c.on('error', () => {});
  return { dialect: 'postgres', query: async (sql) => (await c.query(sql)).rows, close: () => c.end() };
}

/** The judge's normal form of a value. */
export function norm(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (v instanceof Date) return v.toISOString();
  return String(v);
}

/** Digest of an image: sha1 of its JSON with tables and columns in sorted order. */
export function digestImage(img: Image): string {
  const sorted = Object.keys(img)
    .sort()
    .map((t) => [
      t,
      img[t] === null
        ? null
        : Object.keys(img[t]!)
            .sort()
            .map((c) => [c, img[t]![c]]),
    ]);
  return createHash('sha1').update(JSON.stringify(sorted)).digest('hex');
}

/** The judge's view of one chaos entity: how a source write looks on the target, and how to read the target. */
export interface JudgeEntity {
  name: string;
  /** The key's text from the values the application wrote (or from a target row). */
  keyOf(values: Row): string;
  /** What the target must hold for these source values (the judge's own copy of the mapping). */
  image(values: Row): Image;
  /** One SELECT giving one row per key present on the target. */
  scanSql: string;
  rowKey(row: Row): string;
  rowVersion(row: Row): bigint;
  rowImage(row: Row): Image;
  /** Keys of rows in a secondary target table with no primary row (split entities). */
  orphanSql?: string;
  /** One SELECT of the legacy table: one row per key present (columns as the application writes them). */
  legacySql: string;
}

const k = (...v: unknown[]) => JSON.stringify(v.map(norm));
const lowerUuid = (v: unknown) => norm(v)?.toLowerCase() ?? null;

/** The four chaos entities (see chaos/entities.ts for their tables and the config's mapping). */
export const JUDGE_ENTITIES: JudgeEntity[] = [
  {
    // integer key, split into two target tables, email unique (swapped by the workload)
    name: 'users',
    keyOf: (v) => k(v.id),
    image: (v) => ({
      accounts: {
        id: norm(v.id),
        email_address: norm(v.email),
        state: norm(v.status),
        balance: norm(v.balance),
        version: norm(v.version),
      },
      account_profiles: { account_id: norm(v.id), display_name: `${v.first_name} ${v.last_name}`, bio: norm(v.bio) },
    }),
    scanSql:
      'SELECT a.id, a.email_address, a.state, a.balance, a.version, p.account_id, p.display_name, p.bio FROM accounts a LEFT JOIN account_profiles p ON p.account_id = a.id',
    rowKey: (r) => k(r.id),
    rowVersion: (r) => BigInt(norm(r.version)!),
    rowImage: (r) => ({
      accounts: {
        id: norm(r.id),
        email_address: norm(r.email_address),
        state: norm(r.state),
        balance: norm(r.balance),
        version: norm(r.version),
      },
      account_profiles:
        r.account_id === null || r.account_id === undefined
          ? null
          : { account_id: norm(r.account_id), display_name: norm(r.display_name), bio: norm(r.bio) },
    }),
    orphanSql: 'SELECT account_id AS id FROM account_profiles WHERE account_id NOT IN (SELECT id FROM accounts)',
    legacySql: 'SELECT id, email, first_name, last_name, bio, status, balance, version FROM users',
  },
  {
    // composite key
    name: 'memberships',
    keyOf: (v) => k(v.org_id, v.user_no),
    image: (v) => ({
      org_members: {
        org_id: norm(v.org_id),
        user_no: norm(v.user_no),
        role: norm(v.role),
        points: norm(v.points),
        version: norm(v.version),
      },
    }),
    scanSql: 'SELECT org_id, user_no, role, points, version FROM org_members',
    legacySql: 'SELECT org_id, user_no, role, points, version FROM memberships',
    rowKey: (r) => k(r.org_id, r.user_no),
    rowVersion: (r) => BigInt(norm(r.version)!),
    rowImage: (r) => ({
      org_members: {
        org_id: norm(r.org_id),
        user_no: norm(r.user_no),
        role: norm(r.role),
        points: norm(r.points),
        version: norm(r.version),
      },
    }),
  },
  {
    // string (UUID) key
    name: 'devices',
    keyOf: (v) => JSON.stringify([lowerUuid(v.id)]),
    image: (v) => ({
      devices: { device_id: lowerUuid(v.id), name: norm(v.name), kind: norm(v.kind), version: norm(v.version) },
    }),
    scanSql: 'SELECT device_id, name, kind, version FROM devices',
    legacySql: 'SELECT id, name, kind, version FROM devices',
    rowKey: (r) => JSON.stringify([lowerUuid(r.device_id)]),
    rowVersion: (r) => BigInt(norm(r.version)!),
    rowImage: (r) => ({
      devices: { device_id: lowerUuid(r.device_id), name: norm(r.name), kind: norm(r.kind), version: norm(r.version) },
    }),
  },
  {
    // no version in the config (last writer wins); `rev` is plain data to Tandem, the judge's order of writes
    name: 'settings',
    keyOf: (v) => k(v.id),
    image: (v) => ({ prefs: { id: norm(v.id), rev: norm(v.rev), value_text: norm(v.value_text) } }),
    scanSql: 'SELECT id, rev, value_text FROM prefs',
    legacySql: 'SELECT id, rev, value_text FROM settings',
    rowKey: (r) => k(r.id),
    rowVersion: (r) => BigInt(norm(r.rev)!),
    rowImage: (r) => ({ prefs: { id: norm(r.id), rev: norm(r.rev), value_text: norm(r.value_text) } }),
  },
];

/** The judge entity named `name`. */
export function judgeEntity(name: string): JudgeEntity {
  const e = JUDGE_ENTITIES.find((x) => x.name === name);
  if (!e) throw new Error(`no judge entity ${name}`);
  return e;
}

/** Digest of what the target must hold after a write of `values` to entity `name`. */
export function expectedDigest(name: string, values: Row): string {
  return digestImage(judgeEntity(name).image(values));
}

/**
 * Every key present on the target for `e` (or, with `side: 'legacy'`, in the legacy table, mapped by the judge's
 * own `image()`), with its version and digest; `orphans` from the secondary table (new side only).
 */
export async function scanTarget(
  r: Reader,
  e: JudgeEntity,
  side: 'new' | 'legacy' = 'new',
): Promise<{ rows: Map<string, { version: bigint; digest: string }>; orphans: string[] }> {
  const rows = new Map<string, { version: bigint; digest: string }>();
  if (side === 'legacy') {
    for (const row of await r.query(e.legacySql)) {
      const version = e.name === 'settings' ? row.rev : row.version;
      rows.set(e.keyOf(row), { version: BigInt(norm(version)!), digest: digestImage(e.image(row)) });
    }
    return { rows, orphans: [] };
  }
  for (const row of await r.query(e.scanSql))
    rows.set(e.rowKey(row), { version: e.rowVersion(row), digest: digestImage(e.rowImage(row)) });
  const orphans = e.orphanSql ? (await r.query(e.orphanSql)).map((x) => k(x.id)) : [];
  return { rows, orphans };
}

/** The figures of one entity. */
export interface EntityVerdict {
  entity: string;
  keys: number;
  lost: number;
  resurrected: number;
  phantom: number;
  different: number;
  extra: number;
  divergent: number;
  /** The first few lost keys with their history. */
  lostKeys: string[];
  /** The first few other divergent keys. */
  otherKeys: string[];
}

/** The verdict of the judge over all entities, plus the dead letters in the target's control plane. */
export interface Verdict {
  entities: EntityVerdict[];
  lost: number;
  resurrected: number;
  divergent: number;
  deadLetters: number;
}

/**
 * Compares the target (or, with `side: 'legacy'`, the legacy store), read through `r`, with the expected state from
 * `history`, for every entity named. `deadLetters` is read on the new side only (the control plane's; 0 for legacy).
 */
export async function judge(
  r: Reader,
  history: History,
  names: string[],
  side: 'new' | 'legacy' = 'new',
): Promise<Verdict> {
  const entities: EntityVerdict[] = [];
  for (const name of names) {
    const e = judgeEntity(name);
    const { rows: actual, orphans } = await scanTarget(r, e, side);
    const v: EntityVerdict = {
      entity: name,
      keys: 0,
      lost: 0,
      resurrected: 0,
      phantom: 0,
      different: 0,
      extra: 0,
      divergent: 0,
      lostKeys: [],
      otherKeys: [],
    };
    const note = (list: string[], key: string, what: string, act?: { version: bigint; digest: string }) => {
      if (list.length < 5)
        list.push(
          `${side === 'legacy' ? 'legacy ' : ''}${name} ${key} ${what}${act ? ` target=v${act.version}:${act.digest.slice(0, 8)}` : ' target=absent'} history: ${history.describe(name, key)}`,
        );
    };
    for (const [key] of history.keysOf(name)) {
      v.keys++;
      const exp = history.expected(name, key);
      const act = actual.get(key);
      actual.delete(key);
      const alt = exp.alternatives.some((a) =>
        a.digest === 'deleted' ? !act : !!act && act.version === a.version && act.digest === a.digest,
      );
      if (!exp.present) {
        if (act && !alt) {
          v.divergent++;
          if (history.get(name, key)?.deletedAt !== undefined) {
            v.resurrected++;
            note(v.otherKeys, key, 'resurrected', act);
          } else {
            v.extra++;
            note(v.otherKeys, key, 'extra', act);
          }
        }
        continue;
      }
      if (act && act.version === exp.version && act.digest === exp.digest) continue;
      if (alt) continue;
      v.divergent++;
      if (!act || act.version < exp.version) {
        v.lost++;
        note(v.lostKeys, key, 'lost', act);
      } else if (act.version > exp.version) {
        v.phantom++;
        note(v.otherKeys, key, 'phantom', act);
      } else {
        v.different++;
        note(v.otherKeys, key, 'different', act);
      }
    }
    for (const [key, act] of actual) {
      v.extra++;
      v.divergent++;
      note(v.otherKeys, key, 'extra', act);
    }
    for (const key of orphans) {
      v.extra++;
      v.divergent++;
      note(v.otherKeys, key, 'orphan profile');
    }
    entities.push(v);
  }
  const dl =
    side === 'legacy'
      ? []
      : await r.query(
          `SELECT count(*) AS n FROM ${r.dialect === 'mysql' ? 'tandem_dead_letters' : 'tandem.dead_letters'}`,
        );
  const sum = (f: (v: EntityVerdict) => number) => entities.reduce((a, x) => a + f(x), 0);
  return {
    entities,
    lost: sum((x) => x.lost),
    resurrected: sum((x) => x.resurrected),
    divergent: sum((x) => x.divergent),
    deadLetters: Number(dl[0]?.n ?? 0),
  };
}

/**
 * Reads every key of every entity from the target again and again while the run goes on, and counts monotonicity
 * breaks: a version lower than one seen before, a row gone without a committed delete, and a deleted key that was
 * seen gone coming back (`resurrected`). `now()` gives the harness clock (ms since the writers started).
 */
export class Watcher {
  regressions = 0;
  resurrected = 0;
  scans = 0;
  readonly examples: string[] = [];
  private readonly seen = new Map<string, bigint>();
  private readonly gone = new Set<string>();
  private readonly vanished = new Map<string, bigint>();

  constructor(
    private readonly r: Reader,
    private readonly history: History,
    private readonly names: string[],
    private readonly now: () => number,
    /** Which store it reads: the new tables, or (`--cutover`) the legacy ones. */
    private readonly side: 'new' | 'legacy' = 'new',
  ) {}

  /** One full pass over all entities. */
  async scan(): Promise<void> {
    this.settle();
    for (const name of this.names) {
      const start = this.now();
      const { rows } = await scanTarget(this.r, judgeEntity(name), this.side);
      for (const [key, { version }] of rows) {
        const id = `${this.side === 'legacy' ? 'legacy ' : ''}${name} ${key}`;
        const prev = this.seen.get(id);
        if (this.gone.has(id)) {
          this.resurrected++;
          this.example(`${id} back after its delete was applied (v${version})`);
          this.gone.delete(id);
        }
        if (prev !== undefined && version < prev) {
          this.regressions++;
          this.example(`${id} version ${prev} → ${version}`);
        }
        this.seen.set(id, version);
      }
      const prefix = `${this.side === 'legacy' ? 'legacy ' : ''}${name} `;
      for (const [id, prev] of this.seen) {
        if (!id.startsWith(prefix)) continue;
        const key = id.slice(prefix.length);
        if (rows.has(key)) continue;
        this.seen.delete(id);
        // seen on the target before and gone after its delete committed: the delete was applied, it must stay away
        // (a key never seen may simply not be copied yet: a stale chunk of the backfill bringing it is no resurrection)
        if (this.history.deletedBy(name, key, start)) this.gone.add(id);
        // otherwise judged at the next pass: the delete's COMMIT may reach the harness after the relay applied it
        else this.vanished.set(id, prev);
      }
    }
    this.scans++;
  }

  /** Judges the rows that vanished in the last pass: a regression unless a delete of the key committed by now. */
  settle(): void {
    for (const [id, prev] of this.vanished) {
      const bare = this.side === 'legacy' ? id.slice('legacy '.length) : id;
      const [name, key] = [bare.slice(0, bare.indexOf(' ')), bare.slice(bare.indexOf(' ') + 1)];
      const h = this.history.get(name, key);
      if (h?.deletedAt === undefined && !h?.uncertain.some((u) => u.digest === 'deleted')) {
        this.regressions++;
        this.example(`${id} row vanished (was v${prev}) with no delete`);
      }
    }
    this.vanished.clear();
  }

  private example(s: string): void {
    if (this.examples.length < 5) this.examples.push(s);
  }
}

/**
 * Installs the judge's own insert log on the outbox of the store `r` reads: a table `chaos_outbox_log` and an
 * `AFTER INSERT` trigger on the outbox (plain SQL, no Tandem code) that writes the database's clock (UTC) of every
 * outbox row inserted, in the inserting transaction (a rolled-back insert leaves no log row). Outbox rows are
 * deleted once relayed; the log stays, so the fence check does not depend on what a relay drained meanwhile.
 */
export async function installOutboxLog(r: Reader): Promise<void> {
  if (r.dialect === 'mysql') {
    await r.query(
      'CREATE TABLE chaos_outbox_log (id BIGINT AUTO_INCREMENT PRIMARY KEY, logged_at DATETIME(6) NOT NULL)',
    );
    await r.query(
      'CREATE TRIGGER chaos_outbox_log_t AFTER INSERT ON tandem_outbox FOR EACH ROW INSERT INTO chaos_outbox_log (logged_at) VALUES (UTC_TIMESTAMP(6))',
    );
    return;
  }
  await r.query('CREATE TABLE public.chaos_outbox_log (id bigserial PRIMARY KEY, logged_at timestamptz NOT NULL)');
  await r.query(
    'CREATE FUNCTION public.chaos_outbox_log_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO public.chaos_outbox_log (logged_at) VALUES (clock_timestamp()); RETURN NEW; END $$',
  );
  await r.query(
    'CREATE TRIGGER chaos_outbox_log_t AFTER INSERT ON tandem.outbox FOR EACH ROW EXECUTE FUNCTION public.chaos_outbox_log_fn()',
  );
}

/** The database clock of the store `r` reads, as text comparable with `chaos_outbox_log.logged_at`. */
export async function dbNow(r: Reader): Promise<string> {
  const rows = await r.query(
    r.dialect === 'mysql' ? 'SELECT CAST(UTC_TIMESTAMP(6) AS CHAR) AS t' : 'SELECT clock_timestamp()::text AS t',
  );
  const t = String(rows[0]!.t);
  if (!/^[0-9: .+-]+$/.test(t)) throw new Error(`unexpected clock text ${t}`);
  return t;
}

/** Outbox rows inserted on the store `r` reads after `from` and before `to` (texts of {@link dbNow}). */
export async function outboxInsertedBetween(r: Reader, from: string, to: string): Promise<number> {
  const cast = r.dialect === 'mysql' ? (t: string) => `'${t}'` : (t: string) => `'${t}'::timestamptz`;
  const rows = await r.query(
    `SELECT count(*) AS n FROM chaos_outbox_log WHERE logged_at > ${cast(from)} AND logged_at < ${cast(to)}`,
  );
  return Number(rows[0]?.n ?? 0);
}

/** Changes waiting in the outbox of the store `r` reads (its control table `outbox`), by plain SQL. */
export async function outboxCount(r: Reader): Promise<number> {
  const rows = await r.query(`SELECT count(*) AS n FROM ${r.dialect === 'mysql' ? 'tandem_outbox' : 'tandem.outbox'}`);
  return Number(rows[0]?.n ?? 0);
}

/** One committed write of the two-path form as the harness saw it: the store its path ran on, harness times (ms). */
export interface CommitSeen {
  side: 'legacy' | 'new';
  /** When the path's first statement was about to run (after the writer's fence read). */
  startAt: number;
  /** When `write()` returned. */
  doneAt: number;
}

/** One cutover or rollback as the harness ran it: harness times (ms) of its call and its return. */
export interface FlipSeen {
  kind: 'cutover' | 'rollback';
  startAt: number;
  doneAt: number;
}

/**
 * The fence by the harness's clock: a write whose path started after a flip had returned and before the next flip
 * began ran on the store that flip made secondary — it must not have committed there. Counts such commits
 * (`side` legacy between a cutover and the next rollback, new between a rollback and the next cutover). Writes
 * whose path overlaps a flip's call are not judged by the clock (the outbox check covers them: see the harness).
 */
export function fenceClockViolations(
  commits: CommitSeen[],
  flips: FlipSeen[],
): { violations: number; examples: string[] } {
  const examples: string[] = [];
  let violations = 0;
  const sorted = [...flips].sort((a, b) => a.startAt - b.startAt);
  for (const c of commits) {
    let last: FlipSeen | undefined;
    let next: FlipSeen | undefined;
    for (const f of sorted) {
      if (f.doneAt <= c.startAt) last = f;
      else if (f.startAt > c.startAt) {
        next = f;
        break;
      } else {
        last = undefined; // the path started during a flip's call
        break;
      }
    }
    if (!last || (next && next.startAt < c.startAt)) continue;
    const secondary = last.kind === 'cutover' ? 'legacy' : 'new';
    if (c.side === secondary) {
      violations++;
      if (examples.length < 5)
        examples.push(
          `a write committed on ${c.side} (path at ${Math.round(c.startAt)} ms, done ${Math.round(c.doneAt)} ms) after the ${last.kind} returned at ${Math.round(last.doneAt)} ms`,
        );
    }
  }
  return { violations, examples };
}
