import { randomBytes } from 'node:crypto';
import pg from 'pg';
import mysql from 'mysql2/promise';

/** Base URLs of the local services (overridable for other machines). */
export const PG_BASE = process.env.TANDEM_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432';
export const MYSQL_BASE = process.env.TANDEM_TEST_MYSQL ?? 'mysql://root@127.0.0.1:3306';

/** A fresh, uniquely named database name: `<prefix>_<random>` (lower-case, safe in both servers). */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`.toLowerCase();
}

/** Creates an empty PostgreSQL database; returns its URL and a drop function. */
export async function createPgDatabase(prefix = 'tandem_t'): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  const name = uniqueName(prefix);
  const admin = new pg.Client({ connectionString: `${PG_BASE}/postgres` });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  return {
    url: `${PG_BASE}/${name}`,
    name,
    drop: async () => {
      const c = new pg.Client({ connectionString: `${PG_BASE}/postgres` });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    },
  };
}

/** Creates an empty MariaDB database; returns its URL and a drop function. */
export async function createMysqlDatabase(prefix = 'tandem_t'): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  const name = uniqueName(prefix);
  const c = await mysql.createConnection({ uri: `${MYSQL_BASE}/mysql` });
  await c.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await c.end();
  return {
    url: `${MYSQL_BASE}/${name}`,
    name,
    drop: async () => {
      const d = await mysql.createConnection({ uri: `${MYSQL_BASE}/mysql` });
      await d.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await d.end();
    },
  };
}

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');

/**
 * How to start the CLI: the build made by the global setup (`dist/cli/run.js`, TANDEM_TEST_CLI), or the
 * sources through tsx when a test runs without it.
 */
export function cliArgv(): string[] {
  const built = process.env.TANDEM_TEST_CLI;
  return built ? [built] : ['--import', 'tsx', join(ROOT, 'src/cli/run.ts')];
}

/** Starts the CLI as a real child process. */
export function spawnCli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): ChildProcess {
  return spawn(process.execPath, [...cliArgv(), ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, TANDEM_LOG_LEVEL: 'warn', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs the CLI to the end; returns exit code, stdout and stderr. */
export async function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const child = spawnCli(args, opts);
  let stdout = '', stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((res) => child.on('close', (code, signal) => res({ code, signal, stdout, stderr })));
}

/** A temporary folder with a `tandem.config.ts` of the given text; returns the config path. */
export function writeConfig(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-cfg-'));
  const file = join(dir, 'tandem.config.ts');
  writeFileSync(file, text);
  return file;
}
