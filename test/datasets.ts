/**
 * Where the tests find the real data sets (Chinook, Sakila): the folder named by `TANDEM_DATASETS` (a path,
 * relative to the working directory), by default `<repository>/../shared/datasets`.
 *
 * A test that needs a data set declares it with {@link describeWithDataset}. When the files are there it runs as
 * usual. When they are not:
 * - normally its suite is skipped, and the reason is in the suite's name (`… (skipped: dataset chinook not found
 *   at /x/chinook; set TANDEM_DATASETS)`), so a run on a fresh clone without `../shared` passes and says what it
 *   left out;
 * - under `CI=true` (also `CI=1`) the suite holds one failing test naming the missing files instead: CI always
 *   runs the data-set tests, and a missing data set fails the run rather than passing it unnoticed.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');

/** The data sets folder: `TANDEM_DATASETS` resolved against the working directory, else `<repo>/../shared/datasets`. */
export const DATASETS_DIR: string = process.env.TANDEM_DATASETS
  ? resolve(process.env.TANDEM_DATASETS)
  : resolve(ROOT, '../shared/datasets');

/** True when `CI` says this is a CI run (`true` or `1`, any case): missing data sets then fail instead of skipping. */
export function isCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = (env.CI ?? '').trim().toLowerCase();
  return v === 'true' || v === '1';
}

/** One data set: its folder and, when some of the files a test needs are not there, why. */
export interface Dataset {
  /** The data set's name, its sub-folder of {@link DATASETS_DIR} (`chinook`, `sakila`). */
  name: string;
  /** Absolute path of the data set's folder (it may not exist). */
  dir: string;
  /** Absolute path of one of its files. */
  file(relative: string): string;
  /** Null when every required file exists; else what is missing, for a test name or an error message. */
  missing: string | null;
}

/**
 * Looks up data set `name` and checks that each of `files` (paths inside its folder) exists. Never throws:
 * whether a missing data set skips or fails is {@link describeWithDataset}'s decision.
 */
export function dataset(name: string, files: readonly string[], root: string = DATASETS_DIR): Dataset {
  const dir = join(root, name);
  const absent = files.filter((f) => !existsSync(join(dir, f)));
  let missing: string | null = null;
  if (!existsSync(dir)) missing = `dataset ${name} not found at ${dir}`;
  else if (absent.length) missing = `dataset ${name} at ${dir} lacks ${absent.join(', ')}`;
  return { name, dir, file: (f) => join(dir, f), missing };
}

/**
 * `describe(title, fn)` for a suite that reads data set `ds`. With the data set present it is exactly that.
 * Without it: outside CI a skipped suite titled `<title> (skipped: <reason>; set TANDEM_DATASETS)`; under
 * `CI=true` a suite `<title>` whose single test fails with the reason (its real tests are not registered, so
 * nothing reads the missing files).
 */
export function describeWithDataset(
  ds: Dataset,
  title: string,
  fn: () => void,
  env: NodeJS.ProcessEnv = process.env,
): void {
  if (!ds.missing) {
    describe(title, fn);
    return;
  }
  if (isCi(env)) {
    describe(title, () => {
      it(`needs ${ds.name}`, () => {
        throw new Error(
          `${ds.missing} — CI=true makes the data sets mandatory: set TANDEM_DATASETS to the folder that holds ${ds.name}/ (default ../shared/datasets)`,
        );
      });
    });
    return;
  }
  describe.skip(`${title} (skipped: ${ds.missing}; set TANDEM_DATASETS)`, fn);
}
