import type { Command } from 'commander';
import { parsePercent, setShadowPercent } from '../routing/state.js';
import { routingCommand } from './routing-common.js';

/**
 * Registers `tandem shadow <percent>`: sets the share of keys (0…100, two decimals, sticky by bucket) whose new
 * read is shadowed in the `shadow` and `canary` phases. Audited. A bad percentage is
 * TANDEM_ERR_ROUTING_PERCENT_INVALID and writes nothing.
 */
export function registerShadow(program: Command): void {
  program
    .command('shadow')
    .description('set the share of keys whose new read is shadowed (compared, never served): 0 to 100, two decimals')
    .argument('<percent>', 'percentage of keys, 0 to 100 (e.g. 10 or 12.5)')
    .action(async (percent: string, _opts: unknown, cmd: Command) => {
      await routingCommand(
        cmd,
        () => void parsePercent(percent, 'the shadow percentage'),
        async (control) => {
          const r = await setShadowPercent(control, percent);
          return `shadow: ${r.from}% → ${r.to}%`;
        },
      );
    });
}
