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
export async function createPgDatabase(
  prefix = 'tandem_t',
): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
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
export async function createMysqlDatabase(
  prefix = 'tandem_t',
): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
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

/** What a CLI run ended with. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts the CLI: the child (to signal it) and `done`, its exit code, stdout and stderr once it has ended. */
export function startCli(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawnCli(args, opts);
  let stdout = '',
    stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<CliResult>((res) =>
    child.on('close', (code, signal) => res({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

/** Runs the CLI to the end; returns exit code, stdout and stderr. */
export async function runCli(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<CliResult> {
  return startCli(args, opts).done;
}

/** A temporary folder with a `tandem.config.ts` of the given text; returns the config path. */
export function writeConfig(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-cfg-'));
  const file = join(dir, 'tandem.config.ts');
  writeFileSync(file, text);
  return file;
}

/**
 * Polls `cond` every `intervalMs` until it holds; throws `timed out after … waiting for <what>` once `timeoutMs`
 * has passed. For tests: wait for a state, never sleep a fixed time and then expect it.
 */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  o: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<void> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${o.what ?? 'the condition'}`);
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 20));
  }
}

/** The `q`-quantile (0..1) of `xs`, interpolated linearly between order statistics. */
export function quantile(xs: number[], q: number): number {
  if (!xs.length) throw new RangeError('quantile of no values');
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (pos - lo);
}

/** The median of `xs`. */
export const median = (xs: number[]): number => quantile(xs, 0.5);

/**
 * Paired timings, ms: `n` rounds of `control(i)` and `treated(i)`, which goes first alternating, so load that
 * comes and goes on the machine falls on both alike. `diffs[i]` is treated − control of round `i`. With
 * `timerMs`, each round also times one `setTimeout(timerMs)`: `timerLate[i]` is how late it fired, the
 * scheduling delay a timer of that length sees on the machine at that moment.
 */
export async function pairedTimings(
  n: number,
  control: (i: number) => Promise<unknown>,
  treated: (i: number) => Promise<unknown>,
  o: { timerMs?: number } = {},
): Promise<{ control: number[]; treated: number[]; diffs: number[]; timerLate: number[] }> {
  const time = async (f: () => Promise<unknown>) => {
    const t0 = performance.now();
    await f();
    return performance.now() - t0;
  };
  const out = { control: [] as number[], treated: [] as number[], diffs: [] as number[], timerLate: [] as number[] };
  for (let i = 0; i < n; i++) {
    let c: number, t: number;
    if (i % 2 === 0) {
      c = await time(() => control(i));
      t = await time(() => treated(i));
    } else {
      t = await time(() => treated(i));
      c = await time(() => control(i));
    }
    out.control.push(c);
    out.treated.push(t);
    out.diffs.push(t - c);
    if (o.timerMs !== undefined) {
      const ms = o.timerMs;
      out.timerLate.push((await time(() => new Promise((r) => setTimeout(r, ms)))) - ms);
    }
  }
  return out;
}
