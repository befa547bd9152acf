import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Store } from '../stores/types.js';
import { ensureControlSchema } from './control.js';
import type { DeadHolderCheck, LeaseInfo } from './lease.js';

/**
 * Heartbeats (DESIGN.md "heartbeat"): one row per running long-lived command (backfill, relay, verify, repair,
 * identity wrap) in the control store's `heartbeats` table — role, scope (what it works on, `backfill:users`),
 * host, pid, start, last beat, beat interval, state — so `tandem status` can tell a live process from a dead one.
 *
 * A process beats every `intervalMs` and deletes its row when it ends (normally, on an error, on a graceful
 * stop); a SIGKILLed or crashed one leaves its row behind and stops beating. A row is **dead** once its last beat
 * is older than {@link STALE_BEATS} intervals. Rows dead for a day are pruned by the next process that starts.
 *
 * Time: `started_ms` and `last_beat_ms` are epoch milliseconds on the **database's clock** (`store.sql.nowMs()`),
 * and status compares them with that same clock, so hosts with skewed clocks do not look dead or alive wrongly.
 * A heartbeat never fails its command: every error of its own is logged and the command goes on.
 */

/** A process is dead after this many beat intervals without a beat. */
export const STALE_BEATS = 3;

/** Default beat interval (config `heartbeatSeconds`). */
export const DEFAULT_HEARTBEAT_SECONDS = 5;

const PRUNE_AFTER_MS = 24 * 3600 * 1000;

/** What a heartbeat says about its process. */
export interface HeartbeatOptions {
  /** The command: `backfill`, `relay`, `verify`, `repair`, `identity wrap`. */
  role: string;
  /** What it works on, e.g. `backfill:users`; null when it is not one thing. */
  scope?: string | null;
  /** Milliseconds between beats (default 5000). */
  intervalMs?: number;
  /** Free-form, non-secret facts (`{ mode: 'checksum' }`), stored as JSON. */
  info?: Record<string, unknown>;
  log?: Logger;
}

/** A running heartbeat: change what it says, or stop it. */
export interface Heartbeat {
  readonly id: string;
  /** Changes the scope (the next beat writes it; this also beats now). */
  setScope(scope: string | null): void;
  /** Stops beating and deletes the row. Never throws. */
  stop(): Promise<void>;
}

/**
 * Starts beating for this process in `control`: creates/upgrades the control schema there if needed, inserts the
 * row, prunes rows dead for a day, then beats every `intervalMs` (the timer does not keep the process alive).
 * Never throws: when the control store cannot take the row, the command runs without a heartbeat (logged).
 */
export async function startHeartbeat(control: Store, o: HeartbeatOptions): Promise<Heartbeat> {
  const id = randomUUID();
  const intervalMs = Math.max(50, Math.round(o.intervalMs ?? DEFAULT_HEARTBEAT_SECONDS * 1000));
  const t = control.controlTable('heartbeats');
  const p = (i: number) => control.sql.param(i);
  const now = control.sql.nowMs();
  let scope = o.scope ?? null;
  let stopped = false;
  const warn = (what: string, e: unknown) =>
    o.log?.warn(
      { event: 'heartbeat.failed', role: o.role, err: (e as Error)?.message },
      `heartbeat: could not ${what}`,
    );
  try {
    await ensureControlSchema(control);
    await control.execute(`DELETE FROM ${t} WHERE last_beat_ms < ${now} - ${p(1)}`, [PRUNE_AFTER_MS]);
    await control.execute(
      `INSERT INTO ${t} (id, role, scope, host, pid, started_ms, last_beat_ms, interval_ms, state, info) VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, ${now}, ${now}, ${p(6)}, 'running', ${p(7)})`,
      [id, o.role, scope, hostname(), process.pid, intervalMs, o.info ? JSON.stringify(o.info) : null],
    );
  } catch (e) {
    warn('start', e);
    return { id, setScope: () => {}, stop: async () => {} };
  }
  let inFlight: Promise<void> = Promise.resolve();
  const beat = () => {
    if (stopped) return;
    inFlight = inFlight
      .then(() =>
        control.execute(`UPDATE ${t} SET last_beat_ms = ${now}, scope = ${p(1)} WHERE id = ${p(2)}`, [scope, id]),
      )
      .then(
        () => {},
        (e) => warn('beat', e),
      );
  };
  const timer = setInterval(beat, intervalMs);
  timer.unref();
  return {
    id,
    setScope(s) {
      scope = s;
      beat();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      await inFlight;
      await control.execute(`DELETE FROM ${t} WHERE id = ${p(1)}`, [id]).catch((e) => warn('remove its row', e));
    },
  };
}

/** One heartbeat row as status shows it, liveness judged on the control store's clock. */
export interface ProcessInfo {
  id: string;
  role: string;
  scope: string | null;
  host: string;
  pid: number;
  /** ISO-8601 UTC. */
  startedAt: string;
  lastBeatAt: string;
  /** Milliseconds since the last beat (database clock). */
  lastBeatAgoMs: number;
  intervalMs: number;
  alive: boolean;
  /** `alive` or `dead (last beat N s ago)`. */
  state: string;
  info: Record<string, unknown> | null;
}

/** The heartbeat rows of `control`, oldest start first; [] when the table does not exist yet. */
export async function listProcesses(control: Store): Promise<ProcessInfo[]> {
  const now = control.sql.nowMs();
  let rows: Record<string, unknown>[];
  try {
    rows = await control.query(
      `SELECT id, role, scope, host, pid, started_ms, last_beat_ms, interval_ms, info, ${now} AS now_ms FROM ${control.controlTable('heartbeats')} ORDER BY started_ms, id`,
    );
  } catch {
    return [];
  }
  return rows.map((r) => {
    const ago = Math.max(0, Number(r.now_ms) - Number(r.last_beat_ms));
    const intervalMs = Number(r.interval_ms);
    const alive = ago <= STALE_BEATS * intervalMs;
    let info: Record<string, unknown> | null = null;
    try {
      info = r.info ? (JSON.parse(String(r.info)) as Record<string, unknown>) : null;
    } catch {
      /* not JSON */
    }
    return {
      id: String(r.id),
      role: String(r.role),
      scope: r.scope === null ? null : String(r.scope),
      host: String(r.host),
      pid: Number(r.pid),
      startedAt: new Date(Number(r.started_ms)).toISOString(),
      lastBeatAt: new Date(Number(r.last_beat_ms)).toISOString(),
      lastBeatAgoMs: ago,
      intervalMs,
      alive,
      state: alive ? 'alive' : `dead (last beat ${Math.round(ago / 1000)} s ago)`,
      info,
    };
  });
}

/**
 * Whether process `pid` of this host is running: `kill(pid, 0)` (EPERM: it runs as another user), and on Linux
 * not a zombie (`/proc/<pid>/stat` state `Z`: it has exited, its parent has not reaped it yet). @internal
 */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no procfs: kill(pid, 0) said it runs
  }
}

/**
 * The check {@link acquireLease} uses to take over a live lease from a dead holder at once, instead of waiting
 * for the lease to expire (`config.backfill.leaseSeconds`). A holder is dead when
 * - it ran on this host (same host name) and its pid is not running — a SIGKILLed or crashed process; a holder
 *   with this process's own pid but another holder id is an earlier process that had the same pid (pid 1 in a
 *   restarted container);
 * - or its heartbeat rows in `control` (same host and pid) all missed {@link STALE_BEATS} beats (database
 *   clock) — a process on another host that died, or one stopped or partitioned away.
 * A holder with no heartbeat row on another host is not called dead: its lease expires as before. Host names
 * must therefore be unique among the machines that run Tandem. Being wrong is safe, only costly: the takeover
 * bumps the fencing token, so a holder called dead while alive stops with `TANDEM_ERR_LEASE_LOST` at its next
 * chunk, writing nothing.
 */
export function deadHolderCheck(control: Store): DeadHolderCheck {
  return async (l: LeaseInfo) => {
    if (l.host === null || l.pid === null) return null;
    if (l.host === hostname()) {
      if (l.pid === process.pid) return `pid ${l.pid} on this host is this process now: the holder was an earlier one`;
      if (!pidAlive(l.pid)) return `process ${l.pid} on this host is gone`;
    }
    const now = control.sql.nowMs();
    const p = (i: number) => control.sql.param(i);
    let rows: Record<string, unknown>[];
    try {
      rows = await control.query(
        `SELECT last_beat_ms, interval_ms, ${now} AS now_ms FROM ${control.controlTable('heartbeats')} ` +
          `WHERE host = ${p(1)} AND pid = ${p(2)}`,
        [l.host, l.pid],
      );
    } catch {
      return null; // no heartbeats table yet: nothing says it is dead
    }
    if (!rows.length) return null;
    const ages = rows.map((r) => Number(r.now_ms) - Number(r.last_beat_ms));
    const dead = rows.every((r, i) => ages[i]! > STALE_BEATS * Number(r.interval_ms));
    if (!dead) return null;
    return `its heartbeat stopped ${Math.round(Math.min(...ages) / 1000)} s ago (${STALE_BEATS} beats missed)`;
  };
}
