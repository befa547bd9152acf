import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { audit, controlSchemaVersion, ensureControlSchema, recentAudit } from '../src/control/control.js';
import { CONTROL_SCHEMA_VERSION, migrations } from '../src/control/schema.js';
import { isTandemError } from '../src/core/errors.js';
import { openStore } from '../src/stores/index.js';
import type { Store } from '../src/stores/types.js';
import { createMysqlDatabase, createPgDatabase } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

async function stores(): Promise<[string, () => Promise<Store>][]> {
  const pg = await createPgDatabase('tandem_ctl');
  const my = await createMysqlDatabase('tandem_ctl');
  cleanups.push(pg.drop, my.drop);
  const dir = mkdtempSync(join(tmpdir(), 'tandem-ctl-'));
  return [
    ['postgres', () => openStore(pg.url)],
    ['mysql', () => openStore(my.url)],
    ['sqlite', () => openStore(`sqlite:${join(dir, 'c.db')}`)],
    ['pglite', () => openStore('pglite:memory')],
  ];
}

describe('control plane schema', async () => {
  for (const [dialect, open] of await stores()) {
    it(`${dialect}: is created, upgraded idempotently, and refuses a newer schema`, async () => {
      const s = await open();
      try {
        expect(await controlSchemaVersion(s)).toBe(0);
        // two processes racing to create it both succeed (locks), once applied
        const [a, b] = await Promise.all([ensureControlSchema(s), ensureControlSchema(s)]);
        expect([a, b]).toEqual([CONTROL_SCHEMA_VERSION, CONTROL_SCHEMA_VERSION]);
        expect(await ensureControlSchema(s)).toBe(CONTROL_SCHEMA_VERSION);
        const rows = await s.query<{ n: unknown }>(`SELECT count(*) AS n FROM ${s.controlTable('schema_migrations')}`);
        // every migration ran once (versions are assigned per branch, so the list may have gaps while they merge)
        expect(Number(rows[0]!.n)).toBe(migrations(s.dialect).length);
        expect(Math.max(...migrations(s.dialect).map((m) => m.version))).toBe(CONTROL_SCHEMA_VERSION);
        for (const t of ['version_ledger', 'checkpoints', 'audit_log', 'outbox', 'dead_letters', 'state'])
          expect(Number((await s.query<{ n: unknown }>(`SELECT count(*) AS n FROM ${s.controlTable(t)}`))[0]!.n)).toBe(
            0,
          );
        await audit(s, { command: 'test', args: { a: 1 }, outcome: 'ok' });
        expect((await recentAudit(s, 5)).map((r) => r.command)).toEqual(['test']);
        await s.execute(
          `INSERT INTO ${s.controlTable('schema_migrations')} (version, description) VALUES (999, 'from the future')`,
        );
        await expect(ensureControlSchema(s)).rejects.toSatisfy((e) => isTandemError(e, 'CONTROL_SCHEMA'));
      } finally {
        await s.close();
      }
    });
  }
});
