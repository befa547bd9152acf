import { Command, CommanderError } from 'commander';
import { registerBackfill } from './backfill.js';
import { EXIT } from './context.js';
import { registerDemo } from './demo.js';
import { registerIdentity } from './identity.js';
import { registerInit } from './init.js';
import { registerPrepare } from '../prepare/cli.js';
import { registerPhase } from './phase.js';
import { registerRelay } from './relay.js';
import { registerRepair } from './repair.js';
import { registerStatus } from './status.js';
import { registerVerify } from './verify.js';

/** Builds the `tandem` command line. */
export function buildProgram(): Command {
  const program = new Command('tandem')
    .description('Move a live system\'s data from a legacy backend to a new one with zero downtime and zero lost writes.')
    .option('-c, --config <file>', 'config file', 'tandem.config.ts')
    .configureOutput({ outputError: (str, write) => write(`TANDEM_ERR_USAGE: ${str.replace(/^error: /, '').trim()} (see tandem --help)\n`) })
    .exitOverride();
  registerInit(program);
  registerBackfill(program);
  registerVerify(program);
  registerRepair(program);
  registerRelay(program);
  registerPhase(program);
  registerIdentity(program);
  registerStatus(program);
  registerDemo(program);
  registerPrepare(program);
  return program;
}

/** Runs the CLI with `argv` (as in `process.argv`) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT.ok;
      return EXIT.error;
    }
    throw e;
  }
  return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
}
