import { createHash } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip, createGzip } from 'node:zlib';
import { TandemError, errorLine } from '../core/errors.js';
import { addMod64, canonText, encodeRow, rowHash } from '../core/encoding.js';
import type { Migration } from '../runtime/migration.js';
import type { ColumnInfo, Store, TableInfo, TypeCategory } from '../stores/types.js';
import { keysetStream } from '../verify/stream.js';
import { deleteState, readState, writeState } from '../control/state.js';

/**
 * `tandem archive`: every legacy table of the entities written to a folder, one gzip'd NDJSON file per table, with
 * a manifest; and `tandem archive verify`, which re-checks the files against the manifest and the live tables.
 *
 * **File** (`NN-<table>.ndjson.gz`, node:zlib gzip): the first line is a header object
 * `{"format":"tandem-archive/1","table":…,"key":[…],"columns":[{name,type,category,scale?,floatBytes?}…]}`; every
 * other line is one row, a JSON array of the row's values in column order, each in Tandem's canonical text
 * (src/core/canonical.ts, by the column's own category: integers and decimals exact, timestamps
 * `YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC, binary as hex, json with sorted keys; a value that cannot be read as its
 * category keeps its raw text as `<unreadable as …>`), SQL NULL as JSON `null`. Rows are in key order (strings by
 * UTF-8 bytes), read by keyset pages: memory stays bounded whatever the table size.
 *
 * **Checksum** of a table (`checksum` in the manifest, 16 hex digits): the sum mod 2^64 of the row hashes of
 * verify (src/core/encoding.ts: the first 64 bits of the MD5 of the row's encoded canonical values), over all
 * the table's columns by their own categories — order-independent, so the same figure comes from the file, from
 * the live table read in any order, and from verify's segment sums. With the row count it is what verify
 * compares; two tables agree on both only by an MD5 collision.
 *
 * **Manifest** (`manifest.json`, written last): format, Tandem version, creation time, the legacy store's
 * redacted URL, and per table: table, entities, file, rows, checksum, bytes and SHA-256 of the file, key, columns.
 *
 * Archive reads the legacy store only (through the legacy-write guard).
 */

/** The format tag of the manifest and of each file's header line. */
export const ARCHIVE_FORMAT = 'tandem-archive/1';
/** The manifest's file name in the archive folder. */
export const MANIFEST_FILE = 'manifest.json';
/** How the checksum is computed (see the module comment). */
export const CHECKSUM_ALGORITHM = 'sum-mod-2^64 of md5-64 row hashes of canonical values';

/** A column as the archive records it: enough to read its canonical text back and to re-encode the live value. */
export interface ArchiveColumn {
  name: string;
  /** The column's raw type in the legacy store (`varchar(254)`, `decimal(12,2)`). */
  type: string;
  category: TypeCategory;
  scale?: number;
  floatBytes?: number;
}

/** One table of the manifest. */
export interface ArchiveTable {
  table: string;
  /** The entities whose source the table is. */
  entities: string[];
  /** File name inside the archive folder. */
  file: string;
  rows: number;
  /** Sum mod 2^64 of the row hashes, 16 lower-case hex digits. */
  checksum: string;
  /** Size of the file, bytes. */
  bytes: number;
  /** SHA-256 of the file's bytes, lower-case hex. */
  sha256: string;
  key: string[];
  columns: ArchiveColumn[];
}

/** `manifest.json`. */
export interface ArchiveManifest {
  format: typeof ARCHIVE_FORMAT;
  tandemVersion: string;
  /** ISO-8601 UTC time the archive was finished. */
  created: string;
  /** The legacy store's URL, password redacted. */
  source: string;
  checksumAlgorithm: string;
  tables: ArchiveTable[];
}

/** Options of {@link writeArchive}. */
export interface WriteArchiveOptions {
  /** Write into a folder that is not empty (files of the same names are replaced). */
  force?: boolean;
  /** Rows per keyset page (default 2000). */
  pageRows?: number;
  /** The Tandem version recorded in the manifest. */
  tandemVersion?: string;
  /** Told after each table. */
  onTable?: (t: ArchiveTable) => void;
}

/** The figures of a stream of rows: count and checksum. */
interface Figures {
  rows: number;
  sum: bigint;
}

const hex64 = (v: bigint) => v.toString(16).padStart(16, '0');

/** The archive's record of a column. */
function archiveColumn(c: ColumnInfo): ArchiveColumn {
  const a: ArchiveColumn = { name: c.name, type: c.dataType, category: c.category };
  if (c.scale !== undefined) a.scale = c.scale;
  if (c.floatBytes !== undefined) a.floatBytes = c.floatBytes;
  return a;
}

/** A file name for the `i`-th table: `01-users.ndjson.gz` (other characters than `[A-Za-z0-9_.-]` become `_`). */
function fileName(i: number, table: string): string {
  return `${String(i + 1).padStart(2, '0')}-${table.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 80)}.ndjson.gz`;
}

/** The canonical values of a row and their row hash. */
function encode(
  row: Record<string, unknown>,
  columns: ArchiveColumn[],
  categories: TypeCategory[],
): { values: (string | null)[]; hash: bigint } {
  const values = columns.map((c) => canonText(row[c.name], c));
  return { values, hash: rowHash(encodeRow(values, categories)) };
}

/** The key the archive reads a table in: its primary key, else the entity key. */
function keyOf(t: TableInfo, entityKey: string[]): string[] {
  return t.primaryKey.length ? t.primaryKey : entityKey;
}

/** Streams `table` of `store` in key order by keyset pages, giving each row's canonical values and hash. */
async function* liveRows(store: Store, table: string, columns: ArchiveColumn[], key: string[], pageRows: number) {
  const categories = columns.map((c) => c.category);
  const keyCategories = key.map((k) => columns.find((c) => c.name === k)?.category ?? 'text');
  for await (const row of keysetStream(
    store,
    { table, columns: columns.map((c) => c.name), key, keyCategories },
    pageRows,
  )) {
    yield encode(row, columns, categories);
  }
}

/** A pass-through stream that counts and hashes the bytes going through it. */
function tap(): { stream: Transform; bytes: () => number; sha256: () => string } {
  const h = createHash('sha256');
  let n = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      n += chunk.length;
      cb(null, chunk);
    },
  });
  let digest: string | null = null;
  return { stream, bytes: () => n, sha256: () => (digest ??= h.digest('hex')) };
}

/**
 * Writes the archive of every legacy table of the migration's entities into `dir` (created when missing): one
 * file per table and `manifest.json` (see the module comment). Reads the legacy store only, by keyset pages.
 * Rows written to a table while it is archived may be missed: archive after `legacy_read_only`, and let
 * `tandem archive verify` compare with the live tables.
 *
 * Throws `TANDEM_ERR_ARCHIVE_DIR_NOT_EMPTY` when `dir` holds anything and `force` is not set (nothing is written),
 * `TANDEM_ERR_USAGE` when `dir` is a file or the migration was opened without entities, what the store throws.
 */
export async function writeArchive(m: Migration, dir: string, o: WriteArchiveOptions = {}): Promise<ArchiveManifest> {
  if (!m.entities.length)
    throw new TandemError('USAGE', 'the migration was opened without its entities: no table to archive');
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new TandemError('USAGE', `archive folder ${dir} is a file`);
    const present = readdirSync(dir);
    if (present.length && !o.force)
      throw new TandemError(
        'ARCHIVE_DIR_NOT_EMPTY',
        `archive folder ${dir} is not empty (${present.length} entr${present.length === 1 ? 'y' : 'ies'}); choose an empty folder or pass --force`,
        { dir },
      );
  }
  const store = m.stores.legacy;
  const pageRows = o.pageRows ?? 2000;
  const byTable = new Map<string, { info: TableInfo; entities: string[]; key: string[] }>();
  for (const e of m.entities) {
    const t = byTable.get(e.source.name);
    if (t) t.entities.push(e.name);
    else byTable.set(e.source.name, { info: e.source, entities: [e.name], key: keyOf(e.source, e.key) });
  }
  // the files hold row values, sensitive columns included: readable by their owner only
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // an archive written over another one has no manifest until it is complete: a run that fails half-way never
  // leaves a manifest naming files it replaced
  rmSync(join(dir, MANIFEST_FILE), { force: true });
  const tables: ArchiveTable[] = [];
  let i = 0;
  for (const [table, t] of byTable) {
    const columns = t.info.columns.map(archiveColumn);
    const file = fileName(i++, table);
    const figures: Figures = { rows: 0, sum: 0n };
    async function* lines() {
      yield `${JSON.stringify({ format: ARCHIVE_FORMAT, table, key: t.key, columns })}\n`;
      let batch = '';
      for await (const r of liveRows(store, table, columns, t.key, pageRows)) {
        figures.rows++;
        figures.sum = addMod64(figures.sum, r.hash);
        batch += `${JSON.stringify(r.values)}\n`;
        if (batch.length >= 64 * 1024) {
          yield batch;
          batch = '';
        }
      }
      if (batch) yield batch;
    }
    const t2 = tap();
    await pipeline(
      Readable.from(lines()),
      createGzip(),
      t2.stream,
      createWriteStream(join(dir, file), { mode: 0o600 }),
    );
    const entry: ArchiveTable = {
      table,
      entities: t.entities,
      file,
      rows: figures.rows,
      checksum: hex64(figures.sum),
      bytes: t2.bytes(),
      sha256: t2.sha256(),
      key: t.key,
      columns,
    };
    tables.push(entry);
    o.onTable?.(entry);
  }
  const manifest: ArchiveManifest = {
    format: ARCHIVE_FORMAT,
    tandemVersion: o.tandemVersion ?? 'unknown',
    created: new Date().toISOString(),
    source: store.url,
    checksumAlgorithm: CHECKSUM_ALGORITHM,
    tables,
  };
  const tmp = join(dir, `.${MANIFEST_FILE}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, join(dir, MANIFEST_FILE));
  return manifest;
}

/** The outcome of {@link verifyArchive} for one table. */
export interface ArchiveTableCheck {
  table: string;
  file: string;
  /** What differs, one line each (empty: the file matches the manifest, and the live table when checked). */
  problems: string[];
  /** The figures read from the file (null when it could not be read). */
  file_rows: number | null;
  file_checksum: string | null;
  /** The live table's figures, when it was compared. */
  live?: { rows: number; checksum: string } | { error: string };
}

/** What {@link verifyArchive} found. */
export interface ArchiveVerifyReport {
  dir: string;
  manifest: Pick<ArchiveManifest, 'format' | 'tandemVersion' | 'created' | 'source'>;
  tables: ArchiveTableCheck[];
  /** Whether the live tables were compared; `liveNote` says why not. */
  live: boolean;
  liveNote?: string;
  /** True when no table has a problem. */
  ok: boolean;
}

/** Reads and checks `manifest.json` of `dir`. Throws `TANDEM_ERR_ARCHIVE_INVALID`. */
export function readManifest(dir: string): ArchiveManifest {
  const path = join(dir, MANIFEST_FILE);
  if (!existsSync(path))
    throw new TandemError('ARCHIVE_INVALID', `${dir} holds no ${MANIFEST_FILE}: not an archive of tandem archive`, {
      dir,
    });
  let m: ArchiveManifest;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as ArchiveManifest;
  } catch (e) {
    throw new TandemError('ARCHIVE_INVALID', `${path} is not valid JSON (${(e as Error).message})`, { dir });
  }
  const okTable = (t: ArchiveTable) =>
    t &&
    typeof t.table === 'string' &&
    typeof t.file === 'string' &&
    Number.isSafeInteger(t.rows) &&
    /^[0-9a-f]{16}$/.test(String(t.checksum)) &&
    Number.isSafeInteger(t.bytes) &&
    /^[0-9a-f]{64}$/.test(String(t.sha256)) &&
    Array.isArray(t.columns) &&
    Array.isArray(t.key);
  if (!m || m.format !== ARCHIVE_FORMAT || !Array.isArray(m.tables) || !m.tables.every(okTable))
    throw new TandemError('ARCHIVE_INVALID', `${path} is not a manifest of format ${ARCHIVE_FORMAT}`, { dir });
  return m;
}

/** Reads the rows of one archive file: their count and checksum. Throws on an unreadable gzip. */
async function readFile(path: string, t: ArchiveTable, problems: string[]): Promise<Figures> {
  const categories = t.columns.map((c) => c.category);
  const figures: Figures = { rows: 0, sum: 0n };
  let header = true;
  let bad = 0;
  const onLine = (line: string) => {
    if (header) {
      header = false;
      let h: { format?: unknown; table?: unknown; columns?: ArchiveColumn[] } | null = null;
      try {
        h = JSON.parse(line);
      } catch {
        // reported below
      }
      const same =
        h &&
        h.format === ARCHIVE_FORMAT &&
        h.table === t.table &&
        JSON.stringify((h.columns ?? []).map((c) => [c.name, c.category])) ===
          JSON.stringify(t.columns.map((c) => [c.name, c.category]));
      if (!same) problems.push('the header line does not match the manifest (table or columns)');
      return;
    }
    if (line === '') return;
    let values: unknown;
    try {
      values = JSON.parse(line);
    } catch {
      values = null;
    }
    if (
      !Array.isArray(values) ||
      values.length !== t.columns.length ||
      !values.every((v) => v === null || typeof v === 'string')
    ) {
      bad++;
      return;
    }
    figures.rows++;
    figures.sum = addMod64(figures.sum, rowHash(encodeRow(values as (string | null)[], categories)));
  };
  await pipeline(createReadStream(path), createGunzip(), async (source: AsyncIterable<Buffer>) => {
    const decoder = new StringDecoder('utf8');
    let rest = '';
    for await (const chunk of source) {
      rest += decoder.write(chunk);
      let nl = rest.indexOf('\n');
      let start = 0;
      while (nl >= 0) {
        onLine(rest.slice(start, nl));
        start = nl + 1;
        nl = rest.indexOf('\n', start);
      }
      rest = rest.slice(start);
    }
    rest += decoder.end();
    if (rest) onLine(rest);
  });
  if (header) problems.push('the file is empty (no header line)');
  if (bad) problems.push(`${bad} line(s) are not rows of ${t.columns.length} canonical values`);
  return figures;
}

/** Options of {@link verifyArchive}. */
export interface VerifyArchiveOptions {
  /** The legacy store to compare the live tables with; null or absent: files only. */
  live?: Store | null;
  /** Why there is no live store, for the report. */
  liveNote?: string;
  /** Rows per keyset page of the live read (default 2000). */
  pageRows?: number;
}

/**
 * Re-checks the archive in `dir`: every file the manifest names is read again — its SHA-256 and size, its row
 * count and the checksum re-computed from its rows — and compared with the manifest; a missing file, an
 * unreadable gzip or a line that is not a row is a problem of its table. With `live`, each table is read from
 * the store (keyset pages) and its row count and checksum compared with the manifest's: a table changed since
 * the archive differs. Reads only.
 *
 * Throws `TANDEM_ERR_ARCHIVE_INVALID` when the manifest is missing or malformed; everything else is reported.
 */
export async function verifyArchive(dir: string, o: VerifyArchiveOptions = {}): Promise<ArchiveVerifyReport> {
  const manifest = readManifest(dir);
  const pageRows = o.pageRows ?? 2000;
  const checks: ArchiveTableCheck[] = [];
  for (const t of manifest.tables) {
    const check: ArchiveTableCheck = {
      table: t.table,
      file: t.file,
      problems: [],
      file_rows: null,
      file_checksum: null,
    };
    checks.push(check);
    const path = join(dir, t.file);
    if (basename(t.file) !== t.file || t.file.startsWith('.'))
      check.problems.push(`file name ${JSON.stringify(t.file)} is not a file of the archive folder`);
    else if (!existsSync(path)) check.problems.push(`file ${t.file} is missing`);
    else {
      // the bytes first, on their own: a file whose gzip is broken still has its sha256 and size compared
      const raw = tap();
      await pipeline(createReadStream(path), raw.stream, new Writable({ write: (_c, _e, cb) => cb() }));
      if (raw.sha256() !== t.sha256)
        check.problems.push(`sha256 of ${t.file} is ${raw.sha256()}, the manifest says ${t.sha256}`);
      if (raw.bytes() !== t.bytes)
        check.problems.push(`${t.file} has ${raw.bytes()} bytes, the manifest says ${t.bytes}`);
      try {
        const f = await readFile(path, t, check.problems);
        check.file_rows = f.rows;
        check.file_checksum = hex64(f.sum);
        if (f.rows !== t.rows) check.problems.push(`${t.file} holds ${f.rows} rows, the manifest says ${t.rows}`);
        if (check.file_checksum !== t.checksum)
          check.problems.push(
            `checksum of the rows of ${t.file} is ${check.file_checksum}, the manifest says ${t.checksum}`,
          );
      } catch (e) {
        check.problems.push(`${t.file} cannot be read (${(e as Error).message})`);
      }
    }
    if (o.live) {
      try {
        const live: Figures = { rows: 0, sum: 0n };
        for await (const r of liveRows(o.live, t.table, t.columns, t.key, pageRows)) {
          live.rows++;
          live.sum = addMod64(live.sum, r.hash);
        }
        check.live = { rows: live.rows, checksum: hex64(live.sum) };
        if (live.rows !== t.rows) check.problems.push(`the live table holds ${live.rows} rows, the archive ${t.rows}`);
        if (hex64(live.sum) !== t.checksum)
          check.problems.push(`the live table's checksum is ${hex64(live.sum)}, the archive's ${t.checksum}`);
      } catch (e) {
        check.live = { error: errorLine(e) };
        check.problems.push(`the live table cannot be read: ${errorLine(e)}`);
      }
    }
  }
  const report: ArchiveVerifyReport = {
    dir,
    manifest: {
      format: manifest.format,
      tandemVersion: manifest.tandemVersion,
      created: manifest.created,
      source: manifest.source,
    },
    tables: checks,
    live: !!o.live,
    ok: checks.every((c) => c.problems.length === 0),
  };
  if (!o.live && o.liveNote) report.liveNote = o.liveNote;
  return report;
}

/**
 * A passing archive verification, as the control plane keeps it: one row of the `state` table named
 * `archive` (only the newest is kept; the audit log keeps every run). The `decommissioned` gate reads it.
 */
export interface ArchiveRecord {
  /** The archive folder, as given to `tandem archive verify` (absolute). */
  dir: string;
  /** SHA-256 of `manifest.json`'s bytes, lower-case hex: names the archive that was verified. */
  manifestChecksum: string;
  /** The tables the manifest holds, in its order. */
  tables: string[];
  /** Total rows of the archive. */
  rows: number;
  /** ISO-8601 UTC time the verification ended. */
  verifiedAt: string;
  /** True when the live legacy tables were compared too (the proof decommission asks for). */
  live: boolean;
}

const ARCHIVE_STATE = 'archive';

/** SHA-256 of the manifest file of the archive in `dir` (lower-case hex). Throws what the file system throws. */
export function manifestChecksum(dir: string): string {
  return createHash('sha256')
    .update(readFileSync(join(dir, MANIFEST_FILE)))
    .digest('hex');
}

/** The {@link ArchiveRecord} of a passing verification report (the manifest is read again for its checksum). */
export function archiveRecordOf(r: ArchiveVerifyReport, dir: string, at = new Date()): ArchiveRecord {
  return {
    dir,
    manifestChecksum: manifestChecksum(dir),
    tables: r.tables.map((t) => t.table),
    rows: r.tables.reduce((n, t) => n + (t.file_rows ?? 0), 0),
    verifiedAt: at.toISOString(),
    live: r.live,
  };
}

/**
 * Stores `a` as the newest passing archive verification (state row `archive`, replacing the one before). The
 * control plane (v2) must exist. Throws what the store throws.
 */
export async function saveArchiveRecord(control: Store, a: ArchiveRecord): Promise<void> {
  await writeState(control, ARCHIVE_STATE, JSON.stringify(a));
}

/** Removes the archive record (a verification that failed after a passing one). Throws what the store throws. */
export async function clearArchiveRecord(control: Store): Promise<void> {
  await deleteState(control, control, ARCHIVE_STATE);
}

/** The newest passing archive verification, or null when none was recorded (or its row is not one). Reads only. */
export async function readArchiveRecord(control: Store): Promise<ArchiveRecord | null> {
  const v = await readState(control, control, ARCHIVE_STATE);
  if (v == null) return null;
  try {
    const a = JSON.parse(String(v)) as Partial<ArchiveRecord>;
    if (typeof a.dir !== 'string' || typeof a.manifestChecksum !== 'string' || !Array.isArray(a.tables)) return null;
    return {
      dir: a.dir,
      manifestChecksum: a.manifestChecksum,
      tables: a.tables.map(String),
      rows: Number(a.rows) || 0,
      verifiedAt: String(a.verifiedAt),
      live: a.live === true,
    };
  } catch {
    return null;
  }
}
