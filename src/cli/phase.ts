import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { audit, ensureControlSchema } from '../control/control.js';
import { PHASES, readPhase, setPhase, type Phase } from '../control/phase.js';
import { openStore } from '../stores/index.js';
import type { Store } from '../stores/types.js';
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
      let control: Store | undefined;
      try {
        // the arguments are checked before any store is opened: a bad phase writes nothing (not even the control plane)
        if (action !== undefined && (action !== 'set' || !phase)) throw new TandemError('USAGE', 'usage: tandem phase [set <phase> [--force]]');
        if (phase !== undefined && !(PHASES as readonly string[]).includes(phase)) throw new TandemError('PHASE_INVALID', `unknown phase "${phase}" (phases: ${PHASES.join(', ')})`);
        const config = await loadConfig(configPath);
        control = await openStore(config.control ?? config.target);
        if (!action) {
          process.stdout.write(`${await readPhase(control).catch(() => 'prepare')}\n`);
        } else {
          await ensureControlSchema(control);
          const r = await setPhase(control, phase as Phase, { force: opts.force });
          await audit(control, { command: 'phase', args: { set: phase, force: !!opts.force }, outcome: 'ok', detail: `${r.from} → ${r.to}` });
          process.stdout.write(`phase: ${r.from} → ${r.to}\n`);
        }
        process.exitCode = EXIT.ok;
      } catch (e) {
        process.exitCode = reportError(e);
      } finally {
        await control?.close();
      }
    });
}
