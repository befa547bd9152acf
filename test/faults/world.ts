import { expect } from 'vitest';
import { listLeases } from '../../src/control/lease.js';
import { openStore } from '../../src/stores/index.js';
import type { Store } from '../../src/stores/types.js';
import { createMysqlDatabase, createPgDatabase, runCli, spawnCli, writeConfig } from '../helpers.js';

/**
 * The world of the targeted fault tests (test/faults/): a legacy `users` table (id, unique email, name, version)
 * in a real source and an `accounts` table with other column names in a real target, MariaDB → PostgreSQL or
 * PostgreSQL → MariaDB, and a config whose backfill chunks are exactly `chunk` rows (the pacer never shrinks
 * them: `chunkSeconds` is far above what a chunk takes) and whose lease of a killed backfill expires within 1 s.
 */
export type Engine = 'mysql' | 'postgres';
export const PAIRS: [Engine, Engine][] = [
  ['mysql', 'postgres'],
  ['postgres', 'mysql'],
];
export const label = ([s, t]: [Engine, Engine]) =>
  `${s === 'mysql' ? 'MariaDB' : 'PostgreSQL'} → ${t === 'mysql' ? 'MariaDB' : 'PostgreSQL'}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface FaultWorld {
  sourceUrl: string;
  targetUrl: string;
  cfg: string;
  source: Store;
  target: Store;
  /** `[id, email, name]` of every source row, key order. */
  sourceRows(): Promise<string[][]>;
  /** `[id, email, name]` of every target row, key order. */
  targetRows(): Promise<string[][]>;
  /** The `users` checkpoint as stored. */
  checkpoint(): Promise<
    { last_key: string | null; rows_copied: number; rows_applied: number; status: string } | undefined
  >;
  /** Entries of the version ledger for `users` (tombstones included). */
  ledgerCount(): Promise<number>;
  /** Waits until no backfill lease is live (a killed holder's lease expired), database clock. */
  leaseFree(): Promise<void>;
  close(): Promise<void>;
}

async function database(engine: Engine, prefix: string) {
  return engine === 'mysql' ? createMysqlDatabase(prefix) : createPgDatabase(prefix);
}

/** Inserts rows `[id, email, name]` at version 1, in statements of 500 rows. */
export async function insertUsers(s: Store, rows: [number, string, string][]): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) {
    const part = rows.slice(i, i + 500);
    const params: unknown[] = [];
    const values = part.map(
      (r) => `(${[...r, 1].map((v) => (params.push(v), s.sql.param(params.length))).join(', ')})`,
    );
    await s.execute(`INSERT INTO users (id, email, name, version) VALUES ${values.join(', ')}`, params);
  }
}

export async function faultWorld(pair: [Engine, Engine], users: number, chunk = 500): Promise<FaultWorld> {
  const src = await database(pair[0], 'tandem_fault_src');
  const tgt = await database(pair[1], 'tandem_fault_tgt');
  const source = await openStore(src.url);
  const target = await openStore(tgt.url);
  await source.execute(
    'CREATE TABLE users (id bigint PRIMARY KEY, email varchar(100) NOT NULL UNIQUE, name varchar(100) NOT NULL, version bigint NOT NULL)',
  );
  await target.execute(
    'CREATE TABLE accounts (id bigint PRIMARY KEY, email_address varchar(100) NOT NULL UNIQUE, display_name varchar(100) NOT NULL)',
  );
  await insertUsers(
    source,
    Array.from({ length: users }, (_, i) => [i + 1, `u${i + 1}@x`, `User ${i + 1}`]),
  );
  const cfg = writeConfig(`import { defineConfig } from 'tandem';
export default defineConfig({
  source: ${JSON.stringify(src.url)},
  target: ${JSON.stringify(tgt.url)},
  backfill: { initialChunkRows: ${chunk}, maxChunkRows: ${chunk}, chunkSeconds: 60, leaseSeconds: 1 },
  entities: {
    users: { table: 'users', key: 'id', version: 'version',
      targets: [{ table: 'accounts', columns: { id: 'id', email_address: 'email', display_name: 'name' } }] },
  },
});
`);
  const rows = async (s: Store, sql: string) =>
    (await s.query<Record<string, unknown>>(sql)).map((r) => Object.values(r).map(String));
  return {
    sourceUrl: src.url,
    targetUrl: tgt.url,
    cfg,
    source,
    target,
    sourceRows: () => rows(source, 'SELECT id, email, name FROM users ORDER BY id'),
    targetRows: () => rows(target, 'SELECT id, email_address, display_name FROM accounts ORDER BY id'),
    async checkpoint() {
      const r = await target.query<Record<string, unknown>>(
        `SELECT last_key, rows_copied, rows_applied, status FROM ${target.controlTable('checkpoints')} WHERE entity = 'users'`,
      );
      return (
        r[0] && {
          last_key: r[0].last_key === null ? null : String(r[0].last_key),
          rows_copied: Number(r[0].rows_copied),
          rows_applied: Number(r[0].rows_applied),
          status: String(r[0].status),
        }
      );
    },
    async ledgerCount() {
      return Number(
        (
          await target.query<{ n: unknown }>(
            `SELECT count(*) AS n FROM ${target.controlTable('version_ledger')} WHERE entity = 'users'`,
          )
        )[0]!.n,
      );
    },
    async leaseFree() {
      const end = Date.now() + 20_000;
      while ((await listLeases(target, 'backfill:')).some((l) => l.live)) {
        if (Date.now() > end) throw new Error('the killed backfill lease did not expire');
        await sleep(100);
      }
    },
    async close() {
      await source.close();
      await target.close();
      await src.drop();
      await tgt.drop();
    },
  };
}

/**
 * Runs the CLI with `TANDEM_TEST_FAULT=<fault>` and asserts it died of SIGKILL there — not of an error, not by
 * finishing. Returns its stderr.
 */
export async function runUntilKilled(args: string[], fault: string): Promise<string> {
  const child = spawnCli(args, { env: { TANDEM_TEST_FAULT: fault } });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  child.stdout!.resume();
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.on('close', (c, s) => res({ code: c, signal: s })),
  );
  expect({ code, signal, stderr: stderr.split('\n').filter((l) => /TANDEM_ERR/.test(l)) }).toEqual({
    code: null,
    signal: 'SIGKILL',
    stderr: [],
  });
  return stderr;
}

/** A full `tandem verify` of the world's config must exit 0 (every row compared, all equal). */
export async function expectFullParity(cfg: string): Promise<void> {
  const v = await runCli(['verify', '--config', cfg]);
  expect({ code: v.code, err: v.stderr.split('\n').filter((l) => /TANDEM_ERR/.test(l)) }).toEqual({ code: 0, err: [] });
}
