/**
 * Helpers shared by the benchmarks: peak-RSS sampling, CPU accounting of this process and of the local database
 * servers (read from /proc; Linux only, zeros elsewhere), and small formatting helpers.
 */
import { type SpawnOptions, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

/** Base URLs of the local services (same defaults and overrides as the tests). */
export const PG_BASE =
  process.env.TANDEM_BENCH_PG ?? process.env.TANDEM_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432';
export const MYSQL_BASE =
  process.env.TANDEM_BENCH_MYSQL ?? process.env.TANDEM_TEST_MYSQL ?? 'mysql://root@127.0.0.1:3306';

const MB = 1024 * 1024;

/** A field of /proc/<pid>/status in kB (`VmHWM`, `VmRSS`), as bytes; null when unavailable. */
export function procStatusBytes(field: 'VmHWM' | 'VmRSS', pid: number | 'self' = 'self'): number | null {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Samples `process.memoryUsage.rss()` every `everyMs`; keeps the peak (and heap peak). */
export class RssSampler {
  peakRss = 0;
  peakHeapUsed = 0;
  samples = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly everyMs = 100) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
    this.timer.unref();
    return this;
  }

  sample(): void {
    const rss = process.memoryUsage.rss();
    if (rss > this.peakRss) this.peakRss = rss;
    const heap = process.memoryUsage().heapUsed;
    if (heap > this.peakHeapUsed) this.peakHeapUsed = heap;
    this.samples++;
  }

  stop(): void {
    this.sample();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on every mainstream Linux). */
const HZ = 100;

interface ProcTimes {
  pid: number;
  comm: string;
  ppid: number;
  /** utime + stime, seconds. */
  self: number;
  /** cutime + cstime (reaped children), seconds. */
  children: number;
}

function readStat(pid: number): ProcTimes | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const open = s.indexOf('(');
    const close = s.lastIndexOf(')');
    const comm = s.slice(open + 1, close);
    const f = s.slice(close + 2).split(' '); // f[0] = state (field 3)
    const n = (i: number) => Number(f[i - 3]);
    return { pid, comm, ppid: n(4), self: (n(14) + n(15)) / HZ, children: (n(16) + n(17)) / HZ };
  } catch {
    return null;
  }
}

/**
 * CPU seconds used so far by the database servers on this machine: MariaDB/MySQL (one process, all threads) and
 * PostgreSQL (every live `postgres` process, plus what the postmaster has reaped from exited backends — so the
 * backends a benchmark opened and closed are counted). Take one before and one after, and subtract.
 */
export function serverCpu(): { mariadb: number; postgres: number } {
  let mariadb = 0;
  let postgres = 0;
  const procs: ProcTimes[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const p = readStat(Number(d));
    if (p) procs.push(p);
  }
  const pgPids = new Set(procs.filter((p) => p.comm === 'postgres').map((p) => p.pid));
  for (const p of procs) {
    if (p.comm === 'mariadbd' || p.comm === 'mysqld') mariadb += p.self;
    if (p.comm === 'postgres') {
      postgres += p.self;
      // the postmaster: its parent is not a postgres process; its reaped children are exited backends
      if (!pgPids.has(p.ppid)) postgres += p.children;
    }
  }
  return { mariadb, postgres };
}

/** Bytes as whole MiB. */
export const mb = (bytes: number) => Math.round(bytes / MB);

/** `12.3 s` style. */
export const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Percentage of `part` in `whole`, one decimal. */
export const pct = (part: number, whole: number) => (whole > 0 ? `${((part / whole) * 100).toFixed(1)}%` : '-');

/** 1,234,567 */
export const int = (n: number) => Math.round(n).toLocaleString('en-US');

/** Busy CPU seconds of the whole machine so far (all cores; /proc/stat `cpu` line minus idle and iowait). */
export function machineBusyCpu(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
    return (user + nice + system + irq + softirq + steal) / HZ;
  } catch {
    return 0;
  }
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

/**
 * Summarizes a V8 `.cpuprofile` (from `node --cpu-prof`): self time by bucket (GC, idle, a package under
 * node_modules, a Tandem source folder, node internals) and the top functions by self time.
 */
export function summarizeCpuProfile(file: string, top = 20): string {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: ProfileNode[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < prof.samples.length; i++)
    self.set(prof.samples[i]!, (self.get(prof.samples[i]!) ?? 0) + (prof.timeDeltas[i] ?? 0) / 1000);
  const bucketOf = (n: ProfileNode) => {
    const { functionName: fn, url } = n.callFrame;
    if (fn === '(garbage collector)') return 'GC';
    if (fn === '(idle)') return 'idle';
    if (fn === '(program)') return 'program (native, unattributed)';
    const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
    if (nm) return nm[1]!;
    const src = /\/(src|bench)\/([^/]+)/.exec(url);
    if (src) return `${src[1]}/${src[2]}`;
    if (url.startsWith('node:')) return 'node internals';
    return url ? 'other' : 'native (no url)';
  };
  const buckets = new Map<string, number>();
  const fns = new Map<string, number>();
  let total = 0;
  for (const [id, ms] of self) {
    const n = byId.get(id)!;
    total += ms;
    const b = bucketOf(n);
    buckets.set(b, (buckets.get(b) ?? 0) + ms);
    const short = n.callFrame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(src|bench)\//, '$1/');
    const key = `${n.callFrame.functionName || '(anonymous)'} ${short}${short ? `:${n.callFrame.lineNumber + 1}` : ''}`;
    fns.set(key, (fns.get(key) ?? 0) + ms);
  }
  const lines = [`cpu profile ${file}: ${(total / 1000).toFixed(1)} s sampled`, '  self time by bucket:'];
  for (const [b, ms] of [...buckets].sort((a, b) => b[1] - a[1]))
    lines.push(`    ${pct(ms, total).padStart(6)}  ${(ms / 1000).toFixed(2).padStart(6)} s  ${b}`);
  lines.push(`  top ${top} functions by self time:`);
  for (const [f, ms] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, top))
    lines.push(`    ${pct(ms, total).padStart(6)}  ${(ms / 1000).toFixed(2).padStart(6)} s  ${f}`);
  return lines.join('\n');
}

/** Pids of `root` and every live descendant of it (from /proc/<pid>/stat ppid). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const p = readStat(Number(d));
    if (!p) continue;
    const list = children.get(p.ppid) ?? [];
    list.push(p.pid);
    children.set(p.ppid, list);
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length) {
    const pid = todo.pop()!;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** What {@link timeProcess} measured of one finished child process. */
export interface TimedProcess {
  /** Exit code (null when a signal ended it). */
  code: number | null;
  /** Wall clock from spawn to exit, ms. */
  ms: number;
  /**
   * Peak RSS of the process tree, bytes: the larger of the summed VmRSS of the tree sampled every 100 ms from
   * /proc and the kernel's ru_maxrss of the largest process (`/usr/bin/time -f %M`, where installed).
   */
  peakRss: number;
  /** ru_maxrss as `/usr/bin/time` reported it, bytes (null without /usr/bin/time). */
  maxRss: number | null;
}

const TIME_BIN = '/usr/bin/time';

/**
 * Runs `cmd args` as a child process and times it as a whole: wall clock from spawn to exit, and the peak RSS of
 * its process tree ({@link TimedProcess}). The command runs under `/usr/bin/time -f %M` where that exists (its own
 * ~2 MB are left out of the tree sample). `onSpawn` receives the pid of the command (or of `time`).
 */
export async function timeProcess(cmd: string, args: string[], opts: SpawnOptions = {}): Promise<TimedProcess> {
  const wrapped = existsSync(TIME_BIN);
  const dir = wrapped ? mkdtempSync(join(tmpdir(), 'tandem-time-')) : '';
  const out = join(dir, 'rusage');
  const [file, argv] = wrapped ? [TIME_BIN, ['-f', '%M', '-o', out, cmd, ...args]] : [cmd, args];
  const start = performance.now();
  let peak = 0;
  const code = await new Promise<number | null>((res, rej) => {
    const c = spawn(file, argv, opts);
    const sample = () => {
      let sum = 0;
      for (const pid of processTree(c.pid!)) if (!(wrapped && pid === c.pid)) sum += procStatusBytes('VmRSS', pid) ?? 0;
      peak = Math.max(peak, sum);
    };
    const poll = setInterval(sample, 100);
    c.on('error', (e) => {
      clearInterval(poll);
      rej(e);
    });
    c.on('exit', (code) => {
      clearInterval(poll);
      res(code);
    });
  });
  const ms = performance.now() - start;
  let maxRss: number | null = null;
  if (wrapped) {
    try {
      const kb = Number(readFileSync(out, 'utf8').trim().split('\n').pop());
      if (kb > 0) maxRss = kb * 1024;
    } catch {
      // time wrote nothing (the command could not start)
    }
    rmSync(dir, { recursive: true, force: true });
  }
  return { code, ms, peakRss: Math.max(peak, maxRss ?? 0), maxRss };
}
