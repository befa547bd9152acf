import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { resolveConfig } from '../src/config/resolve.js';
import { canonicalize } from '../src/core/canonical.js';
import { mapRow } from '../src/core/mapping.js';
import { reverseEntity } from '../src/core/reverse.js';
import { openStore } from '../src/stores/index.js';
import type { Row } from '../src/stores/types.js';
import { createMysqlDatabase, createPgDatabase, runCli, writeConfig } from './helpers.js';

/**
 * Issue 13 items 2, 5 and 9 (part): MariaDB SET ↔ PostgreSQL text[] (`cast: 'array'`), a delimited string ↔
 * text[] (`separator`), ENUM ↔ a PostgreSQL enum type, CHAR(n) ↔ character(n), varchar ↔ character(n), an
 * integer into a domain, JSON ↔ jsonb (keys in other orders, numbers in other forms, an integer beyond 2^53),
 * a JSON array ↔ int[]. Backfill, `verify --mode full` and `--mode checksum` exit 0, then every PostgreSQL row
 * goes back through the reverse mapping (src/core/reverse.ts) into a fresh MariaDB database with the original
 * schema and equals the original row. Then int[] (PostgreSQL) → MariaDB JSON the other way round.
 */
const LEGACY = `
CREATE TABLE film (
  film_id int PRIMARY KEY,
  title varchar(100) NOT NULL,
  rating enum('G','PG','PG-13','R','NC-17') DEFAULT 'G',
  special_features set('Trailers','Commentaries','Deleted Scenes','Behind the Scenes'),
  tags varchar(200),
  release_year int,
  meta json,
  scores json,
  version int NOT NULL DEFAULT 1
);
CREATE TABLE language (
  language_id int PRIMARY KEY,
  name char(20) NOT NULL,
  code varchar(8)
);`;

const NEW = `
CREATE TYPE mpaa_rating AS ENUM ('G','PG','PG-13','R','NC-17');
CREATE DOMAIN year_d AS integer CHECK (VALUE >= 1901 AND VALUE <= 2155);
CREATE TABLE film (
  film_id int PRIMARY KEY,
  title text NOT NULL,
  rating mpaa_rating,
  special_features text[],
  tags text[],
  release_year year_d,
  meta jsonb,
  scores int[],
  version int NOT NULL
);
CREATE TABLE language (
  language_id int PRIMARY KEY,
  name character(20) NOT NULL,
  code character(8)
);`;

const FEATURES = ['Trailers', 'Commentaries', 'Deleted Scenes', 'Behind the Scenes'];
const RATINGS = ['G', 'PG', 'PG-13', 'R', 'NC-17'];
const N = 60;

/** Row i of the legacy film table: every form the mapping meets, NULLs and empty sets included. */
function film(i: number): unknown[] {
  const feats = FEATURES.filter((_, j) => (i >> j) & 1).join(',');
  const meta =
    i % 3 === 0
      ? `{"b": 1.0, "a": [1e2, -0, 2.50], "big": 12345678901234567890, "s": "x|y"}`
      : i % 3 === 1
        ? `{"z": {"y": 2, "x": 1}, "n": null, "t": true}`
        : null;
  return [
    i,
    `Film ${i} "quoted" \\ back`,
    i % 7 === 0 ? null : RATINGS[i % RATINGS.length],
    i % 11 === 0 ? null : feats,
    i % 5 === 0 ? '' : i % 5 === 1 ? null : `a|b c|{d}|"e"`,
    i % 4 === 0 ? null : 1990 + (i % 30),
    meta,
    i % 4 === 0 ? '[]' : i % 4 === 1 ? null : `[${i}, ${i * 2}, -${i}]`,
    1,
  ];
}

const CONFIG = (src: string, tgt: string) => `import { defineConfig } from 'tandem';
export default defineConfig({
  source: ${JSON.stringify(src)},
  target: ${JSON.stringify(tgt)},
  entities: {
    film: {
      table: 'film', key: 'film_id', version: 'version',
      targets: [{ table: 'film', columns: {
        film_id: 'film_id', title: 'title', rating: 'rating',
        special_features: { from: 'special_features', cast: 'array' },
        tags: { from: 'tags', cast: 'array', separator: '|' },
        release_year: 'release_year', meta: 'meta',
        scores: { from: 'scores', cast: 'array' },
        version: 'version',
      } }],
    },
    language: {
      table: 'language', key: 'language_id',
      targets: [{ table: 'language', columns: { language_id: 'language_id', name: 'name', code: 'code' } }],
    },
  },
});
`;

async function mysqlRows(url: string, table: string, key: string): Promise<Row[]> {
  const c = await mysql.createConnection({ uri: url, jsonStrings: true });
  try {
    const [rows] = await c.query(`SELECT * FROM \`${table}\` ORDER BY \`${key}\``);
    return rows as Row[];
  } finally {
    await c.end();
  }
}

describe('types round trip MariaDB → PostgreSQL → MariaDB (SET, ENUM, CHAR(n), domain, JSON, arrays)', () => {
  let src: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let back: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let back2: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let tgt: Awaited<ReturnType<typeof createPgDatabase>>;
  let cfg: string;

  beforeAll(async () => {
    [src, back, back2, tgt] = await Promise.all([
      createMysqlDatabase('tandem_ta_src'),
      createMysqlDatabase('tandem_ta_back'),
      createMysqlDatabase('tandem_ta_back2'),
      createPgDatabase('tandem_ta'),
    ]);
    for (const url of [src.url, back.url]) {
      const c = await mysql.createConnection({ uri: url, multipleStatements: true });
      await c.query(LEGACY);
      await c.end();
    }
    const c = await mysql.createConnection({ uri: src.url });
    const rows = Array.from({ length: N }, (_, i) => film(i + 1));
    await c.query('INSERT INTO film VALUES ?', [rows]);
    await c.query('INSERT INTO language VALUES ?', [
      [
        [1, 'English', 'en'],
        [2, 'Italian ', 'it'],
        [3, 'Japanese', null],
        [4, '', ''],
        [5, '  Mandarin', ' zh'],
      ],
    ]);
    await c.end();
    const p = new pg.Client({ connectionString: tgt.url });
    await p.connect();
    await p.query(NEW);
    await p.end();
    cfg = writeConfig(CONFIG(src.url, tgt.url));
  });
  afterAll(async () => {
    await Promise.all([src?.drop(), back?.drop(), back2?.drop(), tgt?.drop()]);
  });

  it('backfills, then verify --mode full and --mode checksum exit 0, naming the columns that fall back', async () => {
    const bf = await runCli(['backfill', '--config', cfg]);
    expect(bf.code, bf.stderr).toBe(0);
    const p = new pg.Client({ connectionString: tgt.url });
    await p.connect();
    const r = await p.query(
      `SELECT special_features::text AS sf, tags::text AS tags, rating::text AS rating, release_year, meta::text AS meta,
              scores::text AS scores FROM film WHERE film_id = 3`,
    );
    const l = await p.query(`SELECT name, code FROM language ORDER BY language_id`);
    await p.end();
    expect(r.rows[0]).toEqual({
      sf: '{Trailers,Commentaries}',
      tags: '{a,"b c","{d}","\\"e\\""}',
      rating: 'R',
      release_year: 1993,
      meta: '{"a": [100, 0, 2.50], "b": 1.0, "s": "x|y", "big": 12345678901234567890}',
      scores: '{3,6,-3}',
    });
    expect(l.rows[0]).toEqual({ name: 'English'.padEnd(20), code: 'en'.padEnd(8) });

    const full = await runCli(['verify', '--mode', 'full', '--config', cfg]);
    expect(full.code, full.stdout + full.stderr).toBe(0);
    const sum = await runCli(['verify', '--mode', 'checksum', '--config', cfg]);
    expect(sum.code, sum.stdout + sum.stderr).toBe(0);
    // the array columns (casts on the source, arrays on the target) fall back to the streamed comparison, and
    // the report says which; the padded columns are pushed down on both sides
    // (per column: the other columns of film stay pushed down on both sides)
    expect(sum.stdout).toMatch(/film: .*special_features, .* compared by streaming \(.*special_features \(text\[\]\)/);
    expect(sum.stdout).toMatch(/film: .*compared by streaming .*special_features as array cast array/);
    expect(sum.stdout).toMatch(/^film\s.*\ssql\/sql\s*$/m);
    expect(sum.stdout).not.toMatch(/language: /);
    expect(sum.stdout).toMatch(/^language\s.*\ssql\/sql\s*$/m);
  });

  it('finds a changed array element, JSON number and padded value as different', async () => {
    const p = new pg.Client({ connectionString: tgt.url });
    await p.connect();
    await p.query(`UPDATE film SET special_features = '{Trailers}' WHERE film_id = 3`);
    await p.query(`UPDATE film SET meta = jsonb_set(meta, '{big}', '12345678901234567891') WHERE film_id = 6`);
    await p.query(`UPDATE language SET name = 'English x' WHERE language_id = 1`);
    for (const mode of ['full', 'checksum']) {
      const v = await runCli(['verify', '--mode', mode, '--config', cfg]);
      expect(v.code, v.stdout).toBe(1);
      expect(v.stdout).toContain('film ["3"]: film.special_features');
      expect(v.stdout).toContain('film ["6"]: film.meta');
      expect(v.stdout).toContain('language ["1"]: language.name');
      expect(v.stdout).not.toMatch(/film \["(?![36]")\d+"\]|language \["(?!1")\d+"\]/);
    }
    await p.query(`UPDATE film SET special_features = '{Trailers,Commentaries}' WHERE film_id = 3`);
    await p.query(`UPDATE film SET meta = jsonb_set(meta, '{big}', '12345678901234567890') WHERE film_id = 6`);
    await p.query(`UPDATE language SET name = 'English' WHERE language_id = 1`);
    await p.end();
  });

  it('maps every PostgreSQL row back into the original MariaDB schema with the same values', async () => {
    const config = await loadConfig(cfg);
    const source = await openStore(src.url);
    const target = await openStore(tgt.url);
    const fresh = await openStore(back.url);
    try {
      const entities = await resolveConfig(config, source, target);
      for (const e of entities) {
        const rev = reverseEntity(e);
        const keys = (
          await target.query<Row>(`SELECT ${e.key[0]} AS k FROM ${e.key[0] === 'film_id' ? 'film' : 'language'}`)
        ).map((r) => [r.k]);
        const rows = await rev.read!(target, keys, target);
        const t = rev.targets[0]!;
        const mapped = rows.map((r) => mapRow(rev, r).values[0]!);
        await fresh.transaction((tx) =>
          fresh.upsert!(tx, {
            table: t.table.name,
            columns: t.columns.map((c) => c.name),
            key: t.keyColumns,
            rows: mapped,
            columnInfo: t.columns,
          }),
        );
      }
      for (const [table, key] of [
        ['film', 'film_id'],
        ['language', 'language_id'],
      ] as const) {
        const before = await mysqlRows(src.url, table, key);
        const after = await mysqlRows(back.url, table, key);
        expect(after.length).toBe(before.length);
        const info = (await source.introspect()).tables.get(table)!;
        after.forEach((row, i) => {
          for (const c of info.columns) {
            const [a, b] = [row[c.name], before[i]![c.name]];
            if (c.category === 'json') expect(canonicalize(a, c), `${table}.${c.name}`).toBe(canonicalize(b, c));
            else expect(a, `${table} ${key}=${before[i]![key]} ${c.name}`).toEqual(b);
          }
        });
      }
    } finally {
      await Promise.all([source.close(), target.close(), fresh.close()]);
    }
  });

  it('int[] and text[] (PostgreSQL) into MariaDB JSON and SET columns: backfill and both verify modes exit 0', async () => {
    const c = await mysql.createConnection({ uri: back2.url });
    await c.query(`CREATE TABLE scores (film_id int PRIMARY KEY, scores json, features json,
        feature_set set('Trailers','Commentaries','Deleted Scenes','Behind the Scenes'))`);
    await c.end();
    const rev = writeConfig(`import { defineConfig } from 'tandem';
export default defineConfig({
  source: ${JSON.stringify(tgt.url)},
  target: ${JSON.stringify(back2.url)},
  entities: {
    scores: { table: 'film', key: 'film_id',
      targets: [{ table: 'scores', columns: { film_id: 'film_id', scores: 'scores', features: 'special_features',
        feature_set: 'special_features' } }] },
  },
});
`);
    const bf = await runCli(['backfill', '--config', rev]);
    expect(bf.code, bf.stderr).toBe(0);
    const got = await mysqlRows(back2.url, 'scores', 'film_id');
    expect(got.length).toBe(N);
    expect(JSON.parse(String(got[2]!.scores))).toEqual([3, 6, -3]);
    expect(JSON.parse(String(got[2]!.features))).toEqual(['Trailers', 'Commentaries']);
    expect(got[0]!.scores).toBeNull();
    // text[] into a SET: the elements joined with ','
    expect(got[2]!.feature_set).toBe('Trailers,Commentaries');
    expect(got.map((r) => r.feature_set)).toEqual(
      (await mysqlRows(src.url, 'film', 'film_id')).map((r) => r.special_features),
    );
    expect(JSON.parse(String(got[3]!.scores))).toEqual([]);
    for (const mode of ['full', 'checksum']) {
      const v = await runCli(['verify', '--mode', mode, '--config', rev]);
      expect(v.code, v.stdout + v.stderr).toBe(0);
    }
  });
});
