import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { PGlite, type ParserOptions } from '@electric-sql/pglite';
import { TandemError } from '../../core/errors.js';
import { safeDriverError, thrownText } from '../../core/redact.js';
import { MONEY_OID, PG_EXTRA_PARSERS, PG_TEXT_OIDS, moneyText, scrubPgMessage } from '../postgres/connection.js';
import type { StoreUrl } from '../url.js';
import { pgliteTemplate } from './template.js';

const BYTEA_OID = 17;

/**
 * Result parsers matching the `pg` store: the types of {@link PG_TEXT_OIDS} (int8, numeric, date, time, timetz,
 * timestamp, timestamptz) come back as the server's text, `bytea` as a Node `Buffer` (PGlite's own parser gives a
 * plain `Uint8Array`). Everything else keeps PGlite's parsers (int2/int4/float → number, bool, json → value).
 * @internal
 */
export const PGLITE_PARSERS: ParserOptions = {
  ...Object.fromEntries(PG_TEXT_OIDS.map((oid) => [oid, (v: string) => v])),
  [MONEY_OID]: moneyText,
  // json/jsonb as text, arrays of the text types as arrays of texts (as the `pg` store reads them)
  ...Object.fromEntries([...PG_EXTRA_PARSERS].map(([oid, f]) => [oid, f])),
  [BYTEA_OID]: (v: string) => Buffer.from(v.startsWith('\\x') ? v.slice(2) : v, 'hex'),
};

/**
 * Opens PGlite for a parsed `pglite:` URL: `pglite:memory` runs in memory, `pglite:<dir>` keeps its data in the
 * directory (relative paths resolve against the current working directory; the directory is created when its
 * parent exists, and initialised on first use). Sets the session to `TimeZone = 'UTC'`, `DateStyle = ISO` and `IntervalStyle = iso_8601`.
 *
 * One data directory must be opened by one PGlite instance at a time (PGlite is a single-user backend).
 * Throws `TANDEM_ERR_STORE_UNREACHABLE` when the parent directory does not exist, the path is not a directory,
 * the directory is neither empty nor a data directory (no `PG_VERSION`), or PGlite cannot start on it (the
 * message then says what the directory may be).
 * @internal
 */
export async function openPgliteDatabase(u: StoreUrl): Promise<PGlite> {
  const raw = u.path ?? '';
  const memory = raw === 'memory' || raw.startsWith('memory://');
  const dataDir = memory ? undefined : resolve(process.cwd(), raw);
  if (dataDir) {
    const parent = dirname(dataDir);
    if (!existsSync(parent) || !statSync(parent).isDirectory()) {
      const why = existsSync(parent)
        ? `${parent} is a file, not a directory`
        : `directory ${parent} does not exist (create it first)`;
      throw new TandemError('STORE_UNREACHABLE', `PGlite store ${u.redacted}: ${why}`, { path: dataDir });
    }
    if (existsSync(dataDir) && !statSync(dataDir).isDirectory())
      throw new TandemError(
        'STORE_UNREACHABLE',
        `PGlite store ${u.redacted}: ${dataDir} is a file, not a data directory`,
        { path: dataDir },
      );
    // PGlite would initialise a new cluster among the files of any directory: only an empty one, or a data directory
    if (existsSync(dataDir) && readdirSync(dataDir).length > 0 && !existsSync(join(dataDir, 'PG_VERSION')))
      throw new TandemError(
        'STORE_UNREACHABLE',
        `PGlite store ${u.redacted}: ${dataDir} is not empty and is not a PGlite ` +
          'data directory (no PG_VERSION): give an empty or new directory',
        { path: dataDir },
      );
  }
  let db: PGlite | undefined;
  // a new cluster starts from the template (a tarball of a fresh one) rather than running initdb; see template.ts
  const existed = dataDir !== undefined && existsSync(dataDir);
  const fresh = !existed || readdirSync(dataDir!).length === 0;
  const template = fresh ? pgliteTemplate() : null;
  const blob = template?.read();
  try {
    if (blob) {
      try {
        db = await PGlite.create(dataDir, { parsers: PGLITE_PARSERS, loadDataDir: blob });
      } catch {
        // a template that does not load (damaged, or another build's): dropped, and initdb instead; the
        // directory was empty or absent before, so what is in it now is the failed load's
        await db?.close().catch(() => {});
        db = undefined;
        template!.discard();
        if (dataDir && existed)
          for (const f of readdirSync(dataDir)) rmSync(join(dataDir, f), { recursive: true, force: true });
        else if (dataDir) rmSync(dataDir, { recursive: true, force: true });
        db = await PGlite.create(dataDir, { parsers: PGLITE_PARSERS });
      }
    } else {
      db = await PGlite.create(dataDir, { parsers: PGLITE_PARSERS });
      if (template) await template.save(db);
    }
    await db.exec(`SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; SET IntervalStyle = 'iso_8601'`);
    return db;
  } catch (e) {
    await db?.close().catch(() => {});
    // an existing directory PGlite cannot start on: say what it may be, since PGlite's own words do not
    const used = dataDir !== undefined && existsSync(dataDir) && readdirSync(dataDir).length > 0;
    const hint = !used
      ? ''
      : ' (the directory holds a PostgreSQL data directory PGlite cannot start on: another PGlite' +
        " version's, a server's, a damaged one, or one this user cannot write)";
    throw new TandemError(
      'STORE_UNREACHABLE',
      `cannot open PGlite store ${u.redacted}${dataDir ? ` (${dataDir})` : ''}: ` +
        `${scrubPgMessage(thrownText(e))}${hint}`,
      { path: dataDir },
      { cause: safeDriverError(e, scrubPgMessage) },
    );
  }
}

/**
 * Turns a JS array parameter into a PostgreSQL array literal the way `pg` does (`{"a","b",NULL}`, nested arrays
 * nested, `Buffer`/`Uint8Array` as `\x…` hex, `Date` as ISO-8601, objects as JSON, booleans as `true`/`false`).
 * PGlite serializes arrays itself only for array types it knew when it started; this makes any array type work
 * (enums created later, `numeric(12,2)[]` casts, …). Non-array values pass through unchanged.
 * @internal
 */
export function pgArrayParam(v: unknown): unknown {
  return Array.isArray(v) ? arrayLiteral(v) : v;
}

function arrayLiteral(xs: unknown[]): string {
  return `{${xs.map((x) => (x === null || x === undefined ? 'NULL' : Array.isArray(x) ? arrayLiteral(x) : `"${elementText(x).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`)).join(',')}}`;
}

function elementText(x: unknown): string {
  if (x instanceof Uint8Array) return `\\x${Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('hex')}`;
  if (x instanceof Date) return x.toISOString();
  if (typeof x === 'object') return JSON.stringify(x, (_k, y: unknown) => (typeof y === 'bigint' ? y.toString() : y));
  return String(x);
}
