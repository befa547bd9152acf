import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { audit, controlSchemaVersion, listCheckpoints, recentAudit, type Checkpoint } from '../control/control.js';
import { openStore } from '../stores/index.js';
import type { Store } from '../stores/types.js';
import { EXIT, reportError } from './context.js';

/** What `tandem status` shows: control schema version, per-entity backfill checkpoints, recent audit entries. */
export interface StatusReport {
  target: string;
  controlSchemaVersion: number;
  entities: { entity: string; status: string; copied: number; total: number | null; percent: number | null; updatedAt: string | null }[];
  audit: { at: string; command: string; actor: string; outcome: string }[];
}

export async function readStatus(target: Store, control: Store, entityNames: string[]): Promise<StatusReport> {
  const version = await controlSchemaVersion(target);
  const cps: Checkpoint[] = version ? await listCheckpoints(target) : [];
  const entities = entityNames.map((name) => {
    const c = cps.find((x) => x.entity === name);
    if (!c) return { entity: name, status: 'not started', copied: 0, total: null, percent: null, updatedAt: null };
    const percent = c.status === 'done' ? 100 : c.rowsTotal ? Math.min(100, (c.rowsCopied / c.rowsTotal) * 100) : null;
    return { entity: name, status: c.status, copied: c.rowsCopied, total: c.rowsTotal, percent, updatedAt: c.updatedAt ?? null };
  });
  const audit = (await controlSchemaVersion(control)) ? (await recentAudit(control, 10)).map((a) => ({ at: String(a.at), command: a.command, actor: a.actor, outcome: a.outcome })) : [];
  return { target: target.url, controlSchemaVersion: version, entities, audit };
}

export function formatStatus(s: StatusReport): string {
  const out = [`target: ${s.target}`, `control plane schema: ${s.controlSchemaVersion ? `v${s.controlSchemaVersion}` : 'not created yet (runs with the first backfill)'}`, '', 'backfill:'];
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
        const s = await readStatus(target, control, Object.keys(config.entities));
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
