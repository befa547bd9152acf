import { describe, expect, it } from 'vitest';
import { backfillState, formatStatus, type StatusReport } from '../src/cli/status.js';
import type { ProcessInfo } from '../src/control/heartbeat.js';
import type { LeaseInfo } from '../src/control/lease.js';

const proc = (o: Partial<ProcessInfo>): ProcessInfo => ({
  id: 'p',
  role: 'backfill',
  scope: null,
  host: 'vm',
  pid: 1,
  startedAt: '2026-12-02T18:00:00.000Z',
  lastBeatAt: '2026-12-02T18:00:01.000Z',
  lastBeatAgoMs: 100,
  intervalMs: 5000,
  alive: true,
  state: 'alive',
  info: null,
  ...o,
});
const lease = (o: Partial<LeaseInfo>): LeaseInfo => ({
  scope: 'backfill:users',
  token: 3,
  holderId: 'h',
  host: 'vm',
  pid: 7,
  acquiredMs: 1_000,
  renewedMs: 2_000,
  expiresMs: 10_000,
  nowMs: 5_000,
  live: true,
  ...o,
});

function report(): StatusReport {
  return {
    target: 'postgres://127.0.0.1/app',
    controlSchemaVersion: 5,
    phase: 'dual_write',
    outbox: null,
    deadLetters: {
      count: 2,
      recent: [
        {
          origin: 'relay',
          entity: 'users',
          key: '["1"]',
          attempts: 10,
          reason: 'boom',
          deadAt: '2026-12-02T18:00:00.000Z',
        },
        {
          origin: 'broker',
          entity: 'a_long_entity_name',
          key: '["12345"]',
          attempts: 3,
          reason: 'bad',
          deadAt: '2026-12-02T18:00:00.000Z',
        },
      ],
    },
    entities: [
      {
        entity: 'orgs',
        status: 'done',
        copied: 20,
        total: 20,
        percent: 100,
        updatedAt: '2026-12-02T18:00:00.000Z',
        checkpoint: 'done',
        holder: null,
      },
      {
        entity: 'a_really_long_entity_name_here',
        status: 'stalled (process gone)',
        copied: 12_345,
        total: 100_000,
        percent: 12.345,
        updatedAt: '2026-12-02T18:00:00.000Z',
        checkpoint: 'running',
        holder: {
          host: 'vm',
          pid: 123,
          since: null,
          leaseExpiresAt: null,
          leaseLive: false,
          process: 'dead (last beat 40 s ago)',
        },
      },
      {
        entity: 'users',
        status: 'running',
        copied: 1_234_567,
        total: 2_000_000,
        percent: 61.7,
        updatedAt: '2026-12-02T18:00:00.000Z',
        checkpoint: 'running',
        holder: { host: 'vm', pid: 9, since: null, leaseExpiresAt: null, leaseLive: true, process: 'alive' },
      },
      {
        entity: 'm',
        status: 'not started',
        copied: 0,
        total: null,
        percent: null,
        updatedAt: null,
        checkpoint: null,
        holder: null,
      },
    ],
    audit: [
      { at: '2026-12-02T18:00:00.000Z', command: 'backfill', actor: 'me@vm', outcome: 'ok' },
      { at: '2026-12-02T18:00:00.000Z', command: 'identity wrap', actor: 'me@vm', outcome: 'interrupted' },
    ],
    processes: [
      proc({ role: 'relay', pid: 99 }),
      proc({
        id: 'q',
        scope: 'backfill:a_really_long_entity_name_here',
        pid: 123,
        alive: false,
        state: 'dead (last beat 40 s ago)',
      }),
    ],
  };
}

/** The lines of one indented block of `formatStatus` after its title line. */
function block(text: string, title: string): string[] {
  const lines = text.split('\n');
  const out: string[] = [];
  for (let i = lines.indexOf(title) + 1; i < lines.length && lines[i]!.startsWith('  '); i++) out.push(lines[i]!);
  return out;
}

/** The cells of a table line: runs of text separated by two or more spaces (a cell holds single spaces only). */
const cells = (line: string) =>
  [...line.matchAll(/\S+(?: \S+)*/g)].map((m) => ({ text: m[0], start: m.index, end: m.index + m[0].length }));

/** Every line's cell `i` starts (left) or ends (right) at the same offset as the header's. */
function aligned(lines: string[], i: number, side: 'left' | 'right'): boolean {
  const at = (l: string) => {
    const c = cells(l)[i];
    return c ? (side === 'left' ? c.start : c.end) : undefined;
  };
  return new Set(lines.map(at).filter((x) => x !== undefined)).size === 1;
}

describe('tandem status: aligned columns', () => {
  it('backfill, processes, dead letters and recent commands line up whatever the widths', () => {
    const text = formatStatus(report());
    const bf = block(text, 'backfill:');
    expect(bf).toHaveLength(5);
    expect(cells(bf[0]!).map((c) => c.text)).toEqual([
      'entity',
      'state',
      'copied',
      'total',
      'percent',
      'updated',
      'holder',
    ]);
    expect(cells(bf[2]!).map((c) => c.text)).toEqual([
      'a_really_long_entity_name_here',
      'stalled (process gone)',
      '12,345',
      '100,000',
      '12.3%',
      '2026-12-02T18:00:00.000Z',
      'host vm pid 123, dead (last beat 40 s ago)',
    ]);
    expect(cells(bf[3]!).at(-1)!.text).toBe('host vm pid 9, alive');
    for (const i of [0, 1, 5, 6]) expect(aligned(bf, i, 'left')).toBe(true);
    for (const i of [2, 3, 4]) expect(aligned(bf, i, 'right')).toBe(true);
    const ps = block(text, 'processes:');
    expect(ps).toHaveLength(3);
    expect(cells(ps[0]!).map((c) => c.text)).toEqual(['role', 'scope', 'host', 'pid', 'started', 'state']);
    for (const i of [0, 1, 2, 4, 5]) expect(aligned(ps, i, 'left')).toBe(true);
    expect(aligned(ps, 3, 'right')).toBe(true);
    expect(cells(ps[2]!).at(-1)!.text).toBe('dead (last beat 40 s ago)');
    const rc = block(text, 'recent commands:');
    expect(rc).toHaveLength(2);
    for (const i of [0, 1, 2, 3]) expect(aligned(rc, i, 'left')).toBe(true);
    const dl = block(
      text,
      'dead letters: 2 — these block cutover; fix the cause, then `tandem relay --requeue-dead-letters`',
    );
    expect(dl).toHaveLength(2);
    for (const i of [0, 1, 2, 3, 4]) expect(aligned(dl, i, 'left')).toBe(true);
  });
});

describe('tandem status: running only while a live process holds the backfill', () => {
  it('a live heartbeat of the scope: running', () => {
    expect(backfillState('users', [proc({ scope: 'backfill:users', pid: 7 })], [lease({})]).status).toBe('running');
  });
  it('a dead heartbeat: stalled, even while the lease has not expired yet', () => {
    const r = backfillState(
      'users',
      [proc({ scope: 'backfill:users', pid: 7, alive: false, state: 'dead (last beat 9 s ago)' })],
      [lease({})],
    );
    expect(r.status).toBe('stalled (process gone)');
    expect(r.holder).toMatchObject({ host: 'vm', pid: 7, process: 'dead (last beat 9 s ago)', leaseLive: true });
  });
  it('no heartbeat (a library caller, or a process that ended): running while its lease lives, stopped when released, stalled when it expired', () => {
    expect(backfillState('users', [], [lease({})]).status).toBe('running');
    expect(backfillState('users', [], [lease({ expiresMs: 4_000, live: false })]).status).toBe(
      'stalled (process gone)',
    );
    // released: SIGINT, an error
    expect(backfillState('users', [], [lease({ expiresMs: 0, live: false })]).status).toBe('stopped');
    expect(backfillState('users', [], []).status).toBe('stalled (process gone)');
  });
  it('a live process working on another entity does not make this one running', () => {
    expect(backfillState('users', [proc({ scope: 'backfill:orgs' })], []).status).toBe('stalled (process gone)');
  });
});
