import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/backfill.js';
import { loadConfig } from '../../src/config/load.js';
import { resolveConfig } from '../../src/config/resolve.js';
import { controlSchemaVersion, ensureControlSchema, readCheckpoint } from '../../src/control/control.js';
import { listRanges } from '../../src/control/ranges.js';
import { CONTROL_SCHEMA_VERSION, migrations } from '../../src/control/schema.js';
import { createLogger } from '../../src/core/logger.js';
import { faultWorld } from '../faults/world.js';
import { createMysqlDatabase, createPgDatabase, runCli, writeConfig } from '../helpers.js';

/**
 * Entities in parallel, in foreign-key order (issue 15): `tandem backfill --workers 3` on three entities where
 * the target's `members` references `orgs` and `tags` is independent — `tags` is copied while `orgs` is, and
 * `members` starts only once `orgs` is done (the target's foreign key would refuse a member before its org).
 * `members` has a composite key whose first column is a string in MariaDB's case-insensitive collation: its
 * ranges are planned in the order the keyset scan reads (not byte order), so they partition the keys exactly.
 * And the upgrade: a checkpoint written under control schema v8 (before ranges) resumes where it stood, as one
 * range, after the idempotent upgrade to v9.
 */

const ORGS = 2000;
const MEMBERS = 3000;
const TAGS = 1000;
// distinct case-insensitively; their collation order (alpha, Beta, Delta, …) is not their byte order (Beta, …)
const NAMES = ['alpha', 'Beta', 'gamma', 'Delta', 'épsilon', 'Zeta', 'eta'];

describe('parallel entities (MariaDB → PostgreSQL)', () => {
  const drops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const d of drops) await d().catch(() => {});
  });

  it('independent entities run at once; a referencing entity starts after the entity it references is done; composite string keys split exactly', async () => {
    const src = await createMysqlDatabase('tandem_par_src');
    drops.push(src.drop);
    const tgt = await createPgDatabase('tandem_par_tgt');
    drops.push(tgt.drop);
    const m = await mysql.createConnection({ uri: src.url });
    await m.query('CREATE TABLE orgs (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, version INT NOT NULL)');
    await m.query(
      'CREATE TABLE members (code VARCHAR(40) NOT NULL, seq INT NOT NULL, org_id INT NOT NULL, version INT NOT NULL, PRIMARY KEY (code, seq))',
    );
    await m.query('CREATE TABLE tags (id INT PRIMARY KEY, label VARCHAR(40) NOT NULL, version INT NOT NULL)');
    await m.query('INSERT INTO orgs VALUES ?', [Array.from({ length: ORGS }, (_, i) => [i + 1, `org ${i + 1}`, 1])]);
    await m.query('INSERT INTO members VALUES ?', [
      Array.from({ length: MEMBERS }, (_, i) => [
        `${NAMES[i % NAMES.length]}-${Math.floor(i / NAMES.length) % 5}`,
        i,
        (i % ORGS) + 1,
        1,
      ]),
    ]);
    await m.query('INSERT INTO tags VALUES ?', [Array.from({ length: TAGS }, (_, i) => [i + 1, `tag ${i + 1}`, 1])]);
    await m.end();
    const t = new pg.Client({ connectionString: tgt.url });
    await t.connect();
    await t.query('CREATE TABLE orgs (id int PRIMARY KEY, name text NOT NULL)');
    await t.query(
      'CREATE TABLE members (code text NOT NULL, seq int NOT NULL, org_id int NOT NULL REFERENCES orgs (id), PRIMARY KEY (code, seq))',
    );
    await t.query('CREATE TABLE tags (id int PRIMARY KEY, label text NOT NULL)');
    const cfg = writeConfig(`import { defineConfig } from 'tandem';
export default defineConfig({
  source: ${JSON.stringify(src.url)},
  target: ${JSON.stringify(tgt.url)},
  backfill: { initialChunkRows: 250, maxChunkRows: 250, chunkSeconds: 60, ranges: 2 },
  entities: {
    orgs: { table: 'orgs', key: 'id', version: 'version', targets: [{ table: 'orgs', columns: { id: 'id', name: 'name' } }] },
    members: { table: 'members', key: ['code', 'seq'], version: 'version',
      targets: [{ table: 'members', columns: { code: 'code', seq: 'seq', org_id: 'org_id' } }] },
    tags: { table: 'tags', key: 'id', version: 'version', targets: [{ table: 'tags', columns: { id: 'id', label: 'label' } }] },
  },
});
`);
    try {
      // 1,500 rows/s for the process, 500 for each of its three workers: a range of orgs takes about 2 s
      const r = await runCli([
        'backfill',
        '--config',
        cfg,
        '--workers',
        '3',
        '--max-rows-per-second',
        '1500',
        '--json',
      ]);
      expect({ code: r.code, err: r.stderr.split('\n').filter((l) => /TANDEM_ERR/.test(l)) }).toEqual({
        code: 0,
        err: [],
      });
      const out = JSON.parse(r.stdout).entities as {
        entity: string;
        copiedTotal: number;
        status: string;
        ranges: unknown[];
      }[];
      expect(out.map((e) => [e.entity, e.copiedTotal, e.status, e.ranges.length])).toEqual([
        ['orgs', ORGS, 'done', 2],
        ['members', MEMBERS, 'done', 2],
        ['tags', TAGS, 'done', 2],
      ]);
      const times = new Map(
        (
          await t.query(
            `SELECT entity, extract(epoch FROM started_at) AS s, extract(epoch FROM finished_at) AS f, rows_copied, status FROM tandem.checkpoints`,
          )
        ).rows.map((x) => [x.entity, { s: Number(x.s), f: Number(x.f), n: Number(x.rows_copied), status: x.status }]),
      );
      const [orgs, members, tags] = ['orgs', 'members', 'tags'].map((n) => times.get(n)!);
      expect([orgs!.n, members!.n, tags!.n]).toEqual([ORGS, MEMBERS, TAGS]);
      // members waited for orgs (it was planned only once orgs was done) …
      expect(members!.s).toBeGreaterThanOrEqual(orgs!.f);
      // … while tags, which references nothing, was copied at the same time as orgs
      expect(tags!.s).toBeLessThan(orgs!.f);
      expect(orgs!.s).toBeLessThan(tags!.f);
      // the composite string-keyed ranges partition the keys: each range copied its share once, together all
      const ranges = (
        await t.query(
          `SELECT range_no, lower_key, upper_key, rows_copied, status FROM tandem.backfill_ranges WHERE entity = 'members' ORDER BY range_no`,
        )
      ).rows;
      expect(ranges.map((x) => [x.range_no, x.status, x.lower_key === null, x.upper_key === null])).toEqual([
        [1, 'done', true, false],
        [2, 'done', false, true],
      ]);
      expect(JSON.parse(ranges[0].upper_key)).toEqual([expect.any(String), expect.anything()]);
      expect(ranges.reduce((n, x) => n + Number(x.rows_copied), 0)).toBe(MEMBERS);
      const counts = await t.query(
        'SELECT (SELECT count(*) FROM orgs) AS o, (SELECT count(*) FROM members) AS m, (SELECT count(DISTINCT (code, seq)) FROM members) AS d, (SELECT count(*) FROM tags) AS t',
      );
      expect(counts.rows[0]).toEqual({ o: String(ORGS), m: String(MEMBERS), d: String(MEMBERS), t: String(TAGS) });
      const v = await runCli(['verify', '--config', cfg]);
      expect(v.code, v.stdout + v.stderr).toBe(0);
    } finally {
      await t.end();
    }
  }, 60_000);
});

describe('control schema v8 → v9 (MariaDB → PostgreSQL, in-process)', () => {
  it('an unfinished checkpoint of v8 resumes where it stood, as one range; the upgrade runs once and is idempotent', async () => {
    const w = await faultWorld(['mysql', 'postgres'], 2000, 500);
    try {
      // the control plane as a v8 build left it: migrations 1–8, and a checkpoint at key 500 (500 rows copied)
      const t = (n: string) => w.target.controlTable(n);
      await w.target.transaction(async (tx) => {
        await tx.execute('CREATE SCHEMA IF NOT EXISTS tandem');
        await tx.execute(
          `CREATE TABLE ${t('schema_migrations')} (version integer NOT NULL PRIMARY KEY, description varchar(200) NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
        );
        for (const m of migrations('postgres').filter((x) => x.version <= 8)) {
          for (const st of m.statements(t)) await tx.execute(st);
          await tx.execute(`INSERT INTO ${t('schema_migrations')} (version, description) VALUES ($1, $2)`, [
            m.version,
            m.description,
          ]);
        }
      });
      expect(await controlSchemaVersion(w.target)).toBe(8);
      const config = await loadConfig(w.cfg);
      const entities = await resolveConfig(config, w.source, w.target);
      const quiet = createLogger({ level: 'silent' });
      await w.target.execute(
        `INSERT INTO ${t('checkpoints')} (entity, last_key, rows_copied, rows_applied, rows_total, status) VALUES ('users', '["500"]', 500, 500, 2000, 'running')`,
      );
      await w.target.execute(
        `INSERT INTO accounts (id, email_address, display_name) SELECT g, 'u' || g || '@x', 'User ' || g FROM generate_series(1, 500) g`,
      );
      const [a, b] = await Promise.all([ensureControlSchema(w.target), ensureControlSchema(w.target)]);
      expect([a, b, await ensureControlSchema(w.target)]).toEqual(Array(3).fill(CONTROL_SCHEMA_VERSION));
      const applied = await w.target.query<{ n: unknown }>(
        `SELECT count(*) AS n FROM ${t('schema_migrations')} WHERE version = 9`,
      );
      expect(Number(applied[0]!.n)).toBe(1);
      // ranges: 4 would split a new plan; the old checkpoint is a plan already: one range, resumed at key 500
      const [r] = await runBackfill({
        config: { ...config, backfill: { ...config.backfill, ranges: 4 } },
        source: w.source,
        target: w.target,
        entities,
        log: quiet,
        workers: 3,
      });
      expect(r).toMatchObject({ copied: 1500, copiedTotal: 2000, status: 'done', ranges: [{ range: 1, of: 1 }] });
      expect(await listRanges(w.target, w.target, 'users')).toEqual([]);
      expect(await readCheckpoint(w.target, w.target, 'users')).toMatchObject({
        lastKey: ['2000'],
        rowsCopied: 2000,
        status: 'done',
      });
      expect(await w.targetRows()).toEqual(await w.sourceRows());
    } finally {
      await w.close();
    }
  }, 30_000);
});
