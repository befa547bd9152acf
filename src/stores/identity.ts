import { existsSync, realpathSync, statSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { basename, dirname, resolve } from 'node:path';
import { parseStoreUrl, type StoreUrl } from './url.js';

/**
 * Which store a URL names, as a canonical string, so that two URLs written differently compare equal when they
 * reach the same tables (`sameStore`). Two stores with the same identity share one namespace of table names:
 *
 * - PostgreSQL (`postgres://`, `postgresql://`): the server (host, port), the database and the schema
 *   (`?schema=`, default `public`; Tandem qualifies every table with it, so `search_path` plays no part) —
 *   `pg|<host>|<port>|<database>|<schema>`. One database with two schemas is two namespaces.
 * - MySQL/MariaDB (`mysql://`, `mariadb://`): the server and the database (a MySQL database is a schema) —
 *   `mysql|<host>|<port>|<database>`, the database lower-cased (case-insensitive on some platforms).
 * - SQLite: the file, by device and inode when it exists (symlinks, hard links, relative and absolute paths all
 *   meet), else by the real path of its folder and its name — `sqlite|…`.
 * - PGlite: the data folder, the same way, plus the schema `public` — `pglite|…|public`.
 *
 * Hosts: lower-cased, brackets dropped; every name of this machine — `localhost` (and `*.localhost`),
 * `127.0.0.0/8`, `::1`, `0.0.0.0`, `::`, the machine's host name and the addresses of its network interfaces —
 * and a Unix-socket folder (`?host=/var/run/postgresql`, or a host that decodes to a path) all become `local`:
 * one server on this machine is reached through any of them, and wrongly calling two stores the same only
 * refuses a config, while wrongly calling them different could overwrite the legacy data. Default ports
 * (5432, 3306) are filled in. A DNS name or a port forward to the same server is not seen here; the server
 * identity taken after opening (`Store.serverIdentity`) catches it.
 *
 * Returns null for a store that is never the same as another: `sqlite::memory:` (and `file:` URIs in memory
 * mode), `pglite:memory`. Throws what `parseStoreUrl` throws for a bad URL.
 */
export function storeIdentity(url: string | StoreUrl): string | null {
  const u = typeof url === 'string' ? parseStoreUrl(url) : url;
  switch (u.dialect) {
    case 'postgres': {
      const x = u.url!;
      const socket = x.searchParams.get('host');
      const host = canonicalHost(socket ?? x.hostname);
      const port = x.searchParams.get('port') ?? (x.port || '5432');
      const db = decodeURIComponent(x.pathname.replace(/^\//, ''));
      const schema = x.searchParams.get('schema') ?? 'public';
      return ['pg', host, Number(port), db, schema].join('|');
    }
    case 'mysql': {
      const x = u.url!;
      const host = canonicalHost(x.hostname);
      const port = x.port || '3306';
      const db = decodeURIComponent(x.pathname.replace(/^\//, '')).toLowerCase();
      return ['mysql', host, Number(port), db].join('|');
    }
    case 'sqlite': {
      const raw = u.path ?? '';
      if (raw === ':memory:' || raw === '') return null;
      let file = raw;
      if (raw.startsWith('file:')) {
        const [path, query = ''] = raw.slice('file:'.length).split('?', 2) as [string, string?];
        if (path === ':memory:' || new URLSearchParams(query).get('mode') === 'memory' || path === '') return null;
        file = decodeURIComponent(path.replace(/^\/\/(?=\/)/, ''));
      }
      return `sqlite|${fileIdentity(file)}`;
    }
    case 'pglite': {
      const raw = u.path ?? '';
      if (raw === 'memory' || raw.startsWith('memory://')) return null;
      return `pglite|${fileIdentity(raw)}|public`;
    }
  }
}

/** True when both URLs name the same store (see {@link storeIdentity}); never for in-memory stores. */
export function sameStore(a: string | StoreUrl, b: string | StoreUrl): boolean {
  const x = storeIdentity(a);
  return x !== null && x === storeIdentity(b);
}

/** A file or folder: `inode:<dev>:<ino>` when it exists, else `path:<real path of the folder>/<name>`. */
function fileIdentity(path: string): string {
  const abs = resolve(process.cwd(), path);
  if (existsSync(abs)) {
    const st = statSync(abs);
    return `inode:${st.dev}:${st.ino}`;
  }
  // not created yet: its folder may be reached through a symlink
  let dir = dirname(abs);
  try {
    dir = realpathSync(dir);
  } catch {
    // the folder does not exist either: the path as written
  }
  return `path:${resolve(dir, basename(abs))}`;
}

/** The names and addresses of this machine, lower-cased, computed once. */
let localNames: Set<string> | undefined;
function local(): Set<string> {
  if (localNames) return localNames;
  const names = new Set(['localhost', '::1', '0.0.0.0', '::', '0:0:0:0:0:0:0:1']);
  try {
    const h = hostname().toLowerCase();
    names.add(h);
    names.add(h.split('.')[0]!);
  } catch {
    // no host name
  }
  try {
    for (const list of Object.values(networkInterfaces()))
      for (const a of list ?? []) names.add(a.address.toLowerCase().replace(/%.*$/, ''));
  } catch {
    // no interfaces visible
  }
  return (localNames = names);
}

/** `local` for any name of this machine or a Unix-socket folder, else the host lower-cased without brackets. */
export function canonicalHost(raw: string): string {
  let h = decodeURIComponent(raw).trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.startsWith('/')) return 'local';
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\./.test(h) || h.endsWith('.localhost')) return 'local';
  return local().has(h) ? 'local' : h;
}
