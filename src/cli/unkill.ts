import type { Command } from 'commander';
import { unkillRouting } from '../routing/state.js';
import { routingCommand } from './routing-common.js';

/** Registers `tandem unkill`: clears the kill switch; routing follows the phase and the percentages again. Audited. */
export function registerUnkill(program: Command): void {
  program
    .command('unkill')
    .description('clear the kill switch: reads follow the phase and the percentages again')
    .action(async (_opts: unknown, cmd: Command) => {
      await routingCommand(
        cmd,
        () => {},
        async (control) => {
          const r = await unkillRouting(control);
          return r.from
            ? 'kill switch: off (routing follows the phase and the percentages)'
            : 'kill switch: already off';
        },
      );
    });
}
