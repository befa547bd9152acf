import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';

/**
 * The cluster template of new PGlite stores: a tarball of a freshly initialised PGlite data directory
 * (`PGlite.dumpDataDir('none')`), from which a new instance starts (`loadDataDir`) instead of running initdb in
 * WebAssembly — about 1.5 s instead of 5–10 s per new store. Nothing of any user's data is in it: it is dumped
 * right after `PGlite.create()`, before the first statement.
 *
 * Where: `TANDEM_PGLITE_TEMPLATE` names the file; unset, it is `<os.tmpdir()>/tandem-pglite-<version>-<user>.tar`
 * (one per PGlite version, so an upgrade never starts from another version's cluster); `TANDEM_PGLITE_TEMPLATE=off`
 * turns templates off (every new store runs initdb). The file is written once, by the first process that
 * initialises a store without one (to a temporary name, then renamed: processes racing write whole files only).
 * @internal
 */
export interface PgliteTemplate {
  /** The template's bytes, or undefined when there is none yet (or templates are off). */
  read(): Blob | undefined;
  /** Saves a template dumped from `db`, a cluster just initialised (no statement run on it yet). Never throws. */
  save(db: PGlite): Promise<void>;
  /** Removes a template that failed to load (only the default file, which Tandem wrote). Never throws. */
  discard(): void;
}

function pgliteVersion(): string | null {
  try {
    const require = createRequire(import.meta.url);
    let dir = dirname(require.resolve('@electric-sql/pglite'));
    for (let i = 0; i < 4; i++, dir = dirname(dir)) {
      const pkg = join(dir, 'package.json');
      if (existsSync(pkg)) {
        const j = JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string; version?: string };
        if (j.name === '@electric-sql/pglite' && j.version) return j.version;
      }
    }
  } catch {
    // no version: no template
  }
  return null;
}

/** The template file in use (see {@link PgliteTemplate}), or null when templates are off. @internal */
export function pgliteTemplate(): PgliteTemplate | null {
  const env = process.env.TANDEM_PGLITE_TEMPLATE;
  if (env === 'off' || env === '0') return null;
  let file = env;
  const ours = !env;
  if (!file) {
    const version = pgliteVersion();
    if (!version) return null;
    let user = 'user';
    try {
      user = userInfo().username.replace(/[^A-Za-z0-9_.-]/g, '_') || user;
    } catch {
      // no user name: a shared name
    }
    file = join(tmpdir(), `tandem-pglite-${version}-${user}.tar`);
  }
  const path = file;
  return {
    read() {
      try {
        if (!existsSync(path) || statSync(path).size === 0) return undefined;
        return new Blob([readFileSync(path)]);
      } catch {
        return undefined;
      }
    },
    async save(db) {
      if (!ours && existsSync(path)) return;
      try {
        const blob = await db.dumpDataDir('none');
        const part = `${path}.${process.pid}.${Date.now()}.part`;
        writeFileSync(part, Buffer.from(await blob.arrayBuffer()), { mode: 0o600 });
        renameSync(part, path);
      } catch {
        // no template saved: the next new store runs initdb again
      }
    },
    discard() {
      if (ours) rmSync(path, { force: true });
    },
  };
}
