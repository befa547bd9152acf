import type { Command } from 'commander';
import { TandemError, errorLine } from '../core/errors.js';
import {
  listMismatches,
  MISMATCH_ORIGINS,
  setMismatchState,
  type MismatchOrigin,
  type MismatchState,
} from '../verify/mismatches.js';
import { planRepair, REPAIR_BATCH, repairKeys, type PlannedRepair } from '../verify/repair.js';
import { compareKeysNow, type KeyToCheck } from '../verify/rows.js';
import { commandHeartbeat } from './heartbeat.js';
import { auditSafely, entityList, EXIT, openContext, prepareControl, reportError, stopOnSignals } from './context.js';
import { intOption } from './options.js';
import { EXIT_BITS } from '../verify/run.js';

/** Per-entity outcome of `tandem repair`. */
export interface EntityRepairReport {
  entity: string;
  /** Keys taken from the mismatches table. */
  keys: number;
  /** Of those keys, how many each origin found (`verify`: verification; `shadow`: shadow reads). */
  origins: Record<MismatchOrigin, number>;
  applied: number;
  deleted: number;
  /** Keys that match after the repair (now `repaired`). */
  repaired: number;
  /** Keys that still differ after the repair (they stay confirmed: changed again meanwhile, or a mapping problem). */
  stillDifferent: string[];
  /** Keys whose re-apply failed, with the error line. */
  failed: { key: string; error: string }[];
  /** Dry run: what would change. */
  planned?: PlannedRepair[];
  /** Keys left for the next run because SIGINT/SIGTERM stopped this one (absent when none). */
  notAttempted?: number;
  /** More mismatches of the entity remain than `--limit` took: this run repaired only part of them. */
  truncated: boolean;
}

const HELP = `
Repairs the keys verify recorded as confirmed mismatches (tandem verify records them; with --continuous they are
confirmed after the lag window): each key's current primary row is re-applied to the secondary through the
guarded apply (a key gone from the primary is deleted, with a tombstone). Every run is written to the audit log.

Exit codes (a bitmask, as verify's): 0 every recorded key repaired (or nothing to repair), 1 some keys still
differ after the repair, 2 error (TANDEM_ERR_REPAIR_FAILED when some keys could not be re-applied; the others
were), 4 partial: more mismatches remain than --limit took (run repair again). A repair proves the keys it
re-applied, not parity: run tandem verify (full or checksum) for that.

SIGINT/SIGTERM stop it after the batch in flight (each batch commits on its own); what was done is printed and
audited (exit 130 for SIGINT, 143 for SIGTERM), the keys left stay confirmed for the next run.`;

/**
 * Registers `tandem repair`: re-applies the confirmed mismatches (`--include-pending`: pending too) from the
 * primary through the guarded apply (`repairKeys`), marks the keys that match afterwards `repaired`, prints what
 * it did (`--dry-run`: what it would do, writing nothing) and audits the run. Exit 0 all repaired, 1 some still
 * differ, 2 error (`TANDEM_ERR_REPAIR_FAILED` when keys could not be re-applied), bit 4 when `--limit` left
 * mismatches for another run.
 */
export function registerRepair(program: Command): void {
  program
    .command('repair')
    .description('re-apply the confirmed mismatching keys from the primary through the guarded apply')
    .option('--entity <names>', 'only these entities (comma-separated)')
    .option('--dry-run', 'print what would change, write nothing')
    .option('--include-pending', 'repair pending mismatches too (not yet confirmed after the lag window)')
    .option('--limit <n>', 'at most N keys per entity (default 100000)', intOption({ min: 1 }))
    .option('--json', 'print the result as JSON')
    .addHelpText('after', HELP)
    .action(
      async (
        opts: { entity?: string; dryRun?: boolean; includePending?: boolean; limit?: number; json?: boolean },
        cmd: Command,
      ) => {
        const configPath = cmd.optsWithGlobals().config as string;
        const limit = opts.limit ?? 100_000;
        let ctx;
        try {
          ctx = await openContext(configPath, entityList(opts.entity));
        } catch (e) {
          process.exitCode = reportError(e, !!opts.json);
          return;
        }
        const args = {
          config: configPath,
          entity: opts.entity ?? null,
          dryRun: !!opts.dryRun,
          includePending: !!opts.includePending,
          limit,
        };
        const states: MismatchState[] = opts.includePending ? ['confirmed', 'pending'] : ['confirmed'];
        const reports: EntityRepairReport[] = [];
        let hb: Awaited<ReturnType<typeof commandHeartbeat>> | undefined;
        const stop = stopOnSignals('stopping after the batch in flight');
        try {
          await prepareControl(ctx);
          hb = await commandHeartbeat(ctx, 'repair', { dryRun: !!opts.dryRun });
          for (const e of ctx.entities) {
            // one more than the limit: whether this run leaves mismatches behind
            const listed = await listMismatches(ctx.control, e.name, states, limit + 1);
            const list = listed.slice(0, limit);
            const all: KeyToCheck[] = list.map((m) => ({ key: m.key, keyValues: m.keyValues }));
            const origins = Object.fromEntries(
              MISMATCH_ORIGINS.map((o) => [o, list.filter((x) => x.origin === o).length]),
            ) as Record<MismatchOrigin, number>;
            const r: EntityRepairReport = {
              entity: e.name,
              keys: all.length,
              origins,
              applied: 0,
              deleted: 0,
              repaired: 0,
              stillDifferent: [],
              failed: [],
              truncated: listed.length > limit,
            };
            reports.push(r);
            if (!all.length) continue;
            if (stop.signal.aborted) {
              r.notAttempted = all.length;
              continue;
            }
            if (opts.dryRun) {
              r.planned = await planRepair(ctx.source, ctx.target, e, all);
              continue;
            }
            let attempted = 0;
            for (let i = 0; i < all.length && !stop.signal.aborted; i += REPAIR_BATCH) {
              const batch = all.slice(i, i + REPAIR_BATCH);
              attempted = i + batch.length;
              try {
                const x = await repairKeys(ctx.source, ctx.target, e, batch);
                r.applied += x.applied;
                r.deleted += x.deleted;
              } catch {
                // one key spoils its batch's transaction: repair the batch key by key to isolate it
                for (const k of batch) {
                  try {
                    const x = await repairKeys(ctx.source, ctx.target, e, [k]);
                    r.applied += x.applied;
                    r.deleted += x.deleted;
                  } catch (err) {
                    r.failed.push({ key: k.key, error: errorLine(err) });
                  }
                }
              }
            }
            if (attempted < all.length) r.notAttempted = all.length - attempted;
            const keys = all.slice(0, attempted);
            // what matches now is repaired; the rest stays confirmed
            const now = await compareKeysNow(ctx.source, ctx.target, e, keys);
            const fixed = keys.filter((k) => !now.get(k.key)).map((k) => k.key);
            r.repaired = fixed.length;
            r.stillDifferent = keys
              .filter((k) => now.get(k.key) && !r.failed.some((f) => f.key === k.key))
              .map((k) => k.key);
            await setMismatchState(ctx.control, e.name, fixed, 'repaired', Date.now());
          }
          process.stdout.write(
            opts.json
              ? `${JSON.stringify({ dryRun: !!opts.dryRun, entities: reports })}\n`
              : `${formatRepair(reports, !!opts.dryRun)}\n`,
          );
          const failed = reports.flatMap((r) => r.failed);
          const still = reports.some((r) => r.stillDifferent.length);
          const truncated = reports.some((r) => r.truncated);
          await auditSafely(ctx, {
            command: 'repair',
            args,
            outcome: failed.length
              ? 'error'
              : stop.signal.aborted
                ? 'interrupted'
                : still
                  ? 'differences'
                  : truncated
                    ? 'interrupted'
                    : 'ok',
            detail: JSON.stringify(
              reports.map((r) => ({
                entity: r.entity,
                keys: r.keys,
                origins: r.origins,
                applied: r.applied,
                deleted: r.deleted,
                repaired: r.repaired,
                stillDifferent: r.stillDifferent.length,
                failed: r.failed.length,
                truncated: r.truncated,
                ...(r.notAttempted ? { notAttempted: r.notAttempted } : {}),
                ...(r.planned ? { planned: r.planned.filter((p) => p.action !== 'none').length } : {}),
              })),
            ),
          });
          if (failed.length) {
            process.exitCode = reportError(
              new TandemError(
                'REPAIR_FAILED',
                `${failed.length} key(s) could not be re-applied (first: ${failed[0]!.key}: ${failed[0]!.error}); the other keys were repaired`,
                { failed: failed.length },
              ),
            );
          } else
            process.exitCode = stop.signal.aborted
              ? stop.exitCode
              : (still ? EXIT.differences : EXIT.ok) | (truncated ? EXIT_BITS.partial : 0);
        } catch (e) {
          await auditSafely(ctx, { command: 'repair', args, outcome: 'error', detail: errorLine(e) });
          process.exitCode = reportError(e);
        } finally {
          await hb?.stop();
          stop.dispose();
          await ctx.close();
        }
      },
    );
}

/** The human report of a repair or a dry run. */
export function formatRepair(reports: EntityRepairReport[], dryRun: boolean): string {
  const out: string[] = [];
  for (const r of reports) {
    const by = Object.entries(r.origins ?? {})
      .filter(([, n]) => n > 0)
      .map(([o, n]) => `${o} ${n}`)
      .join(', ');
    // who found the keys, at the end of the entity's line
    const found = by ? ` [found by ${by}]` : '';
    const more = r.truncated ? ` (first ${r.keys} by --limit; more remain: partial, run repair again)` : '';
    if (dryRun) {
      const planned = r.planned ?? [];
      const changes = planned.filter((p) => p.action !== 'none');
      out.push(
        `${r.entity}: ${r.keys} key(s) to repair${more}, ${changes.length} would change${planned.length - changes.length ? `, ${planned.length - changes.length} already match` : ''}${found}`,
      );
      for (const p of changes) {
        if (p.action === 'insert') out.push(`  would insert ${p.key} (missing in target)`);
        else if (p.action === 'delete') out.push(`  would delete ${p.key} (not in source)`);
        else {
          out.push(`  would update ${p.key}: ${p.difference!.columns.map((c) => `${c.table}.${c.column}`).join(', ')}`);
          for (const c of p.difference!.columns)
            out.push(`      ${c.table}.${c.column}: ${JSON.stringify(c.target)} → ${JSON.stringify(c.source)}`);
        }
      }
      continue;
    }
    out.push(
      `${r.entity}: ${r.keys} key(s)${more}: ${r.applied} re-applied, ${r.deleted} deleted, ${r.repaired} repaired${r.stillDifferent.length ? `, ${r.stillDifferent.length} still differ (${r.stillDifferent.slice(0, 5).join(' ')}${r.stillDifferent.length > 5 ? ' …' : ''})` : ''}${r.failed.length ? `, ${r.failed.length} failed` : ''}${found}`,
    );
    for (const f of r.failed.slice(0, 10)) out.push(`  failed ${f.key}: ${f.error}`);
    if (r.notAttempted)
      out.push(`  stopped by a signal: ${r.notAttempted} key(s) not attempted (run tandem repair again)`);
  }
  if (!reports.some((r) => r.keys)) out.push('nothing to repair: no confirmed mismatches (run tandem verify first)');
  return out.join('\n');
}
