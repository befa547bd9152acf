import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureControlSchema } from '../../src/control/control.js';
import { buildPlan, type MigrationPlan, planMarkdown } from '../../src/cutover/plan.js';
import { openMigration } from '../../src/runtime/migration.js';
import { openStore } from '../../src/stores/index.js';
import { createLegacyMysql, createNewPostgres, fixtureConfig } from '../fixtures.js';
import { createMysqlDatabase, createPgDatabase, runCli, writeConfig } from '../helpers.js';
import { quiet } from '../runtime/helpers.js';

/**
 * `tandem plan` on real stores. Embedded (SQLite → SQLite): the real CLI's exit codes — 0 when the declared SLO
 * is met, 1 naming the objective when it is not (write pause, RTO, RPO with a broker) —, the runbook's contents
 * (every step with its command, gate, rollback, duration and owner line; the inventory; risks by tier) and the
 * --json shape; nothing is written to either store. MariaDB → PostgreSQL: the engines' own statistics, triggers,
 * sequences and foreign keys reach the inventory; PGlite's statistics too.
 */

const dir = mkdtempSync(join(tmpdir(), 'tandem-plan-'));
const LEGACY = `sqlite:${join(dir, 'legacy.db')}`;
const NEW = `sqlite:${join(dir, 'new.db')}`;
const config = (extra = '') => `export default {
  source: ${JSON.stringify(LEGACY)},
  target: ${JSON.stringify(NEW)},
  entities: {
    items: { table: 'items', key: 'id', version: 'version',
      targets: [{ table: 'items', columns: { id: 'id', name: 'name', price: 'price', version: 'version' } }] },
    tags: { table: 'tags', key: 'id', targets: [{ table: 'tags', columns: { id: 'id', label: 'label' } }] },
  },
  ${extra}
};
`;
const STEPS = [
  'prepare',
  'dual_write',
  'backfill',
  'verify',
  'shadow',
  'canary 1 %',
  'canary 10 %',
  'canary 50 %',
  'canary 100 %',
  'rehearse',
  'cutover',
  'legacy read-only',
  'archive',
  'decommission',
];

async function fileSnapshot(url: string): Promise<unknown> {
  const s = await openStore(url);
  try {
    const master = await s.query(`SELECT type, name, sql FROM sqlite_master ORDER BY name`);
    const items = await s.query(`SELECT count(*) AS n, sum(id) AS k FROM items`);
    return { master, items };
  } finally {
    await s.close();
  }
}

beforeAll(async () => {
  const l = await openStore(LEGACY);
  await l.execute(
    'CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL, price REAL, secret_note TEXT, version INTEGER NOT NULL)',
  );
  await l.execute('CREATE TABLE tags (id INTEGER PRIMARY KEY, label TEXT NOT NULL)');
  await l.execute('CREATE TABLE audit_trail (at TEXT, what TEXT)');
  await l.execute(
    `CREATE TRIGGER items_touch AFTER UPDATE ON items BEGIN INSERT INTO audit_trail VALUES (datetime('now'), 'items'); END`,
  );
  for (let i = 1; i <= 300; i++) await l.execute('INSERT INTO items VALUES (?, ?, ?, ?, 1)', [i, `n${i}`, i / 7, 'x']);
  for (let i = 1; i <= 20; i++) await l.execute('INSERT INTO tags VALUES (?, ?)', [i, `t${i}`]);
  await l.close();
  const n = await openStore(NEW);
  await n.execute(
    'CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(40) NOT NULL, price REAL, version INTEGER NOT NULL, extra TEXT)',
  );
  await n.execute('CREATE TABLE tags (id INTEGER PRIMARY KEY, label TEXT NOT NULL)');
  await ensureControlSchema(n);
  await n.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tandem plan (embedded stores)', () => {
  it('meets a declared SLO: exit 0, the runbook lists every step, nothing written', async () => {
    const before = [await fileSnapshot(LEGACY), await fileSnapshot(NEW)];
    const cfg = writeConfig(
      config('slo: { availability: 99.9, rpoSeconds: 0, rtoSeconds: 60, maxWritePauseMs: 3000 },'),
    );
    const out = join(dir, 'runbook.md');
    const r = await runCli(['plan', '--out', out, '--config', cfg]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^plan: 3 legacy and 2 new table\(s\); \d+ High, \d+ Medium, \d+ Low risk\(s\)/);
    expect(r.stdout).toMatch(/meets {2}maxWritePauseMs \d+ ms \(declared 3000 ms\)/);
    expect(r.stdout).toMatch(/the plan meets the declared SLO\n/);
    expect(r.stdout).toMatch(/runbook written: /);
    expect([await fileSnapshot(LEGACY), await fileSnapshot(NEW)]).toEqual(before);

    const md = readFileSync(out, 'utf8');
    expect(md).toMatch(/^# Migration runbook\n/);
    expect(md).toMatch(/The plan meets every declared objective\./);
    // every step, in order, each with its command, gate, rollback, duration and owner line
    const heads = [...md.matchAll(/^### (\d+)\. (.+)$/gm)].map((x) => x[2]);
    expect(heads).toEqual(STEPS);
    expect(md.match(/^- Owner: ____$/gm)?.length).toBe(STEPS.length);
    expect(md.match(/^- Gate: /gm)?.length).toBe(STEPS.length);
    expect(md.match(/^- Rollback: /gm)?.length).toBe(STEPS.length);
    expect(md.match(/^- Expected duration: /gm)?.length).toBe(STEPS.length);
    expect(md).toMatch(
      /### 11\. cutover\n\n```\ntandem cutover\n```\n\n- Gate: backfill, relay_lag, dead_letters, parity, shadow_mismatch, guard, rehearsal\n- Rollback: tandem rollback/,
    );
    expect(md).toMatch(/```\ntandem phase advance --to canary\ntandem canary 1\n```/);
    expect(md).toMatch(/- Gate: phase, archive\n- Rollback: none: restore legacy from the verified archive/);
    // inventory: rows, keys, triggers, sequences; the table without a key; risks by tier with mitigations
    expect(md).toMatch(/\| legacy \| items \| items \| 300 \| [^|]+ \| id \(primary\) \| — \| items_touch \|/);
    expect(md).toMatch(/\| legacy \| audit_trail \| — \| 0 \| [^|]+ \| \*\*none\*\* \|/);
    expect(md).toMatch(/\| new \| items \| items \| 0 \| [^|]+ \| id \(primary\) \| — \| — \| id \(autoincrement\) \|/);
    expect(md).toMatch(/Tables without a usable key: legacy\.audit_trail\./);
    expect(md).toMatch(/- legacy items: column\(s\) secret_note are not mapped \(left behind\)\n {2}- Mitigation: /);
    expect(md).toMatch(/- tags: no version column \(last writer wins/);
    expect(md).toMatch(/- legacy table audit_trail \(0 rows\) is not part of any entity/);
    expect(md).toMatch(/- legacy\.items has trigger\(s\) items_touch/);
    expect(md).toMatch(/new items: column\(s\) extra are not written by the mapping/);
    expect(md).toMatch(/Rate: \d+ rows\/s \(probe: read probe: 300 rows of items/);
    // names, counts and sizes only: no row value
    expect(md).not.toMatch(/\bn17\b|\bt3\b/);
  });

  it('cannot meet a tight SLO: exit 1 naming the objectives (write pause, RTO)', async () => {
    const cfg = writeConfig(config('slo: { rtoSeconds: 0.5, maxWritePauseMs: 50 },'));
    const r = await runCli(['plan', '--config', cfg]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAILS {2}maxWritePauseMs \d+ ms \(declared 50 ms\)/);
    expect(r.stdout).toMatch(/FAILS {2}rtoSeconds 1 s \(declared 0\.5 s\)/);
    expect(r.stdout).toMatch(/the plan cannot meet the declared SLO: maxWritePauseMs, rtoSeconds\n/);
    expect(r.stderr).toMatch(
      /^the plan cannot meet the declared SLO: maxWritePauseMs: predicted \d+ ms > declared 50 ms/,
    );
  });

  it('RPO: 0 with the transactional outbox, bounded by the lag with a broker (exit 1 against rpoSeconds 0)', async () => {
    const ok = await runCli(['plan', '--json', '--config', writeConfig(config('slo: { rpoSeconds: 0 },'))]);
    expect(ok.code, ok.stderr).toBe(0);
    const p = JSON.parse(ok.stdout) as MigrationPlan;
    expect(p.slo.find((c) => c.objective === 'rpoSeconds')).toMatchObject({ predicted: 0, ok: true });
    const broker = await runCli([
      'plan',
      '--json',
      '--config',
      writeConfig(config("slo: { rpoSeconds: 0 }, transport: { url: 'nats://127.0.0.1:4222' },")),
    ]);
    expect(broker.code).toBe(1);
    const q = JSON.parse(broker.stdout) as MigrationPlan;
    expect(q.slo.find((c) => c.objective === 'rpoSeconds')).toMatchObject({ declared: 0, predicted: 5, ok: false });
    expect(q.sloFailures).toEqual([expect.stringMatching(/^rpoSeconds: predicted 5 s > declared 0 s \(a broker sits/)]);
    expect(q.risks[0]).toMatchObject({ tier: 'High', risk: expect.stringMatching(/cannot meet the declared SLO/) });
  });

  it('--json prints the plan: inventory, risks, rate, predictions, SLO checks, steps', async () => {
    const r = await runCli(['plan', '--json', '--config', writeConfig(config())]);
    expect(r.code, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout) as MigrationPlan;
    expect(Object.keys(p).sort()).toEqual(
      [
        'generatedAt',
        'phase',
        'legacy',
        'new',
        'tables',
        'tablesWithoutKey',
        'typesAtRisk',
        'unmappedColumns',
        'risks',
        'rate',
        'predictions',
        'rehearsal',
        'slo',
        'meetsSlo',
        'sloFailures',
        'steps',
        'targetTriggers',
        'sequences',
        'userTriggers',
      ].sort(),
    );
    expect(p.tables.map((t) => `${t.side}.${t.table}`)).toEqual([
      'legacy.audit_trail',
      'legacy.items',
      'legacy.tags',
      'new.items',
      'new.tags',
    ]);
    expect(p.tables[1]).toMatchObject({
      rows: 300,
      rowsEstimated: false,
      key: ['id'],
      keyKind: 'primary',
      triggers: ['items_touch'],
    });
    expect(p.tablesWithoutKey).toEqual(['legacy.audit_trail']);
    expect(p.unmappedColumns).toEqual([
      { entity: 'items', side: 'legacy', table: 'items', columns: ['secret_note'] },
      { entity: 'items', side: 'new', table: 'items', columns: ['extra'] },
    ]);
    expect(p.typesAtRisk).toContainEqual({
      entity: 'items',
      column: 'items.name → items.name',
      tier: 'High',
      why: 'varchar(100) → varchar(40): longer values do not fit (backfill refuses them)',
    });
    expect(p.rate).toMatchObject({ source: 'probe' });
    expect(p.rate.rowsPerSecond).toBeGreaterThan(0);
    expect(p.predictions).toMatchObject({ backfillRowsLeft: 320, forwardBacklog: 0, reverseBacklog: 0, rpoSeconds: 0 });
    expect(p.predictions.writePauseMs).toBeGreaterThanOrEqual(250);
    expect(p.slo.every((c) => c.ok === null && c.declared === null)).toBe(true);
    expect(p.meetsSlo).toBe(true);
    expect(p.steps.map((s) => s.step)).toEqual(STEPS);
    expect(Object.keys(p.steps[0]!).sort()).toEqual(
      ['command', 'duration', 'durationSeconds', 'gate', 'owner', 'rollback', 'step'].sort(),
    );
    for (const tier of ['High', 'Medium', 'Low']) expect(p.risks.some((x) => x.tier === tier)).toBe(true);
    expect(p.risks.every((x) => x.mitigation.length > 0)).toBe(true);
  });
});

describe('tandem plan after a backfill', () => {
  it('takes its rate from the checkpoints (rows copied over started..updated) and has nothing left to copy', async () => {
    const cfg = writeConfig(config());
    const b = await runCli(['backfill', '--max-rows-per-second', '1000', '--config', cfg]);
    expect(b.code, b.stderr).toBe(0);
    const r = await runCli(['plan', '--json', '--config', cfg]);
    expect(r.code, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout) as MigrationPlan;
    expect(p.rate).toMatchObject({
      source: 'checkpoints',
      basis: expect.stringMatching(/^320 rows copied in \d+(\.\d)? s by the backfill/),
    });
    // throttled to 1000 rows/s: a read probe would be far faster
    expect(p.rate.rowsPerSecond).toBeGreaterThan(0);
    expect(p.rate.rowsPerSecond).toBeLessThan(1500);
    expect(p.predictions).toMatchObject({ backfillRowsLeft: 0, backfillSeconds: 0 });
    expect(p.tables.find((t) => t.side === 'new' && t.table === 'items')).toMatchObject({ rows: 300 });
  });
});

describe('plan on MariaDB → PostgreSQL and PGlite: the engines’ statistics', () => {
  let src: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let tgt: Awaited<ReturnType<typeof createPgDatabase>>;

  beforeAll(async () => {
    src = await createMysqlDatabase('tandem_plan_src');
    await createLegacyMysql(src.url, 400);
    const c = await mysql.createConnection({ uri: src.url });
    await c.query('CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW SET NEW.updated_at = NEW.updated_at');
    await c.query('ANALYZE TABLE users, orgs, memberships');
    await c.end();
    tgt = await createPgDatabase('tandem_plan_tgt');
    await createNewPostgres(tgt.url);
    const p = new pg.Client({ connectionString: tgt.url });
    await p.connect();
    await p.query('CREATE SEQUENCE users_id_seq OWNED BY users.id');
    await p.query(`ALTER TABLE users ALTER COLUMN id SET DEFAULT nextval('users_id_seq')`);
    await p.query(`INSERT INTO organisations VALUES (1, 'one'), (2, 'two')`);
    await p.query('ANALYZE organisations');
    await p.end();
  });
  afterAll(async () => {
    await src?.drop().catch(() => {});
    await tgt?.drop().catch(() => {});
  });

  it('inventories rows, bytes, keys, foreign keys, triggers and sequences of each engine', async () => {
    const m = await openMigration(writeConfig(fixtureConfig(src.url, tgt.url)), { log: quiet, legacyWrites: 'never' });
    let p: MigrationPlan;
    try {
      p = await buildPlan(m);
    } finally {
      await m.close();
    }
    const t = (side: string, name: string) => p.tables.find((x) => x.side === side && x.table === name)!;
    // MariaDB: InnoDB's estimate (near 400), bytes from information_schema, the user's trigger
    expect(t('legacy', 'users')).toMatchObject({ rowsEstimated: true, key: ['id'], triggers: ['users_touch'] });
    expect(t('legacy', 'users').rows).toBeGreaterThan(200);
    expect(t('legacy', 'users').bytes).toBeGreaterThan(16_000);
    expect(t('legacy', 'users').foreignKeys).toEqual([
      expect.objectContaining({ columns: ['org_id'], refTable: 'orgs' }),
    ]);
    expect(t('legacy', 'memberships')).toMatchObject({ key: ['org_id', 'user_id'], keyKind: 'primary' });
    // PostgreSQL: reltuples after ANALYZE, pg_total_relation_size, the owned sequence
    expect(t('new', 'organisations')).toMatchObject({ rows: 2, rowsEstimated: true, triggers: [] });
    expect(t('new', 'organisations').bytes).toBeGreaterThan(0);
    expect(t('new', 'users').sequences).toEqual([{ column: 'id', kind: 'sequence', sequence: 'public.users_id_seq' }]);
    expect(t('new', 'users').foreignKeys.map((f) => f.refTable)).toEqual(['organisations']);
    // users.bio TEXT → user_profiles.bio text; decimal(12,2) → numeric(12,2): no narrowing reported
    expect(p.typesAtRisk.filter((r) => r.tier === 'High')).toEqual([]);
    expect(p.risks.some((r) => /new\.users: id \(sequence\) numbered by the store/.test(r.risk))).toBe(true);
    expect(planMarkdown(p)).toMatch(/\| legacy \| users \| users \| ~\d+ \|/);
  });

  it('PGlite counts a table never analyzed and reads its triggers', async () => {
    const s = await openStore('pglite:memory');
    try {
      await s.execute('CREATE TABLE t (id int PRIMARY KEY, v text)');
      await s.execute(`INSERT INTO t SELECT g, 'v' FROM generate_series(1, 50) g`);
      await s.execute(`CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`);
      await s.execute('CREATE TRIGGER t_touch BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f()');
      const st = await s.tableStats!(['t', 'missing']);
      expect(st).toEqual([
        { table: 't', rows: 50, estimated: false, bytes: expect.any(Number), triggers: ['t_touch'] },
      ]);
      expect(st[0]!.bytes).toBeGreaterThan(0);
    } finally {
      await s.close();
    }
  });
});
