/**
 * Operator tasks of the identity bridge (behind `tandem identity wrap | report | sunset`):
 *
 * - {@link wrapAtRest}: replaces every fast legacy hash still in the new store by a wrapped Argon2id hash (./wrap.ts),
 *   with a compare-and-set per row (a hash that changed meanwhile — a login, a relay — is left alone);
 * - {@link identityReport}: users by state (legacy only, wrapped, migrated, reset required), by legacy scheme, the
 *   new store's hashes by kind, and migrations per day;
 * - {@link sunsetIdentities}: marks every legacy user that has not migrated `reset_required` (the bridge then refuses
 *   their legacy credentials) and hands each one's identifier to a callback for the reset e-mails. No hash ever
 *   leaves the stores.
 *
 * All three read the tables in key order, page by page (keyset, never OFFSET).
 */
import { TandemError, isTandemError } from '../core/errors.js';
import { keyString } from '../core/mapping.js';
import type { Executor, Row, Store } from '../stores/types.js';
import { Argon2idHasher, Semaphore } from './argon2.js';
import { IdentityLedger, type IdentityState, type LedgerWrite } from './ledger.js';
import { normalizeIdentifier } from './normalize.js';
import { identifyHash } from './registry.js';
import type { ResolvedIdentity } from './resolve.js';
import type { Argon2Params } from './types.js';
import { isWrappableScheme, isWrappedHash, parseWrappedHash, pepperFromEnv, wrapLegacyHash } from './wrap.js';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';

function text(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return null;
}

/** Reads `table` in key order, `pageRows` rows at a time. */
async function* pages(
  store: Store,
  table: string,
  columns: string[],
  key: string[],
  pageRows: number,
): AsyncGenerator<Row[]> {
  let after: unknown[] | null = null;
  for (;;) {
    const st = store.sql.keyset({ table, columns: [...new Set([...key, ...columns])], key, after, limit: pageRows });
    const rows = await store.query(st.sql, st.params);
    if (!rows.length) return;
    yield rows;
    if (rows.length < pageRows) return;
    const last = rows[rows.length - 1]!;
    after = key.map((k) => last[k]);
  }
}

/**
 * The kind of a hash in the new store, for reports: `argon2id`, `wrapped:<scheme>`, `legacy:<scheme>`, `unknown`,
 * `empty`.
 */
export function hashKind(stored: unknown, options: ResolvedIdentity['verifyOptions'] = {}): string {
  const h = text(stored);
  if (!h) return 'empty';
  if (isWrappedHash(h)) {
    try {
      return `wrapped:${parseWrappedHash(h).scheme}`;
    } catch {
      return 'unknown';
    }
  }
  const scheme = identifyHash(h, options);
  if (!scheme) return 'unknown';
  return scheme === 'argon2id' ? 'argon2id' : `legacy:${scheme}`;
}

// --- wrap -------------------------------------------------------------------------------------------------------

/** Options of {@link wrapAtRest}. */
export interface WrapAtRestOptions {
  /** Argon2id parameters of the wrapping (default OWASP). */
  argon2?: Partial<Argon2Params>;
  /** Hashes computed at once (default: the number of CPUs). */
  concurrency?: number;
  /** The pepper (Argon2 secret); default `TANDEM_IDENTITY_PEPPER`; null for none. */
  pepper?: Uint8Array | string | null;
  /** Rows per page (default 500). */
  pageRows?: number;
  /** Count what would be wrapped, write nothing. */
  dryRun?: boolean;
  /** Progress after each page. */
  onProgress?: (r: WrapAtRestResult) => void;
  logger?: Logger;
  /** When aborted, the scan stops after the page in flight is written (`interrupted` is then true). */
  signal?: AbortSignal;
}

/** What {@link wrapAtRest} did. */
export interface WrapAtRestResult {
  /** Rows of the new store's user table read. */
  scanned: number;
  /** Hashes replaced by a wrapped hash (with `dryRun`: that would be). */
  wrapped: number;
  /** Already a direct Argon2 hash. */
  argon2: number;
  /** Already wrapped. */
  alreadyWrapped: number;
  /** Legacy hashes left as they are because their scheme is slow (bcrypt, PBKDF2, scrypt…), by scheme. */
  slow: Record<string, number>;
  /** Hashes no format recognises. */
  unknown: number;
  /** Malformed hashes, or work factors above the caps (logged with the key). */
  malformed: number;
  /** Empty password column. */
  empty: number;
  /** Rows whose hash changed between the read and the write (a login upgraded it): left alone. */
  changedMeanwhile: number;
  /** Present and true when `signal` stopped the scan before the last page (run it again to go on). */
  interrupted?: boolean;
}

/**
 * Wraps the fast legacy hashes still held by the new store (see the module comment and ./wrap.ts). Idempotent:
 * run it after the backfill, and again while the relay may copy fresh legacy hashes.
 * @param target the new store
 * @param resolved the entity's identity settings
 * @param options Argon2 parameters, concurrency, pepper, page size, dry run
 * @returns counts by outcome
 */
export async function wrapAtRest(
  target: Store,
  resolved: ResolvedIdentity,
  options: WrapAtRestOptions = {},
): Promise<WrapAtRestResult> {
  const t = resolved.target;
  const pageRows = options.pageRows ?? 500;
  const concurrency = options.concurrency ?? availableParallelism();
  const pepperOpt = options.pepper === undefined ? pepperFromEnv() : options.pepper;
  const pepper = pepperOpt === null ? null : typeof pepperOpt === 'string' ? Buffer.from(pepperOpt, 'utf8') : pepperOpt;
  const limiter = new Semaphore(concurrency, pageRows + 1);
  const hasher = new Argon2idHasher({ ...options.argon2, limiter, ...(pepper?.length ? { secret: pepper } : {}) });
  const ledger = new IdentityLedger(target);
  const r: WrapAtRestResult = {
    scanned: 0,
    wrapped: 0,
    argon2: 0,
    alreadyWrapped: 0,
    slow: {},
    unknown: 0,
    malformed: 0,
    empty: 0,
    changedMeanwhile: 0,
  };
  const table = target.sql.table(t.table.table.name);
  const pw = target.sql.ident(t.password);
  const keyWhere = t.keyColumns.map((c, i) => `${target.sql.ident(c)} = ${target.sql.param(i + 2)}`).join(' AND ');
  const update = `UPDATE ${table} SET ${pw} = ${target.sql.param(1)} WHERE ${keyWhere} AND ${pw} = ${target.sql.param(t.keyColumns.length + 2)}`;
  for await (const rows of pages(target, t.table.table.name, [t.identifier, t.password], t.keyColumns, pageRows)) {
    r.scanned += rows.length;
    const todo: { row: Row; stored: string; scheme: string }[] = [];
    for (const row of rows) {
      const stored = text(row[t.password]);
      if (!stored) {
        r.empty++;
        continue;
      }
      if (isWrappedHash(stored)) {
        r.alreadyWrapped++;
        continue;
      }
      const scheme = identifyHash(stored, resolved.verifyOptions);
      if (!scheme) r.unknown++;
      else if (scheme.includes('argon2')) r.argon2++;
      else if (isWrappableScheme(scheme)) todo.push({ row, stored, scheme });
      else r.slow[scheme] = (r.slow[scheme] ?? 0) + 1;
    }
    if (options.dryRun) {
      r.wrapped += todo.length;
      options.onProgress?.({ ...r });
      if (options.signal?.aborted) {
        r.interrupted = true;
        break;
      }
      continue;
    }
    const done = await Promise.all(
      todo.map(async (x) => {
        try {
          return {
            ...x,
            wrapped: (await wrapLegacyHash(x.stored, { hasher, pepper, options: resolved.verifyOptions })).wrapped,
          };
        } catch (e) {
          if (!isTandemError(e) || !e.code.startsWith('TANDEM_ERR_HASH_')) throw e;
          r.malformed++;
          options.logger?.warn(
            {
              event: 'identity.wrap_skipped',
              entity: resolved.entity.name,
              key: JSON.stringify(t.keyColumns.map((c) => x.row[c])),
              code: e.code,
            },
            'a legacy hash cannot be wrapped',
          );
          return null;
        }
      }),
    );
    await target.transaction(async (tx: Executor) => {
      const ledgerRows: LedgerWrite[] = [];
      for (const d of done) {
        if (!d) continue;
        const keyValues = t.keyColumns.map((c) => d.row[c]);
        const n = await tx.execute(update, [d.wrapped, ...keyValues, d.stored]);
        if (n > 0) {
          r.wrapped++;
          ledgerRows.push({
            key: keyString(keyValues, resolved.entity.keyColumns),
            identifier: normalizeIdentifier(text(d.row[t.identifier])),
            state: 'wrapped',
            scheme: d.scheme,
          });
        } else r.changedMeanwhile++;
      }
      await ledger.write(tx, resolved.entity.name, ledgerRows, 'insert-only');
    });
    options.onProgress?.({ ...r });
    if (options.signal?.aborted) {
      r.interrupted = true;
      break;
    }
  }
  return r;
}

// --- report -----------------------------------------------------------------------------------------------------

/** Users per state. `legacy_only`: no ledger row (the user never logged in through the bridge, nor was wrapped). */
export type StateCounts = Record<'legacy_only' | IdentityState, number>;

/** What {@link identityReport} returns. */
export interface IdentityReport {
  entity: string;
  generatedAt: string;
  /** Users in the legacy store (null when it is not available). */
  legacyUsers: number | null;
  /** Legacy users by state. */
  states: StateCounts;
  /** Legacy users by the scheme of their legacy hash, then by state. */
  bySchemes: Record<string, StateCounts>;
  /** Ledger rows whose key is no longer in the legacy store (deleted there after migrating). */
  ledgerOnly: number;
  /**
   * The new store's user table: rows, and hashes by kind (`argon2id`, `wrapped:<scheme>`, `legacy:<scheme>`, `unknown`,
   * `empty`).
   */
  newStore: { users: number; hashes: Record<string, number> };
  /** Users migrated through the bridge per UTC day. */
  migratedPerDay: { day: string; count: number }[];
}

const zero = (): StateCounts => ({ legacy_only: 0, wrapped: 0, migrated: 0, reset_required: 0 });

/**
 * Builds the identity report of an entity (reads only).
 * @param source the legacy store, or null (then `legacyUsers` is null and `states` come from the ledger alone)
 * @param target the new store
 * @param resolved the entity's identity settings
 * @param options `pageRows` (default 1000)
 */
export async function identityReport(
  source: Store | null,
  target: Store,
  resolved: ResolvedIdentity,
  options: { pageRows?: number } = {},
): Promise<IdentityReport> {
  const e = resolved.entity;
  const pageRows = options.pageRows ?? 1000;
  const ledger = new IdentityLedger(target);
  const states = zero();
  const bySchemes: Record<string, StateCounts> = {};
  let legacyUsers: number | null = null;
  let matched = 0;
  if (source) {
    legacyUsers = 0;
    for await (const rows of pages(source, e.source.name, [resolved.source.password], e.key, pageRows)) {
      legacyUsers += rows.length;
      const keys = rows.map((row) =>
        keyString(
          e.key.map((k) => row[k]),
          e.keyColumns,
        ),
      );
      const known = await ledger.statesOf(e.name, keys);
      rows.forEach((row, i) => {
        const st = known.get(keys[i]!) ?? 'legacy_only';
        if (st !== 'legacy_only') matched++;
        const h = text(row[resolved.source.password]);
        const scheme = h ? (identifyHash(h, resolved.verifyOptions) ?? 'unknown') : 'empty';
        states[st]++;
        (bySchemes[scheme] ??= zero())[st]++;
      });
    }
  }
  const inLedger = await ledger.countByState(e.name);
  if (!source) for (const k of Object.keys(inLedger) as IdentityState[]) states[k] = inLedger[k];
  const ledgerTotal = inLedger.migrated + inLedger.wrapped + inLedger.reset_required;
  const hashes: Record<string, number> = {};
  let users = 0;
  const t = resolved.target;
  for await (const rows of pages(target, t.table.table.name, [t.password], t.keyColumns, pageRows)) {
    users += rows.length;
    for (const row of rows) {
      const k = hashKind(row[t.password], resolved.verifyOptions);
      hashes[k] = (hashes[k] ?? 0) + 1;
    }
  }
  return {
    entity: e.name,
    generatedAt: new Date().toISOString(),
    legacyUsers,
    states,
    bySchemes,
    ledgerOnly: source ? Math.max(0, ledgerTotal - matched) : 0,
    newStore: { users, hashes },
    migratedPerDay: await ledger.migratedPerDay(e.name),
  };
}

/** The report as text (for the CLI). */
export function formatIdentityReport(r: IdentityReport): string {
  const pad = (s: string | number, n: number) => String(s).padStart(n);
  const lines = [`identity report — entity ${r.entity} (${r.generatedAt})`];
  lines.push(`legacy users: ${r.legacyUsers ?? 'n/a (legacy store not available)'}`);
  const label: Record<keyof StateCounts, string> = {
    legacy_only: 'legacy only',
    wrapped: 'wrapped',
    migrated: 'migrated',
    reset_required: 'reset required',
  };
  for (const k of Object.keys(label) as (keyof StateCounts)[])
    lines.push(`  ${label[k].padEnd(16)}${pad(r.states[k], 10)}`);
  if (r.ledgerOnly) lines.push(`  (${r.ledgerOnly} ledger rows have no legacy row any more)`);
  const schemes = Object.keys(r.bySchemes).sort();
  if (schemes.length) {
    lines.push('by legacy scheme:');
    lines.push(
      `  ${'scheme'.padEnd(26)}${pad('legacy only', 12)}${pad('wrapped', 10)}${pad('migrated', 10)}${pad('reset req.', 12)}`,
    );
    for (const s of schemes) {
      const c = r.bySchemes[s]!;
      lines.push(
        `  ${s.padEnd(26)}${pad(c.legacy_only, 12)}${pad(c.wrapped, 10)}${pad(c.migrated, 10)}${pad(c.reset_required, 12)}`,
      );
    }
  }
  lines.push(`new store: ${r.newStore.users} users; hashes by kind:`);
  for (const [k, n] of Object.entries(r.newStore.hashes).sort()) lines.push(`  ${k.padEnd(34)}${pad(n, 10)}`);
  lines.push('migrated per day (UTC):');
  if (!r.migratedPerDay.length) lines.push('  none yet');
  for (const d of r.migratedPerDay) lines.push(`  ${d.day}${pad(d.count, 10)}`);
  return lines.join('\n');
}

// --- sunset -----------------------------------------------------------------------------------------------------

/** One user handed to the reset e-mails: identifiers only, never a hash. */
export interface SunsetEntry {
  /** The entity key (the value for a one-column key, else a JSON array). */
  key: string;
  /** The identifier as the legacy store holds it (the e-mail address to write to). */
  identifier: string;
  /** The state before the sunset. */
  previousState: 'legacy_only' | 'wrapped' | 'reset_required';
}

/** What {@link sunsetIdentities} did. */
export interface SunsetResult {
  /** The sunset date, ISO-8601. */
  before: string;
  /** Legacy users read. */
  scanned: number;
  /** Users now `reset_required` (with `dryRun`: that would be), including those that already were. */
  resetRequired: number;
  /** Of those, the ones that already were before this run. */
  alreadyResetRequired: number;
  /** Users that migrated (kept as they are). */
  migrated: number;
  /** Present and true when `signal` stopped the run before the last page (run it again to go on). */
  interrupted?: boolean;
}

/**
 * Sunsets the legacy credentials of an entity: every legacy user that has not migrated through the bridge becomes
 * `reset_required` (the bridge then refuses their legacy or wrapped credentials; an Argon2id hash written by the
 * application's reset flow is accepted and marks them migrated), and `onEntry` receives each one for the reset
 * e-mails. A user who migrates while this runs stays migrated (the ledger write never demotes `migrated`).
 * @param source the legacy store
 * @param target the new store
 * @param resolved the entity's identity settings
 * @param options `before`: the announced sunset date (must not be in the future: users may still migrate until
 *   then); `dryRun`: list without marking; `onEntry`: receives each user; `pageRows` (default 1000); `signal`: stop
 * after
 *   the page in flight (`interrupted` is then true)
 * @throws TANDEM_ERR_CONFIG_INVALID when `before` is invalid or in the future
 */
export async function sunsetIdentities(
  source: Store,
  target: Store,
  resolved: ResolvedIdentity,
  options: {
    before: Date;
    dryRun?: boolean;
    onEntry?: (entry: SunsetEntry) => void | Promise<void>;
    pageRows?: number;
    signal?: AbortSignal;
  },
): Promise<SunsetResult> {
  const before = options.before;
  if (!(before instanceof Date) || Number.isNaN(before.getTime()))
    throw new TandemError('CONFIG_INVALID', 'sunset: --before must be a date (YYYY-MM-DD or ISO-8601)', {
      parameter: 'before',
    });
  if (before.getTime() > Date.now()) {
    throw new TandemError(
      'CONFIG_INVALID',
      `sunset: the date ${before.toISOString()} is in the future; users may still migrate until then — run it on or after that date`,
      { parameter: 'before' },
    );
  }
  const e = resolved.entity;
  const ledger = new IdentityLedger(target);
  const out: SunsetResult = {
    before: before.toISOString(),
    scanned: 0,
    resetRequired: 0,
    alreadyResetRequired: 0,
    migrated: 0,
  };
  const ident = resolved.source.identifier;
  for await (const rows of pages(
    source,
    e.source.name,
    [ident, resolved.source.password],
    e.key,
    options.pageRows ?? 1000,
  )) {
    out.scanned += rows.length;
    const keys = rows.map((row) =>
      keyString(
        e.key.map((k) => row[k]),
        e.keyColumns,
      ),
    );
    const known = await ledger.statesOf(e.name, keys);
    const marks: LedgerWrite[] = [];
    const entries: SunsetEntry[] = [];
    rows.forEach((row, i) => {
      const st = known.get(keys[i]!);
      if (st === 'migrated') {
        out.migrated++;
        return;
      }
      const identifier = text(row[ident]) ?? '';
      const keyValues = e.key.map((k) => row[k]);
      const h = text(row[resolved.source.password]);
      marks.push({
        key: keys[i]!,
        identifier: normalizeIdentifier(identifier),
        state: 'reset_required',
        scheme: h ? identifyHash(h, resolved.verifyOptions) : null,
      });
      entries.push({
        key: keyValues.length === 1 ? String(keyValues[0]) : JSON.stringify(keyValues),
        identifier,
        previousState: st ?? 'legacy_only',
      });
      out.resetRequired++;
      if (st === 'reset_required') out.alreadyResetRequired++;
    });
    if (!options.dryRun && marks.length)
      await target.transaction((tx) => ledger.write(tx, e.name, marks, 'unless-migrated'));
    for (const entry of entries) await options.onEntry?.(entry);
    if (options.signal?.aborted) {
      out.interrupted = true;
      break;
    }
  }
  return out;
}

/** Quotes one CSV field (RFC 4180): in double quotes when it holds a comma, quote, CR or LF. */
export function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}
