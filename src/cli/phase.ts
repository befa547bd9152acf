import type { Command } from 'commander';
import { audit, ensureControlSchema } from '../control/control.js';
import { nextPhase, PHASES, readPhase, setPhase, type Phase } from '../control/phase.js';
import { isTandemError, TandemError } from '../core/errors.js';
import { checkGates, failingGates, gateTable } from '../cutover/gates.js';
import { setLegacyReadOnly } from '../cutover/read-only.js';
import type { GateResult } from '../cutover/types.js';
import { openMigration, type Migration } from '../runtime/migration.js';
import { EXIT, reportError } from './context.js';

const USAGE = 'usage: tandem phase [set <phase> [--force] | advance [--to <phase>] [--force] [--json]]';

const HELP = `
  tandem phase                        prints the phase
  tandem phase advance [--to PHASE]   checks the gates of the next phase (or of PHASE), prints them as a table
                                      (gate, figure, threshold, result, reason) and moves only when all pass;
                                      --force moves anyway (the audit entry lists the failing gates); a failing
                                      gate without --force exits 2 (TANDEM_ERR_GATE_FAILED), nothing written.
                                      Write cutover and back go through tandem cutover / tandem rollback.
                                      Entering legacy_read_only makes the legacy tables refuse writes first.
  tandem phase set PHASE --force      moves without checking gates (audited)
See docs/cutover.md "Gates".`;

/** What `tandem phase advance --json` prints. */
export interface PhaseAdvanceReport {
  from: Phase;
  to: Phase;
  /** True when the phase moved. */
  moved: boolean;
  /** True when failing gates were overridden with --force. */
  forced: boolean;
  gates: GateResult[];
  /** Names of the failing gates. */
  failing: string[];
  /** Legacy tables made read-only on the way (entering `legacy_read_only`). */
  readOnlyTables?: string[];
}

/**
 * Checks a `tandem phase advance` destination before anything is opened for writing: forward, and not across
 * write cutover (that is `tandem cutover`'s and `tandem rollback`'s). Throws TANDEM_ERR_USAGE naming the command
 * to use, TANDEM_ERR_PHASE_INVALID for an unknown phase.
 */
export function advanceTarget(from: Phase, to: string | undefined): Phase {
  if (to !== undefined && !(PHASES as readonly string[]).includes(to))
    throw new TandemError('PHASE_INVALID', `unknown phase "${to}" (phases: ${PHASES.join(', ')})`);
  const dest = (to as Phase | undefined) ?? nextPhase(from);
  if (!dest) throw new TandemError('USAGE', `the phase is ${from}, the end of the road: there is no next phase`);
  const i = PHASES.indexOf(from),
    j = PHASES.indexOf(dest);
  if (j === i) throw new TandemError('USAGE', `the phase is already ${from}`);
  const np = PHASES.indexOf('new_primary');
  if (j < i) {
    if (i >= np && j < np)
      throw new TandemError(
        'USAGE',
        `moving back from ${from} to ${dest} is a rollback of the write cutover: use tandem rollback`,
      );
    throw new TandemError(
      'USAGE',
      `tandem phase advance moves forward; to go back from ${from} to ${dest} use tandem rollback (or tandem phase set ${dest} --force)`,
    );
  }
  if (i < np && j >= np)
    throw new TandemError(
      'USAGE',
      `moving from ${from} to ${dest} crosses the write cutover (new_primary): use tandem cutover (fenced, gated)`,
    );
  return dest;
}

/**
 * `tandem phase advance`: the gates of `to` (default the next phase), and the move when they pass or `force`.
 * Prints the table (or the JSON report); returns the report. Throws TANDEM_ERR_GATE_FAILED (nothing written)
 * when a gate fails without `force`, TANDEM_ERR_USAGE for a destination that is not this command's.
 */
export async function advancePhase(
  m: Migration,
  o: {
    to?: string;
    force?: boolean;
    json?: boolean;
    out?: (s: string) => void;
    /** The command named in the audit log (default `phase advance`; the API passes `api phase advance`). */
    command?: string;
    /** Who asked, for the audit log (the API: `token:<name>`); default this process's `user@host`. */
    actor?: string;
  },
): Promise<PhaseAdvanceReport> {
  const out = o.out ?? ((s: string) => process.stdout.write(s));
  const control = m.stores.control;
  const from = await readPhase(control).catch(() => 'prepare' as Phase);
  const to = advanceTarget(from, o.to);
  const gates = await checkGates(m, to);
  const failing = failingGates(gates).map((g) => g.gate);
  const report: PhaseAdvanceReport = { from, to, moved: false, forced: false, gates, failing };
  const print = () => {
    if (o.json) out(`${JSON.stringify(report, null, 2)}\n`);
    else {
      out(`gates of ${from} → ${to}:\n`);
      out(
        gates.length
          ? `${gateTable(gates)
              .map((l) => `  ${l}`)
              .join('\n')}\n`
          : '  (no gate)\n',
      );
    }
  };
  if (failing.length && !o.force) {
    print();
    throw new TandemError(
      'GATE_FAILED',
      `${from} → ${to} refused: ${failing.length} gate(s) failed (${failing.join(', ')}); nothing changed. Fix them, or pass --force (audited)`,
      { failing },
    );
  }
  await ensureControlSchema(control);
  if (to === 'legacy_read_only') report.readOnlyTables = (await setLegacyReadOnly(m, true)).map((c) => c.table);
  await setPhase(control, to, { gated: true, force: o.force });
  report.moved = true;
  report.forced = failing.length > 0;
  const bad = gates.filter((g) => !g.pass);
  await audit(control, {
    command: o.command ?? 'phase advance',
    actor: o.actor,
    args: { from, to, force: !!o.force, forced: report.forced, failing },
    outcome: 'ok',
    detail: report.forced
      ? `${from} → ${to} forced past ${bad.length} failing gate(s): ${bad.map((g) => `${g.gate} ${g.figure} (threshold ${g.threshold}): ${g.reason}`).join('; ')}`
      : `${from} → ${to}; ${gates.length} gate(s) passed`,
  });
  print();
  if (!o.json)
    out(
      `phase: ${from} → ${to}${report.forced ? ` (forced past ${failing.join(', ')}; audited)` : ''}${report.readOnlyTables ? `; legacy tables read-only: ${report.readOnlyTables.join(', ')}` : ''}\n`,
    );
  return report;
}

/** Registers `tandem phase`, `tandem phase set <phase> [--force]` and `tandem phase advance [--to] [--force] [--json]`. */
export function registerPhase(program: Command): void {
  program
    .command('phase')
    .description(
      `show the phase, or move it: tandem phase advance [--to <phase>] [--force] [--json] (gated), tandem phase set <${PHASES.join('|')}> --force`,
    )
    .argument('[action]', '"advance" (gated) or "set" to change the phase')
    .argument('[phase]', 'set: the phase to move to')
    .option('--to <phase>', 'advance: the phase to move to (default: the next one)')
    .option('--force', 'move even when gates fail (audited, with the failing gates)')
    .option('--json', 'advance: print the report as JSON')
    .addHelpText('after', HELP)
    .action(
      async (
        action: string | undefined,
        phase: string | undefined,
        opts: { force?: boolean; to?: string; json?: boolean },
        cmd: Command,
      ) => {
        const configPath = cmd.optsWithGlobals().config as string;
        let m: Migration | undefined;
        try {
          // the arguments are checked before any store is opened: a bad phase writes nothing (not even the control plane)
          if (action !== undefined && action !== 'set' && action !== 'advance') throw new TandemError('USAGE', USAGE);
          if (action === 'set' && !phase) throw new TandemError('USAGE', USAGE);
          if (action === 'advance' && phase !== undefined)
            throw new TandemError('USAGE', `${USAGE} (the destination of advance is given with --to)`);
          for (const p of [phase, opts.to])
            if (p !== undefined && !(PHASES as readonly string[]).includes(p))
              throw new TandemError('PHASE_INVALID', `unknown phase "${p}" (phases: ${PHASES.join(', ')})`);
          if (action === 'advance') {
            // the gates need the entities; only entering legacy_read_only needs legacy itself, so with legacy down
            // the other moves are judged without resolved entities (the archive gate then checks no table list)
            m = await openMigration(configPath, { tolerateLegacyDown: true }).catch(async (e) => {
              if (!isTandemError(e, 'STORE_UNREACHABLE') || opts.to === 'legacy_read_only') throw e;
              return openMigration(configPath, { entities: null, tolerateLegacyDown: true });
            });
            await advancePhase(m, { to: opts.to, force: opts.force, json: opts.json });
            process.exitCode = EXIT.ok;
            return;
          }
          // only the control store matters here: a legacy store that is down must not block a phase change (rollback)
          m = await openMigration(configPath, { entities: null, tolerateLegacyDown: true });
          const control = m.stores.control;
          if (!action) {
            process.stdout.write(`${await readPhase(control).catch(() => 'prepare')}\n`);
          } else {
            await ensureControlSchema(control);
            const r = await setPhase(control, phase as Phase, { force: opts.force });
            await audit(control, {
              command: 'phase',
              args: { set: phase, force: !!opts.force },
              outcome: 'ok',
              detail: `${r.from} → ${r.to}`,
            });
            process.stdout.write(`phase: ${r.from} → ${r.to}\n`);
          }
          process.exitCode = EXIT.ok;
        } catch (e) {
          process.exitCode = reportError(e);
        } finally {
          await m?.close();
        }
      },
    );
}
