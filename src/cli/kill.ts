import type { Command } from 'commander';
import { killRouting } from '../routing/state.js';
import { routingCommand } from './routing-common.js';

/**
 * Registers `tandem kill`: the kill switch. Every application instance serves every read from legacy (no shadow
 * read either) within `routing.refreshMs`, whatever the percentages, until `tandem unkill`. Audited.
 */
export function registerKill(program: Command): void {
  program
    .command('kill')
    .description(
      'kill switch: every instance serves every read from legacy within routing.refreshMs (undo: tandem unkill)',
    )
    .action(async (_opts: unknown, cmd: Command) => {
      await routingCommand(
        cmd,
        () => {},
        async (control) => {
          const r = await killRouting(control);
          return r.from ? 'kill switch: already on (every read to legacy)' : 'kill switch: on (every read to legacy)';
        },
      );
    });
}
