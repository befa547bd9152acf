import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TandemError } from '../core/errors.js';

/** The file `tandem demo` writes into its folder to mark it as its own. */
export const DEMO_MARKER = '.tandem-demo';
const MARKER_TEXT =
  'This folder was created by `tandem demo`. A new demo run empties it; remove it when you no longer need it.\n';

/**
 * The entries a demo run writes into its folder (besides the marker): the legacy SQLite file and its WAL/SHM
 * companions, the PGlite data directory and the config. Only these are ever removed.
 */
export const DEMO_ENTRIES = [
  'legacy.sqlite',
  'legacy.sqlite-wal',
  'legacy.sqlite-shm',
  'legacy.sqlite-journal',
  'new-pglite',
  'tandem.config.ts',
] as const;

/**
 * Makes `dir` ready for a demo run without ever removing what the demo did not create:
 * - a folder that does not exist is created (its parents too) and marked with {@link DEMO_MARKER};
 * - an empty folder is marked and used;
 * - a folder holding the marker and nothing but the demo's own entries ({@link DEMO_ENTRIES}) has those entries
 *   removed (the marker stays);
 * - anything else — a file, a folder holding anything without the marker, or a marked folder holding anything
 *   besides the demo's entries — is refused with `TANDEM_ERR_USAGE` and left exactly as it was.
 */
export function prepareDemoDir(dir: string): void {
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, DEMO_MARKER), MARKER_TEXT);
    return;
  }
  const st = lstatSync(dir);
  if (!st.isDirectory())
    throw new TandemError('USAGE', `--dir ${dir} is not a folder; name a new or empty folder for the demo`);
  const entries = readdirSync(dir);
  if (entries.length === 0) {
    writeFileSync(join(dir, DEMO_MARKER), MARKER_TEXT);
    return;
  }
  const marked =
    entries.includes(DEMO_MARKER) &&
    lstatSync(join(dir, DEMO_MARKER)).isFile() &&
    readFileSync(join(dir, DEMO_MARKER), 'utf8') === MARKER_TEXT;
  const foreign = entries.filter((e) => e !== DEMO_MARKER && !(DEMO_ENTRIES as readonly string[]).includes(e));
  if (!marked || foreign.length)
    throw new TandemError(
      'USAGE',
      `--dir ${dir} is not empty and was not created by tandem demo (${marked ? `it holds ${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''}` : `no ${DEMO_MARKER} marker`}); the demo only empties a folder it created itself: name a new or empty folder`,
      { dir },
    );
  for (const e of DEMO_ENTRIES) rmSync(join(dir, e), { recursive: true, force: true });
}
