import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DATASETS_DIR, dataset, isCi } from './datasets.js';

const ROOT = resolve(import.meta.dirname, '..');

describe('test/datasets.ts', () => {
  it('resolves TANDEM_DATASETS, by default <repo>/../shared/datasets', () => {
    expect(DATASETS_DIR).toBe(
      process.env.TANDEM_DATASETS ? resolve(process.env.TANDEM_DATASETS) : resolve(ROOT, '../shared/datasets'),
    );
  });

  it('names a missing folder or missing files, and nothing when all are there', () => {
    const root = mkdtempSync(join(tmpdir(), 'tandem-ds-'));
    expect(dataset('nope', ['a.sql'], root).missing).toBe(`dataset nope not found at ${join(root, 'nope')}`);
    mkdirSync(join(root, 'some'));
    writeFileSync(join(root, 'some', 'a.sql'), '');
    expect(dataset('some', ['a.sql', 'b.sql'], root).missing).toBe(`dataset some at ${join(root, 'some')} lacks b.sql`);
    const ok = dataset('some', ['a.sql'], root);
    expect(ok.missing).toBeNull();
    expect(ok.file('a.sql')).toBe(join(root, 'some', 'a.sql'));
  });

  it('CI is CI=true or CI=1', () => {
    expect([undefined, '', 'false', '0', 'no'].map((v) => isCi({ CI: v }))).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(['true', 'TRUE', '1'].map((v) => isCi({ CI: v }))).toEqual([true, true, true]);
  });

  // A real vitest run of a suite that needs a data set that is not there: skipped with the reason in its name,
  // and failed under CI=true.
  describe('a suite whose data set is missing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-ds-run-'));
    writeFileSync(
      join(dir, 'needs.test.ts'),
      `import { it } from 'vitest';\nimport { dataset, describeWithDataset } from ${JSON.stringify(join(ROOT, 'test/datasets.ts'))};\n` +
        `describeWithDataset(dataset('chinook', ['Chinook_MySql.sql']), 'uses chinook', () => { it('reads it', () => { throw new Error('must not run'); }); });\n`,
    );
    writeFileSync(join(dir, 'vitest.config.mjs'), `export default { test: { include: ['needs.test.ts'] } };\n`);
    const vitest = (ci: string) =>
      spawnSync(
        process.execPath,
        [
          join(ROOT, 'node_modules/vitest/vitest.mjs'),
          'run',
          '--root',
          dir,
          '--config',
          join(dir, 'vitest.config.mjs'),
          '--reporter',
          'verbose',
        ],
        {
          cwd: dir,
          env: { ...process.env, CI: ci, TANDEM_DATASETS: join(dir, 'absent'), NO_COLOR: '1', FORCE_COLOR: '0' },
          encoding: 'utf8',
          timeout: 60_000,
        },
      );

    it('is skipped with the reason in its name outside CI', () => {
      const r = vitest('');
      const out = r.stdout + r.stderr;
      expect(r.status, out).toBe(0);
      expect(out).toContain(
        `uses chinook (skipped: dataset chinook not found at ${join(dir, 'absent', 'chinook')}; set TANDEM_DATASETS)`,
      );
      expect(out).not.toContain('must not run');
    });

    it('fails the run under CI=true, naming the path', () => {
      const r = vitest('true');
      const out = r.stdout + r.stderr;
      expect(r.status, out).toBe(1);
      expect(out).toContain(
        `dataset chinook not found at ${join(dir, 'absent', 'chinook')} — CI=true makes the data sets mandatory`,
      );
      expect(out).not.toContain('must not run');
    });
  });
});
