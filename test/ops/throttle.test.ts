import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLegacyMysql, createNewPostgres, fixtureConfig } from '../fixtures.js';
import { createMysqlDatabase, createPgDatabase, runCli, writeConfig } from '../helpers.js';

/** --max-rows-per-second holds from the first chunk: rows / elapsed ≤ cap for every entity, short runs included. */
describe('backfill throttle', () => {
  let src: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let tgt: Awaited<ReturnType<typeof createPgDatabase>>;
  beforeAll(async () => {
    src = await createMysqlDatabase('tandem_thr_src');
    await createLegacyMysql(src.url, 150);
    tgt = await createPgDatabase('tandem_thr');
    await createNewPostgres(tgt.url);
  });
  afterAll(async () => {
    await src?.drop();
    await tgt?.drop();
  });

  it('keeps the measured and reported rate at or under the cap', async () => {
    const cap = 100;
    const cfg = writeConfig(fixtureConfig(src.url, tgt.url));
    const t0 = performance.now();
    const r = await runCli(['backfill', '--config', cfg, '--max-rows-per-second', String(cap), '--json']);
    const wall = (performance.now() - t0) / 1000;
    expect(r.code).toBe(0);
    const entities = JSON.parse(r.stdout).entities as { entity: string; copied: number; seconds: number }[];
    const total = entities.reduce((n, e) => n + e.copied, 0);
    expect(total).toBe(20 + 150 + 50);
    for (const e of entities) expect(e.copied / e.seconds, e.entity).toBeLessThanOrEqual(cap);
    expect(total / wall).toBeLessThanOrEqual(cap);
  });
});
