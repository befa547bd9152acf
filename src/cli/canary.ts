import type { Command } from 'commander';
import { parsePercent, setCanaryPercent } from '../routing/state.js';
import { routingCommand } from './routing-common.js';

const HELP = `
Keys whose bucket is under percent × 100 are served by new in the canary phase (falling back to legacy on an error
or past the budget); a key in at 5% stays in at 20%. Raising it is refused (TANDEM_ERR_ROUTING_GUARD_TRIPPED)
while the guard has tripped and its cooldown runs; after the cooldown this command clears the trip. Audited.`;

/** Registers `tandem canary <percent>` (see {@link setCanaryPercent}). */
export function registerCanary(program: Command): void {
  program
    .command('canary')
    .description('set the share of keys served by new in the canary phase: 0 to 100, two decimals')
    .argument('<percent>', 'percentage of keys, 0 to 100 (e.g. 1, 5, 12.5)')
    .addHelpText('after', HELP)
    .action(async (percent: string, _opts: unknown, cmd: Command) => {
      await routingCommand(
        cmd,
        () => void parsePercent(percent, 'the canary percentage'),
        async (control) => {
          const r = await setCanaryPercent(control, percent);
          return `canary: ${r.from}% → ${r.to}%${r.clearedTrip ? ` (guard trip cleared; it was: ${r.clearedTrip})` : ''}`;
        },
      );
    });
}
