import mysql from 'mysql2/promise';
import pg from 'pg';
import { fromMysql } from '../../src/capture/adapters.js';
import type { DualWriter } from '../../src/capture/writer.js';
import { createLogger } from '../../src/core/logger.js';
import { openMigration } from '../../src/runtime/migration.js';
import type { MigrationStatus } from '../../src/runtime/status.js';
import { createLegacyMysql, createNewPostgres, fixtureConfig } from '../fixtures.js';
import { createMysqlDatabase, createPgDatabase, spawnCli, writeConfig } from '../helpers.js';

export const quiet = createLogger({ level: 'silent' });
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `pred` every 200 ms until it holds or `ms` passed (then throws, naming `what`). */
export async function waitFor(what: string, pred: () => Promise<boolean>, ms = 90_000): Promise<void> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      if (await pred()) return;
    } catch (e) {
      last = e;
    }
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}

/**
 * A fresh MariaDB legacy (fixture schema, `users` users) and an empty PostgreSQL target, and a config for both
 * (`verify`: the config's verify block, as TypeScript text).
 */
export async function migrationFixture(
  prefix: string,
  users: number,
  o: { leaseSeconds?: number; verify?: string } = {},
) {
  const src = await createMysqlDatabase(`${prefix}_src`);
  await createLegacyMysql(src.url, users);
  const tgt = await createPgDatabase(`${prefix}_tgt`);
  await createNewPostgres(tgt.url);
  const text = fixtureConfig(src.url, tgt.url, {
    backfill: `{ initialChunkRows: 200, maxChunkRows: 400, leaseSeconds: ${o.leaseSeconds ?? 3} }`,
  }).replace('  backfill:', `  heartbeatSeconds: 0.5,\n${o.verify ? `  verify: ${o.verify},\n` : ''}  backfill:`);
  const cfg = writeConfig(text);
  return {
    src,
    tgt,
    cfg,
    drop: async () => {
      await src.drop().catch(() => {});
      await tgt.drop().catch(() => {});
    },
  };
}

/** Starts `tandem run` with info-level JSON logs; collects stdout/stderr. */
export function startRun(cfg: string, extra: string[] = []) {
  const child = spawnCli(['run', '--config', cfg, '--phase-poll-seconds', '0.3', ...extra], {
    env: { TANDEM_LOG_LEVEL: 'info' },
  });
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d) => (out.stdout += d));
  child.stderr!.on('data', (d) => (out.stderr += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.on('close', (code, signal) => res({ code, signal })),
  );
  /** The JSON log lines of the process. */
  const logs = () =>
    out.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          return {};
        }
      });
  return { child, done, out, logs };
}

/** The status model, read in this process. */
export async function statusOf(cfg: string): Promise<MigrationStatus> {
  const m = await openMigration(cfg, { entities: null, log: quiet });
  try {
    return await m.status();
  } finally {
    await m.close();
  }
}

/** Every entity's backfill done and nothing waiting in the live outbox. */
export async function drained(cfg: string): Promise<boolean> {
  const s = await statusOf(cfg);
  return s.entities.every((e) => e.backfill.state === 'done') && s.relay.pending === 0;
}

/**
 * The application: until `stop` is set, writes through the dual writer on its own MariaDB connection —
 * updates of existing users, inserts of new ones, deletes of users without memberships. Returns the counts.
 */
export async function application(url: string, dual: DualWriter, users: number, stop: { done: boolean }) {
  const app = await mysql.createConnection({ uri: url });
  const conn = fromMysql(app);
  const n = { updates: 0, inserts: 0, deletes: 0 };
  let next = users + 1;
  try {
    for (let i = 0; !stop.done; i++) {
      const id = 1 + ((i * 7919) % users);
      if (i % 10 === 3) {
        const nid = next++;
        await dual.write(conn, async (tx) => {
          await app.query(
            `INSERT INTO users SELECT ?, org_id, ?, first_name, last_name, bio, status, balance, password_hash, created_at, updated_at, 1 FROM users WHERE id = 1`,
            [nid, `app-${nid}@example.com`],
          );
          tx.changed('users', nid);
        });
        n.inserts++;
      } else if (i % 10 === 7 && id % 3 !== 0) {
        await dual.write(conn, async (tx) => {
          await app.query('DELETE FROM users WHERE id = ?', [id]);
          tx.changed('users', id);
        });
        n.deletes++;
      } else {
        await dual.write(conn, async (tx) => {
          await app.query('UPDATE users SET bio = ?, version = version + 1 WHERE id = ?', [`bio ${i}`, id]);
          tx.changed('users', id);
        });
        n.updates++;
      }
      await sleep(5);
    }
  } finally {
    await app.end();
  }
  return n;
}

/** rows of a query on PostgreSQL. */
export async function pgRows<T = Record<string, unknown>>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end();
  }
}
