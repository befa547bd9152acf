import type { Command } from 'commander';
import { isTandemError } from '../core/errors.js';
import { createLogger } from '../core/logger.js';
import { runDemo } from '../demo/demo.js';
import { EXIT, reportError, stopOnSignals } from './context.js';
import { intOption } from './options.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'migrate 100,000 synthetic legacy users from SQLite to a new PGlite schema, then verify (no server needed)',
    )
    .option(
      '--dir <dir>',
      'where the demo databases go: a new or empty folder, or one an earlier demo created (anything else is refused)',
      '.tandem-demo',
    )
    .option('--rows <n>', 'how many users (1 to 10,000,000)', intOption({ min: 1, max: 10_000_000 }), 100_000)
    .addHelpText(
      'after',
      '\nSIGINT/SIGTERM stop the backfill after the chunk in flight (audited; resume with tandem backfill).\nExit codes: 0 parity, 1 differences, 2 error, 130 stopped by SIGINT, 143 by SIGTERM.',
    )
    .action(async (opts: { rows: number; dir: string }) => {
      const stop = stopOnSignals('stopping after the current chunk commits');
      try {
        const r = await runDemo({
          rows: opts.rows,
          dir: opts.dir,
          log: createLogger(),
          out: process.stdout,
          signal: stop.signal,
        });
        process.exitCode = r.verify.ok ? EXIT.ok : EXIT.differences;
      } catch (e) {
        const code = reportError(e);
        process.exitCode = isTandemError(e, 'BACKFILL_INTERRUPTED') && stop.signal.aborted ? stop.exitCode : code;
      } finally {
        stop.dispose();
      }
    });
}
