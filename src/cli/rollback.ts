import type { Command } from 'commander';
import { rollback } from '../cutover/rollback.js';
import type { RollbackReport } from '../cutover/types.js';
import { EXIT, openContext, reportError } from './context.js';

const HELP = `
From shadow or canary: reads go back to legacy at once (shadow or canary to 0 %). From new_primary: closes the
write fence on new, drains the reverse outbox into legacy, advances legacy's sequences past the new keys, flips
back to canary at 0 %, releases the held writes onto legacy, then verifies (checksum tier) and prints parity.
Reports the measured RTO and write pause; audited. From legacy_read_only and later it is refused
(TANDEM_ERR_ROLLBACK_REFUSED: forward-fix only — reconcile new → legacy first); --reconciled rolls back from
legacy_read_only to new_primary after a verification that finds every row matching (read-only triggers removed).`;

/** The report as lines. */
export function rollbackLines(r: RollbackReport): string[] {
  const out = [`rollback ${r.from} → ${r.to}${r.from !== r.to ? ` at fence epoch ${r.epoch}` : ''}`];
  out.push(`  drained        ${r.drained} reverse change(s)`);
  out.push(`  write pause    held ${r.writePause.held}, p99 ${r.writePause.p99Ms} ms, max ${r.writePause.maxMs} ms`);
  out.push(`  rollback RTO   ${r.rtoSeconds.toFixed(1)} s`);
  if (r.parity) for (const [e, p] of Object.entries(r.parity)) out.push(`  parity         ${e} ${p.toFixed(3)}%`);
  return out;
}

/**
 * Registers `tandem rollback [--reconciled] [--no-verify] [--json]` (src/cutover/rollback.ts). Exit 0 when
 * rolled back (and the verification, when it ran, found every row matching); 1 when the verification found
 * differences; 2 on an error (TANDEM_ERR_ROLLBACK_REFUSED, TANDEM_ERR_CUTOVER_FAILED).
 */
export function registerRollback(program: Command): void {
  program
    .command('rollback')
    .description('move reads, or the source of truth, back to legacy without losing a write')
    .option('--reconciled', 'from legacy_read_only: back to new_primary after a verification with every row matching')
    .option('--no-verify', 'skip the verification after the flip back')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', HELP)
    .action(async (opts: { reconciled?: boolean; verify?: boolean; json?: boolean }, cmd: Command) => {
      const configPath = cmd.optsWithGlobals().config as string;
      let ctx: Awaited<ReturnType<typeof openContext>> | undefined;
      try {
        ctx = await openContext(configPath);
        const r = await rollback(ctx.migration, {
          reconciled: !!opts.reconciled,
          verify: opts.verify !== false,
          onStep: opts.json ? undefined : (s) => process.stderr.write(`rollback: ${s}\n`),
        });
        process.stdout.write(opts.json ? `${JSON.stringify(r, null, 2)}\n` : `${rollbackLines(r).join('\n')}\n`);
        const differs = r.parity && Object.values(r.parity).some((p) => p < 100);
        process.exitCode = differs ? EXIT.differences : EXIT.ok;
      } catch (e) {
        process.exitCode = reportError(e);
      } finally {
        await ctx?.close();
      }
    });
}
