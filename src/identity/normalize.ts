/**
 * Identifier normalisation for the identity bridge, applied the same way to what a user types, to the legacy
 * store's identifier column and to the new store's: the same e-mail written `Zoë@Example.COM`, `zoë@example.com`
 * (precomposed ë) or `zoe\u0308@example.com` (e + combining diaeresis) is one user on both sides.
 *
 * The database lookups are built so that the stores find the row with an index where they can (see
 * {@link lookupWhere}); the final equality test is always this function, in JS, on the candidates returned.
 */
import { createHash, createHmac } from 'node:crypto';
import type { Store } from '../stores/types.js';

/** Identifiers longer than this (in UTF-16 code units, after normalisation) never match a user. */
export const MAX_IDENTIFIER_LENGTH = 512;

/**
 * The normal form of an identifier: surrounding white space removed, Unicode NFC, lower-cased with the
 * locale-independent Unicode default case mapping (`String.prototype.toLowerCase`), NFC again (lower-casing can
 * produce decomposed sequences, e.g. `İ` → `i̇`).
 *
 * This is simple case folding as far as `toLowerCase` goes: `ß` stays `ß` (full case folding would give `ss`), which
 * is what databases' `lower()` do too, so both sides agree.
 * @param identifier what the user typed, or the value of an identifier column
 * @returns the normalised identifier ('' for non-strings)
 */
export function normalizeIdentifier(identifier: unknown): string {
  if (typeof identifier !== 'string') return '';
  return identifier.trim().normalize('NFC').toLowerCase().normalize('NFC');
}

/**
 * A stable, non-reversible fingerprint of a normalised identifier, used as the key of the failure counter and in
 * logs (never the identifier itself): HMAC-SHA-256 keyed with the pepper when one is configured, SHA-256 otherwise.
 * @param entity the entity name (counters are per entity)
 * @param normalized the output of {@link normalizeIdentifier}
 * @param pepper the optional secret (TANDEM_IDENTITY_PEPPER)
 * @returns 64 hex digits
 */
export function identifierFingerprint(entity: string, normalized: string, pepper?: Uint8Array | null): string {
  const data = `tandem-identity\u0000${entity}\u0000${normalized}`;
  return pepper?.length
    ? createHmac('sha256', pepper).update(data, 'utf8').digest('hex')
    : createHash('sha256').update(data, 'utf8').digest('hex');
}

/**
 * How a store's identifier column is searched:
 * - `exact`: the column already holds normalised identifiers (the application lower-cases them on write):
 *   `col = ?` — served by a plain index;
 * - `collation`: the column's collation is case-insensitive (MySQL/MariaDB `*_ci`, the default): `col IN (?, ?)` —
 *   served by the plain index; the collation matches other cases (and, for `*_ai_ci`/`unicode_ci`, accents, which
 *   the JS check then rejects);
 * - `lower`: `lower(col) IN (?, ?)` — needs an expression index (`CREATE INDEX … ON users (lower(email))` in
 *   PostgreSQL, a generated column + index in MySQL) to avoid a full scan. SQLite's `lower()` only folds ASCII.
 *
 * The two parameters are the normalised identifier in NFC and in NFD, so a column that stores decomposed text is
 * found as well. Candidates are then compared with {@link normalizeIdentifier} in JS.
 */
export type LookupMode = 'exact' | 'collation' | 'lower';

/**
 * The WHERE clause that finds the candidates for a normalised identifier.
 * @param store the store the clause runs on (quoting, placeholders)
 * @param column the identifier column
 * @param mode see {@link LookupMode}
 * @param normalized the output of {@link normalizeIdentifier}
 * @param first the number of the first placeholder (1-based)
 */
export function lookupWhere(
  store: Store,
  column: string,
  mode: LookupMode,
  normalized: string,
  first = 1,
): { sql: string; params: string[] } {
  const col = store.sql.ident(column);
  if (mode === 'exact') return { sql: `${col} = ${store.sql.param(first)}`, params: [normalized] };
  const nfd = normalized.normalize('NFD');
  const values = nfd === normalized ? [normalized] : [normalized, nfd];
  const lhs = mode === 'lower' ? `lower(${col})` : col;
  const ph = values.map((_, i) => store.sql.param(first + i));
  return { sql: values.length === 1 ? `${lhs} = ${ph[0]}` : `${lhs} IN (${ph.join(', ')})`, params: values };
}

/**
 * Picks the lookup mode of a column when the config says `auto`: MySQL/MariaDB columns with a case-insensitive
 * collation use `collation`; everything else `lower`.
 * @param store the store holding the column
 * @param table the table
 * @param column the identifier column
 */
export async function detectLookupMode(store: Store, table: string, column: string): Promise<LookupMode> {
  const st = store.sql.identity.columnCollation?.(table, column);
  if (!st) return 'lower';
  try {
    const r = await store.query<{ c: string | null }>(st.sql, st.params);
    const c = r[0]?.c;
    return c && /_ci$/i.test(String(c)) ? 'collation' : 'lower';
  } catch {
    return 'lower';
  }
}
