import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { isTandemError } from '../core/errors.js';
import { configureCliLogs } from '../core/logger.js';
import { registerArchive } from './archive.js';
import { registerBackfill } from './backfill.js';
import { registerBucket } from './bucket.js';
import { registerCanary } from './canary.js';
import { registerCtl } from './ctl.js';
import { registerCutover } from './cutover.js';
import { registerRollback } from './rollback.js';
import { registerKill } from './kill.js';
import { registerShadow } from './shadow.js';
import { registerUnkill } from './unkill.js';
import { EXIT, reportError } from './context.js';
import { registerDemo } from './demo.js';
import { registerIdentity } from './identity.js';
import { registerInit } from './init.js';
import { registerPrepare } from '../prepare/cli.js';
import { registerPhase } from './phase.js';
import { registerPlan } from './plan.js';
import { registerRehearse } from './rehearse.js';
import { registerRelay } from './relay.js';
import { registerRepair } from './repair.js';
import { registerRun } from './run-command.js';
import { registerSequences } from './sequences.js';
import { registerStatus } from './status.js';
import { registerVerify } from './verify.js';

/** The version of this Tandem package (package.json, two folders up from both src/cli and dist/cli). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string })
    .version;
}

/**
 * Commander's error text as Tandem's one line: `option '--metrics-port <n>' argument 'abc' is invalid. a whole
 * number from 0 to 65535` becomes `--metrics-port must be a whole number from 0 to 65535, not "abc"`.
 */
export function usageMessage(commanderText: string): string {
  const text = commanderText.replace(/^error: /, '').trim();
  const m = /^option '(?:-[^-], )?(--?[^ ']+)[^']*' argument '([\s\S]*)' is invalid\. ([\s\S]*)$/.exec(text);
  return m ? `${m[1]} must be ${m[3]!.replace(/\.$/, '')}, not ${JSON.stringify(m[2])}` : text;
}

/** Shown at the end of every command's `--help`. */
const ENVIRONMENT_HELP = `
Environment:
  TANDEM_LOG_LEVEL   log level of the JSON logs: trace, debug, info, warn, error, fatal or silent (default info;
                     warn when output goes to a terminal, unless --log-file is given)
  TANDEM_DEBUG=1     print the stack trace of an unexpected error
Signals: SIGINT (Ctrl-C) and SIGTERM stop a long-running command gracefully: the work in flight finishes, the
summary is printed and the run is audited; exit 130 after SIGINT, 143 after SIGTERM (verify: exit 4, partial;
relay: 0). A second signal quits at once.`;

/** Builds the `tandem` command line. */
export function buildProgram(): Command {
  const program = new Command('tandem')
    .description(
      "Move a live system's data from a legacy backend to a new one with zero downtime and zero lost writes.",
    )
    .version(packageVersion(), '-V, --version', 'print the Tandem version')
    .option('-c, --config <file>', 'config file', 'tandem.config.ts')
    .option(
      '--log-file <file>',
      'write the JSON logs to this file (appended, mode 600; level TANDEM_LOG_LEVEL, default info) instead of stderr',
    )
    .configureOutput({
      outputError: (str, write) => write(`TANDEM_ERR_USAGE: ${usageMessage(str)} (see tandem --help)\n`),
    })
    .configureHelp({ showGlobalOptions: true })
    .addHelpText('afterAll', ENVIRONMENT_HELP)
    .exitOverride();
  // before any command runs (and opens a store): where the logs go
  program.hook('preAction', () => {
    configureCliLogs({ logFile: (program.opts() as { logFile?: string }).logFile ?? null });
  });
  registerInit(program);
  registerBackfill(program);
  registerVerify(program);
  registerRepair(program);
  registerRelay(program);
  registerRun(program);
  registerPhase(program);
  registerCutover(program);
  registerRollback(program);
  registerIdentity(program);
  registerShadow(program);
  registerCanary(program);
  registerKill(program);
  registerUnkill(program);
  registerCtl(program);
  registerBucket(program);
  registerStatus(program);
  registerDemo(program);
  registerPrepare(program);
  registerSequences(program);
  registerArchive(program);
  registerPlan(program);
  registerRehearse(program);
  return program;
}

/** Runs the CLI with `argv` (as in `process.argv`) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help')
        return EXIT.ok;
      return EXIT.error;
    }
    if (isTandemError(e)) return reportError(e);
    throw e;
  }
  return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
}
