import { TandemError, redactUrl } from '../core/errors.js';
import type { Dialect } from './types.js';

/**
 * A store URL, parsed. Accepted forms:
 * - `postgres://user:pass@host:5432/db?schema=public` (also `postgresql://`)
 * - `mysql://user:pass@host:3306/db` (also `mariadb://`)
 * - `sqlite:<file>` (relative or absolute path; `sqlite::memory:` for an in-memory database)
 * - `pglite:<dir>` (a data directory) or `pglite:memory`
 */
export interface StoreUrl {
  dialect: Dialect;
  /** The original URL. Holds the password, if any: never log it; use `redacted`. */
  raw: string;
  redacted: string;
  /** For server dialects: the parsed URL. */
  url?: URL;
  /** For `sqlite:` and `pglite:`: the path, or `:memory:` / `memory`. */
  path?: string;
}

/**
 * Parses a store URL. Throws `TANDEM_ERR_URL_SCHEME` for an unknown scheme and `TANDEM_ERR_URL_INVALID` for a
 * URL that cannot be parsed or lacks a database name.
 */
export function parseStoreUrl(raw: string): StoreUrl {
  if (typeof raw !== 'string' || raw.trim() === '') {
    throw new TandemError('URL_INVALID', 'store URL is empty');
  }
  const redacted = redactUrl(raw);
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(raw);
  if (!m)
    throw new TandemError(
      'URL_INVALID',
      `store URL "${redacted}" has no scheme (expected postgres://, mysql://, mariadb://, sqlite:, pglite:)`,
    );
  const scheme = m[1]!.toLowerCase();
  switch (scheme) {
    case 'postgres':
    case 'postgresql':
    case 'mysql':
    case 'mariadb': {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        throw new TandemError('URL_INVALID', `store URL "${redacted}" cannot be parsed`);
      }
      if (!url.hostname) throw new TandemError('URL_INVALID', `store URL "${redacted}" has no host`);
      const db = decodeURIComponent(url.pathname.replace(/^\//, ''));
      if (!db) throw new TandemError('URL_INVALID', `store URL "${redacted}" names no database (add /<database>)`);
      return { dialect: scheme.startsWith('postgres') ? 'postgres' : 'mysql', raw, redacted, url };
    }
    case 'sqlite': {
      const path = raw.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
      if (!path) throw new TandemError('URL_INVALID', `store URL "${redacted}" names no file (sqlite:<file>)`);
      return { dialect: 'sqlite', raw, redacted, path };
    }
    case 'pglite': {
      const path = raw.slice('pglite:'.length).replace(/^\/\/(?=\/)/, '');
      if (!path)
        throw new TandemError(
          'URL_INVALID',
          `store URL "${redacted}" names no directory (pglite:<dir> or pglite:memory)`,
        );
      return { dialect: 'pglite', raw, redacted, path };
    }
    default:
      throw new TandemError(
        'URL_SCHEME',
        `store URL "${redacted}" has unknown scheme "${scheme}:" (expected postgres://, mysql://, mariadb://, sqlite:, pglite:)`,
      );
  }
}
