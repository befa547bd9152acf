import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { audit, controlSchemaVersion, listCheckpoints, recentAudit, type Checkpoint } from '../control/control.js';
import { outboxLag } from '../apply/relay.js';
import { listProcesses, type ProcessInfo } from '../control/heartbeat.js';
import { backfillScope, listLeases, type LeaseInfo } from '../control/lease.js';
import { readPhase } from '../control/phase.js';
import { openStore } from '../stores/index.js';
import type { Store } from '../stores/types.js';
import { EXIT, reportError } from './context.js';

/** Who holds an entity's backfill: from its lease (target) and the holder's heartbeat (control store). */
export interface BackfillHolder {
  host: string | null;
  pid: number | null;
  /** When the lease was taken (ISO-8601 UTC), or null. */
  since: string | null;
  /** When the lease expires unless renewed (ISO-8601 UTC), or null without a lease. */
  leaseExpiresAt: string | null;
  leaseLive: boolean;
  /** The holder's heartbeat: `alive`, `dead (last beat N s ago)`, or null when it has none. */
  process: string | null;
}

/** One entity's backfill line of `tandem status`. */
export interface EntityStatus {
  entity: string;
  /**
   * `not started`, `done`, `running` (the checkpoint is open and a live process holds it), `stopped` (open; its
   * process ended and released it: SIGINT, an error) or `stalled (process gone)` (open, but its process died
   * without releasing it: SIGKILL, a crash). Run backfill again to resume the last two.
   */
  status: string;
  copied: number;
  total: number | null;
  percent: number | null;
  updatedAt: string | null;
  /** The checkpoint's own status (`running` = open, `done`), null when never started. */
  checkpoint: 'running' | 'done' | null;
  /** The lease holder / heartbeat behind an open checkpoint, null when none is known. */
  holder: BackfillHolder | null;
}

/**
 * Whether an open checkpoint is being worked on: `running` when a heartbeat of the entity's scope is alive, or,
 * when no process beats for it (a library caller), while its lease lives; `stopped` when no process beats for it
 * and its holder released the lease; else `stalled (process gone)` (a dead heartbeat, an expired lease, none).
 */
export function backfillState(entity: string, processes: ProcessInfo[], leases: LeaseInfo[]): { status: string; holder: BackfillHolder | null } {
  const scope = backfillScope(entity);
  const beats = processes.filter((p) => p.scope === scope);
  const lease = leases.find((l) => l.scope === scope && l.host !== null && l.expiresMs > 0) ?? null;
  const beat = beats.find((b) => b.alive) ?? beats[beats.length - 1] ?? null;
  const live = beat ? beat.alive : !!lease?.live;
  // released by its holder (done, SIGINT, an error) with no process left: stopped on purpose, not vanished
  const released = !beat && !!leases.find((l) => l.scope === scope && l.host !== null && l.expiresMs === 0);
  const holder: BackfillHolder | null = lease || beat
    ? {
        host: lease?.host ?? beat?.host ?? null,
        pid: lease?.pid ?? beat?.pid ?? null,
        since: lease?.acquiredMs ? new Date(lease.acquiredMs).toISOString() : beat?.startedAt ?? null,
        leaseExpiresAt: lease ? new Date(lease.expiresMs).toISOString() : null,
        leaseLive: !!lease?.live,
        process: beat?.state ?? null,
      }
    : null;
  return { status: live ? 'running' : released ? 'stopped' : 'stalled (process gone)', holder };
}

/** What `tandem status` shows: control schema version, per-entity backfill checkpoints, recent audit entries. */
export interface StatusReport {
  target: string;
  controlSchemaVersion: number;
  phase: string;
  /** Changes waiting in the primary's outbox, and the age of the oldest (relay lag), or null when unknown. */
  outbox: { pending: number; oldestMs: number } | null;
  /** Dead-lettered changes: count and the most recent ones (no row data). */
  deadLetters: { count: number; recent: { origin: string; entity: string; key: string; attempts: number; reason: string; deadAt: string }[] };
  entities: EntityStatus[];
  audit: { at: string; command: string; actor: string; outcome: string }[];
  /** Long-running commands with a heartbeat in the control store, alive or dead (a dead one was killed or crashed). */
  processes: ProcessInfo[];
}

/**
 * Reads everything `tandem status` shows. Writes nothing. An entity's `status` is `running` only while a live
 * process holds it (see {@link backfillState}).
 */
export async function readStatus(target: Store, control: Store, entityNames: string[], source?: Store): Promise<StatusReport> {
  const version = await controlSchemaVersion(target);
  const cps: Checkpoint[] = version ? await listCheckpoints(target) : [];
  const processes = (await controlSchemaVersion(control)) >= 5 ? await listProcesses(control) : [];
  const leases = version >= 5 ? await listLeases(target, 'backfill:').catch(() => []) : [];
  const entities = entityNames.map((name): EntityStatus => {
    const c = cps.find((x) => x.entity === name);
    if (!c) return { entity: name, status: 'not started', copied: 0, total: null, percent: null, updatedAt: null, checkpoint: null, holder: null };
    const percent = c.status === 'done' ? 100 : c.rowsTotal ? Math.min(100, (c.rowsCopied / c.rowsTotal) * 100) : null;
    const base = { entity: name, copied: c.rowsCopied, total: c.rowsTotal, percent, updatedAt: c.updatedAt ?? null, checkpoint: c.status };
    if (c.status === 'done') return { ...base, status: 'done', holder: null };
    return { ...base, ...backfillState(name, processes, leases) };
  });
  const audit = (await controlSchemaVersion(control)) ? (await recentAudit(control, 10)).map((a) => ({ at: String(a.at), command: a.command, actor: a.actor, outcome: a.outcome })) : [];
  const controlReady = (await controlSchemaVersion(control)) >= 2;
  const phase = controlReady ? await readPhase(control) : 'prepare';
  let outbox: StatusReport['outbox'] = null;
  if (source && (await controlSchemaVersion(source)) >= 2) outbox = await outboxLag(source);
  const deadLetters: StatusReport['deadLetters'] = { count: 0, recent: [] };
  if (controlReady) {
    const dl = control.controlTable('dead_letters');
    deadLetters.count = Number((await control.query<{ n: unknown }>(`SELECT count(*) AS n FROM ${dl}`))[0]?.n ?? 0);
    deadLetters.recent = (await control.query<Record<string, unknown>>(`SELECT origin, entity, entity_key, attempts, reason, dead_at FROM ${dl} ORDER BY id DESC LIMIT 10`)).map((r) => ({
      origin: String(r.origin), entity: String(r.entity), key: String(r.entity_key), attempts: Number(r.attempts), reason: String(r.reason), deadAt: String(r.dead_at),
    }));
  }
  return { target: target.url, controlSchemaVersion: version, phase, outbox, deadLetters, entities, audit, processes };
}

/**
 * Lines of a table whose columns are as wide as their widest cell (two spaces apart), indented by two; columns
 * whose index is in `right` are right-aligned (numbers). The last column is not padded.
 */
export function alignColumns(rows: string[][], right: number[] = []): string[] {
  const n = Math.max(0, ...rows.map((r) => r.length));
  const w = Array.from({ length: n }, (_, i) => Math.max(0, ...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => `  ${r.map((c, i) => (i === r.length - 1 && !right.includes(i) ? c : right.includes(i) ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ')}`.trimEnd());
}

export function formatStatus(s: StatusReport): string {
  const out = [
    `target: ${s.target}`,
    `control plane schema: ${s.controlSchemaVersion ? `v${s.controlSchemaVersion}` : 'not created yet (runs with the first backfill)'}`,
    `phase: ${s.phase}`,
    `relay: ${s.outbox ? `${s.outbox.pending.toLocaleString('en-US')} change(s) waiting, oldest ${(s.outbox.oldestMs / 1000).toFixed(1)} s` : 'no outbox yet'}`,
    `dead letters: ${s.deadLetters.count}${s.deadLetters.count ? ' — these block cutover; fix the cause, then `tandem relay --requeue-dead-letters`' : ''}`,
    ...alignColumns(s.deadLetters.recent.map((d) => [d.deadAt, d.origin, d.entity, d.key, `after ${d.attempts} attempts: ${d.reason}`])),
    '',
    'backfill:',
  ];
  const n = (v: number) => v.toLocaleString('en-US');
  const holder = (h: BackfillHolder | null) => (h ? `host ${h.host ?? '?'} pid ${h.pid ?? '?'}${h.process ? `, ${h.process}` : h.leaseLive ? ', lease live' : ''}` : '');
  out.push(...alignColumns([
    ['entity', 'state', 'copied', 'total', 'percent', 'updated', 'holder'],
    ...s.entities.map((e) => [e.entity, e.status, n(e.copied), e.total !== null ? n(e.total) : '-', e.percent !== null ? `${e.percent.toFixed(1)}%` : '-', e.updatedAt ?? '-', e.status === 'done' ? '' : holder(e.holder)]),
  ], [2, 3, 4]));
  out.push('', `processes: ${s.processes.length ? '' : 'none running'}`.trimEnd());
  if (s.processes.length)
    out.push(...alignColumns([
      ['role', 'scope', 'host', 'pid', 'started', 'state'],
      ...s.processes.map((p) => [p.role, p.scope ?? '-', p.host, String(p.pid), p.startedAt, p.state]),
    ], [3]));
  if (s.audit.length) {
    out.push('', 'recent commands:');
    out.push(...alignColumns(s.audit.map((a) => [a.at, a.command, a.outcome, a.actor])));
  }
  return out.join('\n');
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('show backfill checkpoints and the recent audit log (reads only)')
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const configPath = cmd.optsWithGlobals().config as string;
      const opened: Store[] = [];
      try {
        const config = await loadConfig(configPath);
        const target = await openStore(config.target);
        opened.push(target);
        const control = config.control && config.control !== config.target ? await openStore(config.control) : target;
        if (control !== target) opened.push(control);
        const source = await openStore(config.source).catch(() => undefined);
        if (source) opened.push(source);
        const s = await readStatus(target, control, Object.keys(config.entities), source);
        process.stdout.write(opts.json ? `${JSON.stringify(s)}\n` : `${formatStatus(s)}\n`);
        // every command is audited; status creates no control plane of its own, so only where one exists
        if (await controlSchemaVersion(control)) await audit(control, { command: 'status', args: { config: configPath }, outcome: 'ok' }).catch(() => {});
        process.exitCode = EXIT.ok;
      } catch (e) {
        process.exitCode = reportError(e);
      } finally {
        await Promise.all(opened.map((s) => s.close().catch(() => {})));
      }
    });
}
