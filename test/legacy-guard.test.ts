import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openContext } from '../src/cli/context.js';
import { ensureControlSchema } from '../src/control/control.js';
import { classifyStatement } from '../src/control/legacy-guard.js';
import { setPhase } from '../src/control/phase.js';
import { openStore } from '../src/stores/index.js';
import type { Store } from '../src/stores/types.js';
import { createMysqlDatabase, createPgDatabase, writeConfig } from './helpers.js';

describe('classifyStatement', () => {
  it('tells reads, DML, prepare DDL and other statements apart, with the object they change', () => {
    expect(classifyStatement('SELECT * FROM users FOR UPDATE')).toEqual({ kind: 'read' });
    expect(classifyStatement('  -- c\n/* x */ SAVEPOINT tandem_apply')).toEqual({ kind: 'read' });
    expect(classifyStatement('WITH x AS (SELECT 1) SELECT * FROM x')).toEqual({ kind: 'read' });
    expect(classifyStatement('WITH x AS (DELETE FROM users RETURNING id) SELECT * FROM x').kind).toBe('other');
    expect(classifyStatement('INSERT INTO "tandem"."outbox" (a) VALUES ($1)')).toEqual({
      kind: 'dml',
      object: ['tandem', 'outbox'],
    });
    expect(classifyStatement('INSERT OR IGNORE INTO "tandem_dead_letters" (a) VALUES (?)')).toEqual({
      kind: 'dml',
      object: ['tandem_dead_letters'],
    });
    expect(classifyStatement('INSERT IGNORE INTO `tandem_dead_letters` (a) VALUES (?)')).toEqual({
      kind: 'dml',
      object: ['tandem_dead_letters'],
    });
    expect(classifyStatement('update "public"."Users" set a = 1')).toEqual({
      kind: 'dml',
      object: ['public', 'Users'],
    });
    expect(classifyStatement('DELETE FROM `users` WHERE id = ?')).toEqual({ kind: 'dml', object: ['users'] });
    expect(
      classifyStatement('ALTER TABLE `users` ADD COLUMN `v` BIGINT NOT NULL DEFAULT 1, ALGORITHM=INSTANT'),
    ).toEqual({ kind: 'prepare-ddl', object: ['users'] });
    expect(
      classifyStatement('CREATE TRIGGER "t_upd" BEFORE UPDATE ON "public"."users" FOR EACH ROW EXECUTE FUNCTION f()'),
    ).toEqual({ kind: 'prepare-ddl', object: ['public', 'users'] });
    expect(
      classifyStatement('CREATE INDEX IF NOT EXISTS outbox_due ON "tandem"."outbox" (next_attempt_at, id)'),
    ).toEqual({ kind: 'other', verb: 'CREATE INDEX', object: ['tandem', 'outbox'] });
    expect(classifyStatement('CREATE TABLE IF NOT EXISTS "tandem"."state" (name text)')).toEqual({
      kind: 'other',
      verb: 'CREATE',
      object: ['tandem', 'state'],
    });
    expect(classifyStatement('DROP TABLE users')).toEqual({ kind: 'other', verb: 'DROP', object: ['users'] });
    expect(classifyStatement('TRUNCATE TABLE "public"."users"')).toEqual({
      kind: 'other',
      verb: 'TRUNCATE',
      object: ['public', 'users'],
    });
  });
});

const LEGACY = [
  'CREATE TABLE users (id integer PRIMARY KEY, name varchar(100) NOT NULL, version integer NOT NULL)',
  "INSERT INTO users (id, name, version) VALUES (1, 'Ada', 1), (2, 'Alan', 1)",
];

function config(source: string, target: string): string {
  return `import { defineConfig } from 'tandem';
export default defineConfig({
  source: ${JSON.stringify(source)},
  target: ${JSON.stringify(target)},
  entities: { users: { table: 'users', key: 'id', version: 'version', targets: [{ table: 'users', columns: { id: 'id', name: 'name', version: 'version' } }] } },
});
`;
}

async function engine(
  kind: 'SQLite' | 'PostgreSQL' | 'MariaDB',
): Promise<{ source: string; target: string; cleanup: () => Promise<void> }> {
  if (kind === 'SQLite') {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-guard-'));
    return {
      source: `sqlite:${join(dir, 'legacy.db')}`,
      target: `sqlite:${join(dir, 'new.db')}`,
      cleanup: async () => {},
    };
  }
  const a = kind === 'PostgreSQL' ? await createPgDatabase('tandem_guard') : await createMysqlDatabase('tandem_guard');
  const b = await createPgDatabase('tandem_guard_new');
  return {
    source: a.url,
    target: b.url,
    cleanup: async () => {
      await a.drop();
      await b.drop();
    },
  };
}

const names = async (s: Store) =>
  (await s.query<{ name: string }>(`SELECT name FROM ${s.sql.table('users')} ORDER BY id`)).map((r) => r.name);

describe("Tandem's connection to the legacy store refuses non-control writes before write cutover", () => {
  for (const kind of ['SQLite', 'PostgreSQL', 'MariaDB'] as const) {
    it(`${kind}: refused in dual_write (autocommit and in a transaction), allowed on control tables and after new_primary; DROP/TRUNCATE never`, async () => {
      const e = await engine(kind);
      try {
        const seed = await openStore(e.source);
        for (const s of LEGACY) await seed.execute(s);
        await seed.close();
        const tgt = await openStore(e.target);
        for (const s of LEGACY.slice(0, 1)) await tgt.execute(s);
        await tgt.close();
        const cfg = writeConfig(config(e.source, e.target));

        const ctx = await openContext(cfg);
        try {
          await ensureControlSchema(ctx.source); // control tables (outbox) in the legacy store: allowed
          await ensureControlSchema(ctx.control);
          await setPhase(ctx.control, 'dual_write');
          const upd = `UPDATE ${ctx.source.sql.table('users')} SET name = 'overwritten'`;
          await expect(ctx.source.execute(upd)).rejects.toMatchObject({ code: 'TANDEM_ERR_LEGACY_WRITE_REFUSED' });
          await expect(ctx.source.transaction((tx) => tx.execute(upd))).rejects.toMatchObject({
            code: 'TANDEM_ERR_LEGACY_WRITE_REFUSED',
          });
          await expect(
            ctx.source.query(`INSERT INTO ${ctx.source.sql.table('users')} (id, name, version) VALUES (3, 'x', 1)`),
          ).rejects.toThrow(/refused to write legacy table .*users.* in phase dual_write/);
          await expect(
            ctx.source.execute(`ALTER TABLE ${ctx.source.sql.table('users')} ADD COLUMN x integer`),
          ).rejects.toMatchObject({ code: 'TANDEM_ERR_LEGACY_WRITE_REFUSED' });
          // the outbox is Tandem's: written freely
          await ctx.source.execute(
            `INSERT INTO ${ctx.source.controlTable('outbox')} (entity, entity_key, key_values) VALUES (${ctx.source.sql.param(1)}, ${ctx.source.sql.param(2)}, ${ctx.source.sql.param(3)})`,
            ['users', '1', '[1]'],
          );
          expect(await names(ctx.source)).toEqual(['Ada', 'Alan']);

          // after write cutover the reverse relay writes legacy rows back: allowed
          await setPhase(ctx.control, 'new_primary', { force: true });
          expect(await ctx.source.transaction((tx) => tx.execute(`${upd} WHERE id = 1`))).toBe(1);
          expect(await names(ctx.source)).toEqual(['overwritten', 'Alan']);
          // the apply's one-statement and bulk writes (data-modifying CTEs the guard does not read) are not offered
          // on legacy: the reverse relay takes the two-step path (test/cutover/rollback.test.ts drains through it)
          expect(ctx.source.sql.ledgeredUpsert).toBeUndefined();
          expect(ctx.source.sql.stagedUpsert).toBeUndefined();
          // …but never a DROP or TRUNCATE of a legacy table
          await expect(ctx.source.execute(`DROP TABLE ${ctx.source.sql.table('users')}`)).rejects.toMatchObject({
            code: 'TANDEM_ERR_LEGACY_WRITE_REFUSED',
          });
          await expect(ctx.source.execute(`DELETE FROM ${ctx.source.sql.table('users')} WHERE id = 2`)).resolves.toBe(
            1,
          );
          expect(await names(ctx.source)).toEqual(['overwritten']);
        } finally {
          await ctx.close();
        }

        // tandem prepare's context: its schema changes pass, row writes still do not
        const prep = await openContext(cfg, null);
        try {
          await setPhase(prep.control, 'dual_write', { force: true });
          await prep.source.execute(`ALTER TABLE ${prep.source.sql.table('users')} ADD COLUMN extra integer`);
          await expect(
            prep.source.execute(`UPDATE ${prep.source.sql.table('users')} SET name = 'x'`),
          ).rejects.toMatchObject({ code: 'TANDEM_ERR_LEGACY_WRITE_REFUSED' });
          expect(await names(prep.source)).toEqual(['overwritten']);
        } finally {
          await prep.close();
        }
      } finally {
        await e.cleanup();
      }
    }, 60_000);
  }
});
