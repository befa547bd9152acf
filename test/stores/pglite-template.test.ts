import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/stores/index.js';

/**
 * New PGlite stores start from the cluster template (src/stores/pglite/template.ts): written by the first store
 * that runs initdb, loaded by the next; a damaged template falls back to initdb; `off` writes none.
 */
describe('PGlite cluster template', () => {
  const saved = process.env.TANDEM_PGLITE_TEMPLATE;
  afterEach(() => {
    if (saved === undefined) delete process.env.TANDEM_PGLITE_TEMPLATE;
    else process.env.TANDEM_PGLITE_TEMPLATE = saved;
  });
  const tables = async (url: string) => {
    const s = await openStore(url);
    try {
      return (
        await s.query<{ t: string }>(
          `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public'`,
        )
      ).map((r) => r.t);
    } finally {
      await s.close();
    }
  };

  it('is written by the first new store and loaded by the next, in memory and in a directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-tpl-'));
    const file = join(dir, 'template.tar');
    process.env.TANDEM_PGLITE_TEMPLATE = file;
    expect(await tables('pglite:memory')).toEqual([]);
    expect(statSync(file).size).toBeGreaterThan(1_000_000);
    // a template made from a cluster holding a marker table proves that the next stores start from it
    const marked = await PGlite.create();
    await marked.exec('CREATE TABLE from_template (x int)');
    writeFileSync(file, Buffer.from(await (await marked.dumpDataDir('none')).arrayBuffer()));
    await marked.close();
    expect(await tables('pglite:memory')).toEqual(['from_template']);
    expect(await tables(`pglite:${join(dir, 'data')}`)).toEqual(['from_template']);
    // an existing data directory is opened as it is, never from the template
    process.env.TANDEM_PGLITE_TEMPLATE = join(dir, 'other.tar');
    expect(await tables(`pglite:${join(dir, 'data')}`)).toEqual(['from_template']);
    expect(existsSync(join(dir, 'other.tar'))).toBe(false);
  }, 60_000);

  it('a damaged template falls back to initdb; off writes none', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-tpl-'));
    const file = join(dir, 'template.tar');
    writeFileSync(file, 'not a tarball');
    process.env.TANDEM_PGLITE_TEMPLATE = file;
    const data = join(dir, 'data');
    expect(await tables(`pglite:${data}`)).toEqual([]);
    expect(existsSync(join(data, 'PG_VERSION'))).toBe(true);

    process.env.TANDEM_PGLITE_TEMPLATE = 'off';
    const before = readdirSync(dir).sort();
    expect(await tables('pglite:memory')).toEqual([]);
    expect(readdirSync(dir).sort()).toEqual(before);
  }, 60_000);
});
