import type { Command } from 'commander';
import { TandemError } from '../core/errors.js';
import { createLogger } from '../core/logger.js';
import { runDemo } from '../demo/demo.js';
import { EXIT, reportError } from './context.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('migrate 100,000 synthetic legacy users from SQLite to a new PGlite schema, then verify (no server needed)')
    .option('--rows <n>', 'how many users', (v) => Number(v), 100_000)
    .option('--dir <dir>', 'where the demo databases go: a new or empty folder, or one an earlier demo created (anything else is refused)', '.tandem-demo')
    .action(async (opts: { rows: number; dir: string }) => {
      try {
        if (!Number.isInteger(opts.rows) || opts.rows < 1 || opts.rows > 10_000_000) throw new TandemError('USAGE', '--rows must be a whole number from 1 to 10,000,000');
        const r = await runDemo({ rows: opts.rows, dir: opts.dir, log: createLogger({ level: process.env.TANDEM_LOG_LEVEL ?? (process.stdout.isTTY ? 'warn' : 'info') }), out: process.stdout });
        process.exitCode = r.verify.ok ? EXIT.ok : EXIT.differences;
      } catch (e) {
        process.exitCode = reportError(e);
      }
    });
}
