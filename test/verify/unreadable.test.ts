import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { resolveConfig } from '../../src/config/resolve.js';
import { openStore } from '../../src/stores/index.js';
import type { Row, Store, TableInfo } from '../../src/stores/types.js';
import { checksumEntities } from '../../src/verify/checksum.js';
import { canonText, encodeRow, rowHash } from '../../src/verify/encoding.js';
import { verifyEntities, type KeyDifference } from '../../src/verify/verify.js';
import { createMysqlDatabase, createPgDatabase } from '../helpers.js';

/**
 * Values that are not ordinary readable values — PostgreSQL `infinity` / `-infinity` timestamps and dates, BC
 * timestamps, numeric `NaN` / `Infinity`, MariaDB's zero date and the impossible dates it keeps (under
 * ALLOW_INVALID_DATES, or with a zero month or day), SQLite text in a typed column — on every engine, compared
 * streamed (the full verify, `--mode full`) and pushed down (the checksum tier, `--mode checksum`).
 *
 * Each value is an *atom* with a name and the literal each engine stores it as (absent where the engine cannot
 * hold it). The oracle: two atoms are the same value exactly when they have the same name — an unreadable value
 * equals only the same raw text, a special only itself, nothing equals NULL — and every engine pair, in both
 * directions, must report exactly the rows whose atoms differ, with the checksum tier agreeing with the full
 * verify and never finding a segment different whose rows then match (which would mean the engine's SQL encodes
 * a value unlike the streamed side).
 */

type Engine = 'mysql' | 'postgres' | 'pglite' | 'sqlite';
const ENGINES: Engine[] = ['mysql', 'postgres', 'pglite', 'sqlite'];

interface Atom {
  name: string;
  /** The literal per engine; a missing engine cannot hold the value. */
  on: Partial<Record<Engine, string | null>>;
}
const everywhere = (name: string, v: string | null): Atom => ({
  name,
  on: { mysql: v, postgres: v, pglite: v, sqlite: v },
});
const pgAndSqlite = (name: string, pgv: string, sqlite = pgv): Atom => ({
  name,
  on: { postgres: pgv, pglite: pgv, sqlite },
});
const mysqlAndSqlite = (name: string, myv: string, sqlite = myv): Atom => ({ name, on: { mysql: myv, sqlite } });
const sqliteOnly = (name: string, v: string): Atom => ({ name, on: { sqlite: v } });

interface Kind {
  table: string;
  ddl: Record<'mysql' | 'postgres' | 'sqlite', string>;
  atoms: Atom[];
}

/** The column kinds: the engine type of `v` and the values of each. */
const KINDS: Kind[] = [
  {
    table: 'ts',
    ddl: { mysql: 'datetime(6)', postgres: 'timestamp(6)', sqlite: 'datetime(6)' },
    atoms: [
      everywhere('null', null),
      everywhere('2020-03-01', '2020-03-01 00:00:00'),
      everywhere('9999-12-31', '9999-12-31 00:00:00'),
      everywhere('0044-03-15 AD', '0044-03-15 00:00:00'),
      pgAndSqlite('infinity', 'infinity'),
      pgAndSqlite('-infinity', '-infinity'),
      pgAndSqlite('0044-03-15 BC', '0044-03-15 00:00:00 BC'), // SQLite holds PostgreSQL's raw text: same bytes
      mysqlAndSqlite('zero date', '0000-00-00 00:00:00'),
      mysqlAndSqlite('0000-11-30', '0000-11-30 00:00:00'),
      // MariaDB's raw text of datetime(6)
      mysqlAndSqlite('2020-02-30', '2020-02-30 00:00:00', '2020-02-30 00:00:00.000000'),
      mysqlAndSqlite('2020-02-31', '2020-02-31 00:00:00', '2020-02-31 00:00:00.000000'),
      mysqlAndSqlite('zero date 12:00', '0000-00-00 12:00:00', '0000-00-00 12:00:00.000000'),
      sqliteOnly('abc', 'abc'),
      sqliteOnly('abd', 'abd'),
      sqliteOnly('2020-13-01', '2020-13-01 00:00:00'),
    ],
  },
  {
    table: 'tz',
    ddl: { mysql: 'timestamp(6) NULL', postgres: 'timestamptz', sqlite: 'timestamptz' },
    atoms: [
      everywhere('null', null),
      {
        name: '2020-03-01',
        on: {
          mysql: '2020-03-01 00:00:00',
          postgres: '2020-03-01 00:00:00+00',
          pglite: '2020-03-01 00:00:00+00',
          sqlite: '2020-03-01 02:00:00+02',
        },
      },
      pgAndSqlite('infinity', 'infinity'),
      pgAndSqlite('-infinity', '-infinity'),
      pgAndSqlite('0044-03-15 BC', '0044-03-15 00:00:00+00 BC'),
      mysqlAndSqlite('zero date', '0000-00-00 00:00:00'),
      sqliteOnly('abc', 'abc'),
    ],
  },
  {
    table: 'd',
    ddl: { mysql: 'date', postgres: 'date', sqlite: 'date' },
    atoms: [
      everywhere('null', null),
      everywhere('2020-03-01', '2020-03-01'),
      everywhere('9999-12-31', '9999-12-31'),
      pgAndSqlite('infinity', 'infinity'),
      pgAndSqlite('-infinity', '-infinity'),
      pgAndSqlite('0044-03-15 BC', '0044-03-15 BC'),
      mysqlAndSqlite('zero date', '0000-00-00'),
      mysqlAndSqlite('0000-11-30', '0000-11-30'),
      mysqlAndSqlite('2020-02-30', '2020-02-30'),
      mysqlAndSqlite('2020-00-10', '2020-00-10'),
      mysqlAndSqlite('2020-01-00', '2020-01-00'),
      sqliteOnly('abc', 'abc'),
    ],
  },
  {
    table: 'n2',
    ddl: { mysql: 'decimal(12,2)', postgres: 'numeric(12,2)', sqlite: 'decimal(12,2)' },
    atoms: [
      everywhere('null', null),
      everywhere('1.50', '1.50'),
      pgAndSqlite('NaN', 'NaN'),
      sqliteOnly('abc', 'abc'),
      sqliteOnly('abd', 'abd'),
      sqliteOnly('empty', ''),
    ],
  },
  {
    table: 'nx',
    ddl: { mysql: 'decimal(30,10)', postgres: 'numeric', sqlite: 'numeric' },
    atoms: [
      everywhere('null', null),
      everywhere('1.5', '1.5'),
      pgAndSqlite('NaN', 'NaN'),
      pgAndSqlite('Infinity', 'Infinity'),
      pgAndSqlite('-Infinity', '-Infinity'),
      sqliteOnly('abc', 'abc'),
    ],
  },
];

const ddlOf = (e: Engine) => (e === 'pglite' ? 'postgres' : e);
const idType = (e: Engine) => (e === 'sqlite' ? 'integer' : 'int');

describe('unreadable and special values, streamed and pushed down, on every engine', () => {
  let my: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let pgdb: Awaited<ReturnType<typeof createPgDatabase>>;
  let myRaw: mysql.Connection;
  let dir: string;
  const stores = {} as Record<Engine, Store>;

  beforeAll(async () => {
    my = await createMysqlDatabase('tandem_vu');
    pgdb = await createPgDatabase('tandem_vu');
    dir = mkdtempSync(join(tmpdir(), 'tandem-vu-'));
    stores.mysql = await openStore(my.url);
    stores.postgres = await openStore(pgdb.url);
    stores.pglite = await openStore('pglite:memory');
    stores.sqlite = await openStore(`sqlite:${join(dir, 'u.db')}`);
    // MariaDB keeps impossible dates only when the session allows them
    myRaw = await mysql.createConnection({ uri: my.url });
    await myRaw.query(`SET SESSION sql_mode = 'ALLOW_INVALID_DATES', SESSION time_zone = '+00:00'`);
    for (const e of ENGINES)
      for (const k of KINDS)
        for (const side of ['s', 't'])
          await stores[e].execute(
            `CREATE TABLE ${side}_${k.table} (id ${idType(e)} PRIMARY KEY, v ${k.ddl[ddlOf(e)]})`,
          );
  }, 120_000);
  afterAll(async () => {
    await myRaw?.end();
    for (const s of Object.values(stores)) await s.close().catch(() => {});
    await my?.drop();
    await pgdb?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function fill(e: Engine, table: string, rows: [number, string | null][]): Promise<void> {
    const s = stores[e];
    await s.execute(`DELETE FROM ${table}`);
    if (!rows.length) return;
    if (e === 'mysql') {
      await myRaw.query(`INSERT INTO ${table} (id, v) VALUES ?`, [rows]);
      const [w] = await myRaw.query('SHOW WARNINGS');
      expect(w, `MariaDB stored every value of ${table} as given`).toEqual([]);
      return;
    }
    for (let i = 0; i < rows.length; i += 100) {
      const batch = rows.slice(i, i + 100);
      await s.execute(
        `INSERT INTO ${table} (id, v) VALUES ${batch.map((_, j) => `(${s.sql.param(2 * j + 1)}, ${s.sql.param(2 * j + 2)})`).join(', ')}`,
        batch.flat(),
      );
    }
  }

  it('each engine hashes every value it holds in SQL exactly as the streamed side encodes what it reads', async () => {
    for (const e of ENGINES) {
      const s = stores[e];
      const t: Record<string, TableInfo> = Object.fromEntries(
        [...(await s.introspect()).tables].map(([n, ti]) => [n, ti]),
      );
      for (const k of KINDS) {
        const held = k.atoms.filter((a) => e in a.on);
        await fill(
          e,
          `s_${k.table}`,
          held.map((a, i) => [i + 1, a.on[e]!]),
        );
        const cols = t[`s_${k.table}`]!.columns;
        const ids = held.map((_, i) => i + 1);
        const cs = s.sql.checksum!;
        expect(
          cols.every((c) => cs.supports({ column: c, as: c })),
          `${e} pushes ${k.table} down`,
        ).toBe(true);
        const st = cs.checksum({
          table: `s_${k.table}`,
          key: ['id'],
          keyCategories: ['integer'],
          after: null,
          upTo: null,
          cells: ids.slice(0, -1).map((i) => [i]),
          hashes: [cols.map((c) => ({ column: c, as: c }))],
        });
        const cells = st.parse(await s.query(st.sql, st.params));
        const back = await s.query<Row>(`SELECT id, v FROM s_${k.table} ORDER BY id`);
        const js = back.map((r) =>
          rowHash(
            encodeRow(
              cols.map((c) => canonText(r[c.name], c)),
              cols.map((c) => c.category),
            ),
          ).toString(16),
        );
        const texts = back.map((r) => `${held[Number(r.id) - 1]!.name} → ${canonText(r.v, cols[1]!)}`);
        expect(
          cells.map((c) => c.sums[0]!.toString(16)),
          `${e} ${k.table}: SQL vs streamed, values ${JSON.stringify(texts)}`,
        ).toEqual(js);
        // distinct atoms encode distinctly on one engine too (no two values of one engine collide)
        const encodings = back.map((r) => canonText(r.v, cols[1]!));
        expect(new Set(encodings).size, `${e} ${k.table}: ${JSON.stringify(texts)}`).toBe(held.length);
      }
    }
  }, 120_000);

  const pairs = ENGINES.flatMap((a) => ENGINES.map((b) => [a, b] as const));

  it.each(pairs)(
    '%s → %s: the full verify and the pushed-down checksum report exactly the rows whose values differ',
    async (se, te) => {
      const expected: string[] = [];
      const entities: Record<string, unknown> = {};
      for (const k of KINDS) {
        const src: [number, string | null][] = [];
        const tgt: [number, string | null][] = [];
        let id = 0;
        for (const a of k.atoms.filter((x) => se in x.on))
          for (const b of k.atoms.filter((x) => te in x.on)) {
            id++;
            src.push([id, a.on[se]!]);
            tgt.push([id, b.on[te]!]);
            if (a.name !== b.name) expected.push(`${k.table} ["${id}"] different v (${a.name} vs ${b.name})`);
          }
        await fill(se, `s_${k.table}`, src);
        await fill(te, `t_${k.table}`, tgt);
        entities[k.table] = {
          table: `s_${k.table}`,
          key: 'id',
          targets: [{ table: `t_${k.table}`, columns: { id: 'id', v: 'v' } }],
        };
      }
      const source = stores[se],
        target = stores[te];
      const resolved = await resolveConfig(
        parseConfig({ source: 'sqlite::memory:', target: 'sqlite::memory:', entities }),
        source,
        target,
      );
      const name = (d: KeyDifference) => {
        const [idText] = JSON.parse(d.key) as string[];
        const k = KINDS.find((x) => x.table === d.entity)!;
        const heldT = k.atoms.filter((x) => te in x.on);
        const heldS = k.atoms.filter((x) => se in x.on);
        const i = Number(idText) - 1;
        return `${d.entity} ${d.key} ${d.kind} ${d.columns.map((c) => c.column).join(',')} (${heldS[Math.floor(i / heldT.length)]!.name} vs ${heldT[i % heldT.length]!.name})`;
      };
      const full = await verifyEntities(source, target, resolved, { pageRows: 7, maxReportedDifferences: 100_000 });
      expect(full.differences.map(name).sort(), 'streamed').toEqual(expected.sort());
      const cs = await checksumEntities(source, target, resolved, {
        pageRows: 7,
        maxReportedDifferences: 100_000,
        initialSegmentRows: 16,
        minSegmentRows: 4,
        maxSegmentRows: 32,
        factor: 4,
        rowThreshold: 1,
      });
      expect(cs.differences.map(name).sort(), 'pushed down').toEqual(expected.sort());
      for (const r of cs.entities) {
        expect(r.pushdown, `${r.entity}: both sides in SQL`).toEqual({
          source: 'sql',
          targets: { [`t_${r.entity}`]: 'sql' },
        });
        expect(r.transient, `${r.entity}: no segment differed whose rows matched (SQL and streamed encode alike)`).toBe(
          0,
        );
      }
      expect(cs.ok).toBe(expected.length === 0);
    },
    120_000,
  );
});
