import type { Command } from 'commander';
import { audit, controlSchemaVersion } from '../control/control.js';
import { openMigration, type Migration } from '../runtime/migration.js';
import {
  backfillState,
  readMigrationStatus,
  type BackfillHolder,
  type EntityStatus,
  type MigrationStatus,
} from '../runtime/status.js';
import { EXIT, reportError } from './context.js';

export { backfillState, type BackfillHolder };

/**
 * What `tandem status` prints: the status model (src/runtime/status.ts, docs/status.md). The fields added with the
 * runtime (`relay`, `updatedAt`, an entity's `name`, `backfill`, `verify`) are optional here so that a report of
 * the older shape still formats.
 */
export type StatusReport = Omit<MigrationStatus, 'relay' | 'updatedAt' | 'entities' | 'routing'> &
  Partial<Pick<MigrationStatus, 'relay' | 'updatedAt' | 'routing'>> & {
    entities: (Omit<EntityStatus, 'name' | 'backfill' | 'verify'> &
      Partial<Pick<EntityStatus, 'name' | 'backfill' | 'verify'>>)[];
  };

/** Reads the status model of an open migration (see {@link readMigrationStatus}). Writes nothing. */
export function readStatus(m: Migration): Promise<MigrationStatus> {
  return readMigrationStatus(m);
}

/**
 * Lines of a table whose columns are as wide as their widest cell (two spaces apart), indented by two; columns
 * whose index is in `right` are right-aligned (numbers). The last column is not padded.
 */
export function alignColumns(rows: string[][], right: number[] = []): string[] {
  const n = Math.max(0, ...rows.map((r) => r.length));
  const w = Array.from({ length: n }, (_, i) => Math.max(0, ...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) =>
    `  ${r.map((c, i) => (i === r.length - 1 && !right.includes(i) ? c : right.includes(i) ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ')}`.trimEnd(),
  );
}

/**
 * The state cell of an entity: its status, with the rate and ETA while it runs and, while it waits, the throttle
 * reason as gh-ost words it (`running (120 rows/s, ETA 4 s), throttled: replica lag 7.2 s > 5 s on r1`).
 */
function stateCell(e: StatusReport['entities'][number]): string {
  const b = e.backfill;
  const thr = b?.throttle ? `, throttled: ${b.throttle.detail}` : '';
  if (b?.state !== 'running' || b.rowsPerSecond === null) return `${e.status}${thr}`;
  const eta =
    b.etaSeconds === null
      ? ''
      : `, ETA ${b.etaSeconds < 120 ? `${b.etaSeconds} s` : `${Math.round(b.etaSeconds / 60)} min`}`;
  return `${e.status} (${Math.round(b.rowsPerSecond).toLocaleString('en-US')} rows/s${eta})${thr}`;
}

/** The operator's backfill control as one line (`tandem ctl`), or none when nothing is set. */
function controlLines(s: StatusReport): string[] {
  const c = s.entities.find((e) => e.backfill?.control)?.backfill?.control;
  if (!c || (!c.paused && c.maxRowsPerSecond === null && c.chunkSeconds === null)) return [];
  const parts = [
    ...(c.paused ? ['PAUSED by operator (tandem ctl resume)'] : []),
    ...(c.maxRowsPerSecond !== null ? [`max ${c.maxRowsPerSecond.toLocaleString('en-US')} rows/s (tuned)`] : []),
    ...(c.chunkSeconds !== null ? [`chunk ${c.chunkSeconds} s (tuned)`] : []),
  ];
  return [`backfill control: ${parts.join(', ')}`];
}

/** The routing lines of `tandem status`: state, guard, shadow comparisons. */
function routingLines(r: MigrationStatus['routing']): string[] {
  const sh = r.shadow;
  const counts =
    sh.source === 'none'
      ? 'not reported by this build'
      : sh.source === 'unavailable'
        ? 'could not be read'
        : `${sh.compared} compared, ${sh.matched} matched, ${sh.mismatched} mismatched, ${sh.lagging} lagging, ${sh.dropped} dropped`;
  return [
    `routing: shadow ${r.shadowPercent}%, canary ${r.canaryPercent}%${r.killed ? ', KILLED (every read to legacy; tandem unkill)' : ''}`,
    `guard: ${r.guard.state}${r.guard.reason ? ` — ${r.guard.reason}` : ''}`,
    `shadow comparisons: ${counts}`,
  ];
}

/** The status model as aligned text (what `tandem status` prints). */
export function formatStatus(s: StatusReport): string {
  const out = [
    `target: ${s.target}`,
    `control plane schema: ${s.controlSchemaVersion ? `v${s.controlSchemaVersion}` : 'not created yet (runs with the first backfill)'}`,
    `phase: ${s.phase}`,
    `relay: ${s.relay ? `${s.relay.direction === 'reverse' ? 'new → legacy (reverse)' : 'legacy → new'}, ` : ''}${s.outbox ? `${s.outbox.pending.toLocaleString('en-US')} change(s) waiting, oldest ${(s.outbox.oldestMs / 1000).toFixed(1)} s` : 'no outbox yet'}`,
    `dead letters: ${s.deadLetters.count}${s.deadLetters.count ? ' — these block cutover; fix the cause, then `tandem relay --requeue-dead-letters`' : ''}`,
    ...alignColumns(
      s.deadLetters.recent.map((d) => [
        d.deadAt,
        d.origin,
        d.entity,
        d.key,
        `after ${d.attempts} attempts: ${d.reason}`,
      ]),
    ),
    ...(s.routing ? routingLines(s.routing) : []),
    '',
    ...controlLines(s),
    'backfill:',
  ];
  const n = (v: number) => v.toLocaleString('en-US');
  const holder = (h: BackfillHolder | null) =>
    h
      ? `host ${h.host ?? '?'} pid ${h.pid ?? '?'}${h.process ? `, ${h.process}` : h.leaseLive ? ', lease live' : ''}`
      : '';
  out.push(
    ...alignColumns(
      [
        ['entity', 'state', 'copied', 'total', 'percent', 'updated', 'holder'],
        ...s.entities.map((e) => [
          e.entity,
          stateCell(e),
          n(e.copied),
          e.total !== null ? n(e.total) : '-',
          e.percent !== null ? `${e.percent.toFixed(1)}%` : '-',
          e.updatedAt ?? '-',
          e.status === 'done' ? '' : holder(e.holder),
        ]),
      ],
      [2, 3, 4],
    ),
  );
  // an entity copied in several ranges, not done yet: its ranges and their workers
  for (const e of s.entities) {
    const rs = e.backfill?.ranges ?? [];
    if (rs.length < 2 || e.checkpoint === 'done') continue;
    out.push('', `ranges of ${e.entity} (${e.backfill?.workers.length ?? 0} worker(s)):`);
    out.push(
      ...alignColumns(
        [
          ['range', 'state', 'copied', 'planned', 'holder'],
          ...rs.map((r) => [
            `${r.range}/${r.of}`,
            r.state,
            n(r.copied),
            r.estimate !== null ? `~${n(r.estimate)}` : '-',
            r.state === 'done' ? '' : holder(r.holder),
          ]),
        ],
        [2, 3],
      ),
    );
  }
  const verified = s.entities.filter((e) => e.verify);
  if (verified.length) {
    out.push('', 'last verification:');
    out.push(
      ...alignColumns(
        [
          ['entity', 'mode', 'at', 'parity', 'differences'],
          ...verified.map((e) => [
            e.entity,
            e.verify!.mode,
            e.verify!.at,
            e.verify!.parity === null ? '-' : `${e.verify!.parity.toFixed(2)}%`,
            n(e.verify!.differences),
          ]),
        ],
        [3, 4],
      ),
    );
  }
  out.push('', `processes: ${s.processes.length ? '' : 'none running'}`.trimEnd());
  if (s.processes.length)
    out.push(
      ...alignColumns(
        [
          ['role', 'scope', 'host', 'pid', 'started', 'state'],
          ...s.processes.map((p) => [p.role, p.scope ?? '-', p.host, String(p.pid), p.startedAt, p.state]),
        ],
        [3],
      ),
    );
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
      let m: Migration | undefined;
      try {
        // status reads only; a legacy store that is down leaves the relay figures unknown instead of failing
        m = await openMigration(configPath, { entities: null, tolerateLegacyDown: true });
        const s = await m.status();
        process.stdout.write(opts.json ? `${JSON.stringify(s)}\n` : `${formatStatus(s)}\n`);
        // every command is audited; status creates no control plane of its own, so only where one exists
        const control = m.stores.control;
        if (await controlSchemaVersion(control))
          await audit(control, { command: 'status', args: { config: configPath }, outcome: 'ok' }).catch(() => {});
        process.exitCode = EXIT.ok;
      } catch (e) {
        process.exitCode = reportError(e);
      } finally {
        await m?.close();
      }
    });
}
