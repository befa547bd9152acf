import type { Command } from 'commander';
import { cutover } from '../cutover/cutover.js';
import type { CutoverReport } from '../cutover/types.js';
import { EXIT, openContext, reportError } from './context.js';

const HELP = `
Moves the source of truth to the new store (phase new_primary), fenced: checks the gates of new_primary and
proves the reverse path (a probe through the reverse mapping, new's outbox and legacy's ledger), closes the write
fence on legacy (writes in flight commit first; later ones are held up to cutover.fenceMs), drains the forward
outbox to zero, advances the new store's sequences past the copied keys, flips the phase and both fences, and
releases the held writes onto the new primary. Failing gates refuse with TANDEM_ERR_GATE_FAILED and change
nothing; --force moves anyway (audited with the failing gates). A drain that does not finish within
cutover.drainTimeoutSeconds fails with TANDEM_ERR_CUTOVER_FAILED: fence released, phase unchanged.`;

/** The report as lines. */
export function cutoverLines(r: CutoverReport): string[] {
  const out = [
    `cutover ${r.from} → ${r.to} at fence epoch ${r.epoch}${r.forced ? ' (FORCED past failing gates)' : ''}`,
  ];
  for (const g of r.gates)
    out.push(
      `  ${g.pass ? 'pass' : 'FAIL'}  ${g.gate.padEnd(16)} ${g.figure.padEnd(18)} ${g.threshold.padEnd(12)} ${g.reason}`,
    );
  out.push(`  reverse probe  ${r.reverseProbeMs} ms`);
  out.push(`  drained        ${r.drained} change(s)`);
  out.push(
    `  write pause    held ${r.writePause.held}, p99 ${r.writePause.p99Ms} ms, max ${r.writePause.maxMs} ms (fenced ${r.seconds.toFixed(3)} s)`,
  );
  return out;
}

/**
 * Registers `tandem cutover [--force] [--json]` (src/cutover/cutover.ts). Exit 0 after the flip; 2 on an error
 * (TANDEM_ERR_GATE_FAILED, TANDEM_ERR_CUTOVER_FAILED, TANDEM_ERR_PHASE_INVALID). The run is audited by `cutover()`.
 */
export function registerCutover(program: Command): void {
  program
    .command('cutover')
    .description('fenced write cutover: the new store becomes primary (gates, reverse probe, fence, drain, flip)')
    .option('--force', 'move even when gates fail (audited with the failing gates)')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', HELP)
    .action(async (opts: { force?: boolean; json?: boolean }, cmd: Command) => {
      const configPath = cmd.optsWithGlobals().config as string;
      let ctx: Awaited<ReturnType<typeof openContext>> | undefined;
      try {
        ctx = await openContext(configPath);
        const r = await cutover(ctx.migration, {
          force: !!opts.force,
          onStep: opts.json ? undefined : (s) => process.stderr.write(`cutover: ${s}\n`),
        });
        process.stdout.write(opts.json ? `${JSON.stringify(r, null, 2)}\n` : `${cutoverLines(r).join('\n')}\n`);
        process.exitCode = EXIT.ok;
      } catch (e) {
        process.exitCode = reportError(e);
      } finally {
        await ctx?.close();
      }
    });
}
