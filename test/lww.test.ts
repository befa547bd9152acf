import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, describe, expect, it } from 'vitest';
import { applyChanges, applyMapped, prepareRows } from '../src/apply/apply.js';
import { parseConfig } from '../src/config/load.js';
import { resolveConfig } from '../src/config/resolve.js';
import { ensureControlSchema } from '../src/control/control.js';
import type { ResolvedEntity } from '../src/core/mapping.js';
import { openStore } from '../src/stores/index.js';
import type { Dialect, Row, Store } from '../src/stores/types.js';
import { createMysqlDatabase, createPgDatabase } from './helpers.js';

/**
 * Entities without a version column (last-writer-wins): the ledger cannot tell an older read of the primary from
 * a newer one, so two appliers of the same key must not interleave "read the primary" and "write the secondary"
 * (issue 9: chaos seed 5, SQLite → PGlite, lost a write of the `settings` entity this way). Each test forces the
 * interleaving that used to lose the write — applier A reads, the row changes, applier B reads and commits, A
 * commits last — with a gate inside A's read, on every target dialect.
 */

const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const d of drops) await d().catch(() => {});
});

async function targetUrl(dialect: Dialect): Promise<string> {
  switch (dialect) {
    case 'postgres': {
      const db = await createPgDatabase('tandem_lww');
      drops.push(db.drop);
      return db.url;
    }
    case 'mysql': {
      const db = await createMysqlDatabase('tandem_lww');
      drops.push(db.drop);
      return db.url;
    }
    case 'sqlite':
      return `sqlite:${join(mkdtempSync(join(tmpdir(), 'tandem-lww-')), 't.db')}`;
    case 'pglite':
      return 'pglite:memory';
  }
}

/** A promise with its resolve function. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => {
    open = r;
  });
  return { wait, open };
}

/**
 * The primary store, except that the next read of `settings` rows returns what it read only once `hold` opens
 * (and says when it has read, through `reached`): the window in which a second applier can overtake.
 */
function heldPrimary(primary: Store, hold: Promise<void>, reached: () => void): Store {
  let armed = true;
  const query = async <T extends Row = Row>(sql: string, params?: unknown[]): Promise<T[]> => {
    const rows = await primary.query<T>(sql, params);
    if (armed && /FROM\s+\S*settings/i.test(sql)) {
      armed = false;
      reached();
      await hold;
    }
    return rows;
  };
  return new Proxy(primary, { get: (t, p) => (p === 'query' ? query : Reflect.get(t, p)) });
}

interface World {
  source: Store;
  target: Store;
  app: mysql.Connection;
  settings: ResolvedEntity;
  value(): Promise<string | null>;
  close(): Promise<void>;
}

/** MariaDB `settings(name, value)` without a version column, one row (`theme` = `v1`); target of `dialect`. */
async function world(dialect: Dialect): Promise<World> {
  const src = await createMysqlDatabase('tandem_lww_src');
  drops.push(src.drop);
  const app = await mysql.createConnection({ uri: src.url });
  await app.query('CREATE TABLE settings (name VARCHAR(64) PRIMARY KEY, value VARCHAR(100) NOT NULL)');
  await app.query(`INSERT INTO settings VALUES ('theme', 'v1')`);
  const source = await openStore(src.url);
  const target = await openStore(await targetUrl(dialect));
  await target.execute('CREATE TABLE settings (name varchar(64) PRIMARY KEY, value varchar(100) NOT NULL)');
  await ensureControlSchema(target);
  const config = parseConfig({
    source: src.url,
    target: 'unused://',
    entities: {
      settings: {
        table: 'settings',
        key: 'name',
        targets: [{ table: 'settings', columns: { name: 'name', value: 'value' } }],
      },
    },
  });
  const [settings] = await resolveConfig(config, source, target);
  return {
    source,
    target,
    app,
    settings: settings!,
    async value() {
      const r = await target.query<{ value: string }>(`SELECT value FROM settings WHERE name = 'theme'`);
      return r[0]?.value ?? null;
    },
    async close() {
      await app.end();
      await source.close();
      await target.close();
    },
  };
}

const THEME = [{ key: JSON.stringify(['theme']), keyValues: ['theme'] }];
const DIALECTS: Dialect[] = ['postgres', 'mysql', 'sqlite', 'pglite'];

describe.each(DIALECTS)('last-writer-wins entity on a %s target', (dialect) => {
  it('two relay appliers of one key: the one that read the newer row commits last', async () => {
    const w = await world(dialect);
    try {
      expect(w.settings.version).toBeNull();
      const hold = gate();
      const reached = gate();
      // applier A (a relay batch for the first change) reads `v1` and is held before it writes
      const a = applyChanges(heldPrimary(w.source, hold.wait, reached.open), w.target, w.settings, THEME);
      await reached.wait;
      // the row changes; applier B (the relay batch of that change, or the writer's fast path) applies it
      await w.app.query(`UPDATE settings SET value = 'v2' WHERE name = 'theme'`);
      const b = applyChanges(w.source, w.target, w.settings, THEME);
      // B must not finish while A holds the key (before the fix it did, and A then wrote `v1` over `v2`)
      const first = await Promise.race([b.then(() => 'b'), new Promise((r) => setTimeout(() => r('a-held'), 300))]);
      hold.open();
      await Promise.all([a, b]);
      expect(first).toBe('a-held');
      expect(await w.value()).toBe('v2');
    } finally {
      await w.close();
    }
  });

  it('a backfill chunk read before a relay applied the key does not overwrite it', async () => {
    const w = await world(dialect);
    try {
      // the backfill reads its chunk (`v1`) …
      const chunk = await w.source.query<Row>(`SELECT name, value FROM settings`);
      const mapped = prepareRows(w.settings, chunk);
      // … the row changes and the relay applies it …
      await w.app.query(`UPDATE settings SET value = 'v2' WHERE name = 'theme'`);
      await applyChanges(w.source, w.target, w.settings, THEME);
      // … then the chunk is written: the key is in the ledger, so the older read is skipped
      const r = await w.target.transaction((tx) =>
        applyMapped(w.target, tx, w.settings, mapped, { source: w.source, readBeforeLock: true }),
      );
      expect(r).toEqual({ offered: 1, applied: 0, skipped: 1, omitted: 0 });
      expect(await w.value()).toBe('v2');
      // a key the ledger does not hold is written by the backfill
      await w.app.query(`INSERT INTO settings VALUES ('lang', 'en')`);
      const more = prepareRows(
        w.settings,
        await w.source.query<Row>(`SELECT name, value FROM settings WHERE name = 'lang'`),
      );
      const r2 = await w.target.transaction((tx) =>
        applyMapped(w.target, tx, w.settings, more, { source: w.source, readBeforeLock: true }),
      );
      expect(r2.applied).toBe(1);
      // and the relay still overwrites what the backfill wrote (a newer read, under the key's lock)
      await w.app.query(`UPDATE settings SET value = 'fr' WHERE name = 'lang'`);
      await applyChanges(w.source, w.target, w.settings, [{ key: JSON.stringify(['lang']), keyValues: ['lang'] }]);
      expect(
        (await w.target.query<{ value: string }>(`SELECT value FROM settings WHERE name = 'lang'`))[0]!.value,
      ).toBe('fr');
    } finally {
      await w.close();
    }
  });

  it('a key deleted on the primary while an applier held it ends deleted', async () => {
    const w = await world(dialect);
    try {
      await applyChanges(w.source, w.target, w.settings, THEME);
      expect(await w.value()).toBe('v1');
      const hold = gate();
      const reached = gate();
      await w.app.query(`UPDATE settings SET value = 'v2' WHERE name = 'theme'`);
      const a = applyChanges(heldPrimary(w.source, hold.wait, reached.open), w.target, w.settings, THEME);
      await reached.wait;
      await w.app.query(`DELETE FROM settings WHERE name = 'theme'`);
      const b = applyChanges(w.source, w.target, w.settings, THEME);
      hold.open();
      await Promise.all([a, b]);
      expect(await w.value()).toBeNull();
    } finally {
      await w.close();
    }
  });
});
