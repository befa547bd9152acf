import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { buildPlan, planMarkdown, planSummary } from '../cutover/plan.js';
import { openMigration, type Migration } from '../runtime/migration.js';
import { EXIT, reportError } from './context.js';

const HELP = `
Reads both stores (introspection, statistics), the control plane (checkpoints, outboxes, rehearsal) and, when
no backfill rate was measured, one keyset page of legacy; writes nothing to any store. Prints a summary, or the
plan as JSON with --json; --out writes the runbook (markdown: SLO check, inventory, risks High/Medium/Low with
mitigations, durations, and every step with its command, gate, rollback, expected duration and an owner line).
Exit 0 when the plan meets the declared slo (config slo: availability, rpoSeconds, rtoSeconds, maxWritePauseMs),
1 naming the objectives it cannot meet, 2 on an error. See docs/cutover.md "Plan".`;

/** Registers `tandem plan [--out runbook.md] [--json]` (src/cutover/plan.ts). */
export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('inventory, risks, durations, SLO check and runbook of the migration (reads only)')
    .option('--out <file>', 'write the runbook (markdown) to this file')
    .option('--json', 'print the plan as JSON')
    .addHelpText('after', HELP)
    .action(async (opts: { out?: string; json?: boolean }, cmd: Command) => {
      const configPath = cmd.optsWithGlobals().config as string;
      let m: Migration | undefined;
      try {
        m = await openMigration(configPath, { legacyWrites: 'never' });
        const plan = await buildPlan(m);
        if (opts.out) writeFileSync(opts.out, planMarkdown(plan));
        if (opts.json) process.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
        else {
          process.stdout.write(`${planSummary(plan).join('\n')}\n`);
          if (opts.out) process.stdout.write(`runbook written: ${opts.out}\n`);
        }
        if (!plan.meetsSlo)
          process.stderr.write(`the plan cannot meet the declared SLO: ${plan.sloFailures.join('; ')}\n`);
        process.exitCode = plan.meetsSlo ? EXIT.ok : EXIT.differences;
      } catch (e) {
        process.exitCode = reportError(e, !!opts.json);
      } finally {
        await m?.close();
      }
    });
}
