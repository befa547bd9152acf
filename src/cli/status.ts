import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { audit, controlSchemaVersion, listCheckpoints, recentAudit, type Checkpoint } from '../control/control.js';
import { outboxLag } from '../apply/relay.js';
import { readPhase } from '../control/phase.js';
import { openStore } from '../stores/index.js';
import type { Store } from '../stores/types.js';
import { EXIT, reportError } from './context.js';

/** What `tandem status` shows: control schema version, per-entity backfill checkpoints, recent audit entries. */
export interface StatusReport {
  target: string;
  controlSchemaVersion: number;
  phase: string;
  /** Changes waiting in the primary's outbox, and the age of the oldest (relay lag), or null when unknown. */
  outbox: { pending: number; oldestMs: number } | null;
  /** Dead-lettered changes: count and the most recent ones (no row data). */
  deadLetters: { count: number; recent: { origin: string; entity: string; key: string; attempts: number; reason: string; deadAt: string }[] };
  entities: { entity: string; status: string; copied: number; total: number | null; percent: number | null; updatedAt: string | null }[];
  audit: { at: string; command: string; actor: string; outcome: string }[];
}

export async function readStatus(target: Store, control: Store, entityNames: string[], source?: Store): Promise<StatusReport> {
  const version = await controlSchemaVersion(target);
  const cps: Checkpoint[] = version ? await listCheckpoints(target) : [];
  const entities = entityNames.map((name) => {
    const c = cps.find((x) => x.entity === name);
    if (!c) return { entity: name, status: 'not started', copied: 0, total: null, percent: null, updatedAt: null };
    const percent = c.status === 'done' ? 100 : c.rowsTotal ? Math.min(100, (c.rowsCopied / c.rowsTotal) * 100) : null;
    return { entity: name, status: c.status, copied: c.rowsCopied, total: c.rowsTotal, percent, updatedAt: c.updatedAt ?? null };
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
  return { target: target.url, controlSchemaVersion: version, phase, outbox, deadLetters, entities, audit };
}

export function formatStatus(s: StatusReport): string {
  const out = [
    `target: ${s.target}`,
    `control plane schema: ${s.controlSchemaVersion ? `v${s.controlSchemaVersion}` : 'not created yet (runs with the first backfill)'}`,
    `phase: ${s.phase}`,
    `relay: ${s.outbox ? `${s.outbox.pending.toLocaleString('en-US')} change(s) waiting, oldest ${(s.outbox.oldestMs / 1000).toFixed(1)} s` : 'no outbox yet'}`,
    `dead letters: ${s.deadLetters.count}${s.deadLetters.count ? ' — these block cutover; fix the cause, then `tandem relay --requeue-dead-letters`' : ''}`,
    ...s.deadLetters.recent.map((d) => `  ${d.deadAt}  ${d.origin} ${d.entity} ${d.key} after ${d.attempts} attempts: ${d.reason}`),
    '',
    'backfill:',
  ];
  for (const e of s.entities) out.push(`  ${e.entity.padEnd(20)} ${e.status.padEnd(12)} ${e.copied.toLocaleString('en-US')}${e.total !== null ? `/${e.total.toLocaleString('en-US')}` : ''}${e.percent !== null ? ` (${e.percent.toFixed(1)}%)` : ''}${e.updatedAt ? `  updated ${e.updatedAt}` : ''}`);
  if (s.audit.length) {
    out.push('', 'recent commands:');
    for (const a of s.audit) out.push(`  ${a.at}  ${a.command.padEnd(10)} ${a.outcome.padEnd(12)} ${a.actor}`);
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
