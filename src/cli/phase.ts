import type { Command } from 'commander';
import { audit, ensureControlSchema } from '../control/control.js';
import { PHASES, readPhase, setPhase, type Phase } from '../control/phase.js';
import { openMigration, type Migration } from '../runtime/migration.js';
import { TandemError } from '../core/errors.js';
import { EXIT, reportError } from './context.js';

export function registerPhase(program: Command): void {
  program
    .command('phase')
    .description(`show the phase, or move it: tandem phase set <${PHASES.join('|')}> [--force]`)
    .argument('[action]', '"set" to change the phase')
    .argument('[phase]', 'the phase to move to')
    .option('--force', 'move without gates (audited)')
    .action(async (action: string | undefined, phase: string | undefined, opts: { force?: boolean }, cmd: Command) => {
      const configPath = cmd.optsWithGlobals().config as string;
      let m: Migration | undefined;
      try {
        // the arguments are checked before any store is opened: a bad phase writes nothing (not even the control plane)
        if (action !== undefined && (action !== 'set' || !phase))
          throw new TandemError('USAGE', 'usage: tandem phase [set <phase> [--force]]');
        if (phase !== undefined && !(PHASES as readonly string[]).includes(phase))
          throw new TandemError('PHASE_INVALID', `unknown phase "${phase}" (phases: ${PHASES.join(', ')})`);
        // only the control store matters here: a legacy store that is down must not block a phase change (rollback)
        m = await openMigration(configPath, { entities: null, tolerateLegacyDown: true });
        const control = m.stores.control;
        if (!action) {
          process.stdout.write(`${await readPhase(control).catch(() => 'prepare')}\n`);
        } else {
          await ensureControlSchema(control);
          const r = await setPhase(control, phase as Phase, { force: opts.force });
          await audit(control, {
            command: 'phase',
            args: { set: phase, force: !!opts.force },
            outcome: 'ok',
            detail: `${r.from} → ${r.to}`,
          });
          process.stdout.write(`phase: ${r.from} → ${r.to}\n`);
        }
        process.exitCode = EXIT.ok;
      } catch (e) {
        process.exitCode = reportError(e);
      } finally {
        await m?.close();
      }
    });
}
