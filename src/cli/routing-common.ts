import type { Command } from 'commander';
import { ensureControlSchema } from '../control/control.js';
import { openMigration, type Migration } from '../runtime/migration.js';
import type { Store } from '../stores/types.js';
import { EXIT, reportError } from './context.js';

/**
 * Runs a command that writes the routing state (`tandem shadow|canary|kill|unkill`): `check` runs first, before
 * any store is opened (bad input writes nothing); then only the control store is used — a legacy store that is
 * down must not block a kill switch — its control plane is created if needed, and `write` does the audited write.
 */
export async function routingCommand(
  cmd: Command,
  check: () => void,
  write: (control: Store) => Promise<string>,
): Promise<void> {
  const configPath = cmd.optsWithGlobals().config as string;
  let m: Migration | undefined;
  try {
    check();
    m = await openMigration(configPath, { entities: null, tolerateLegacyDown: true });
    const control = m.stores.control;
    await ensureControlSchema(control);
    process.stdout.write(`${await write(control)}\n`);
    process.exitCode = EXIT.ok;
  } catch (e) {
    process.exitCode = reportError(e);
  } finally {
    await m?.close();
  }
}
