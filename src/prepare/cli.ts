import type { Command } from 'commander';
import {
  auditSafely,
  entityList,
  EXIT,
  openContext,
  prepareControl,
  reportError,
  stopOnSignals,
  type CommandContext,
} from '../cli/context.js';
import { numberOption } from '../cli/options.js';
import { controlSchemaVersion } from '../control/control.js';
import { errorLine } from '../core/errors.js';
import {
  DEFAULT_LOCK_TIMEOUT_SECONDS,
  prepareEntity,
  selectPrepareEntities,
  type PrepareEntityResult,
  type PrepareRequest,
} from './prepare.js';
import { VERSION_COLUMN_DEFAULT } from './sql.js';

/** Options of `tandem prepare` as commander parses them. */
interface PrepareCliOptions {
  entity?: string;
  column?: string;
  undo?: boolean;
  dryRun?: boolean;
  json?: boolean;
  lockTimeout?: number;
  allowLocking?: boolean;
}

/**
 * Opens what `prepare` needs: the config, the source store (where it changes the schema) and the store(s) of the
 * audit log (the `control` store, the target by default — opened first thing, so an unwritable audit log stops
 * it before the legacy schema is changed). Unlike the other commands it does not resolve the entities against
 * the schemas: the version column may not exist yet, and the target schema does not matter.
 */
function openPrepareContext(configPath: string): Promise<CommandContext> {
  return openContext(configPath, null);
}

const statusText: Record<PrepareEntityResult['status'], string> = {
  prepared: 'prepared',
  already_prepared: 'already prepared, nothing changed',
  undone: 'undone',
  nothing_to_undo: 'nothing to undo, nothing changed',
  would_prepare: 'would prepare (dry run)',
  would_undo: 'would undo (dry run)',
};

/** The human-readable report of `tandem prepare`: one block per entity, then the config edits left to make. */
export function formatPrepareReport(
  results: PrepareEntityResult[],
  opts: { dryRun?: boolean; undo?: boolean },
): string {
  const out: string[] = [];
  if (results.length === 0)
    return opts.undo
      ? 'nothing to undo: no entity of the config is without a version column or uses the prepare column'
      : 'nothing to prepare: every entity of the config names a version column';
  for (const r of results) {
    out.push(
      `${r.entity} (table ${r.table}, column ${r.column}): ${statusText[r.status]}${r.triggers.length ? ` — trigger${r.triggers.length > 1 ? 's' : ''} ${r.triggers.join(', ')}` : ''}`,
    );
    if (r.statements.length) {
      out.push(opts.dryRun ? '  SQL it would run:' : '  SQL run:');
      for (const s of r.statements) out.push(...`${s};`.split('\n').map((l) => `    ${l}`));
    }
    for (const n of r.notes) out.push(`  note: ${n}`);
  }
  const sets = results.filter((r) => r.configChange && 'set' in r.configChange);
  const removes = results.filter((r) => r.configChange && 'remove' in r.configChange);
  if (sets.length) {
    out.push(
      '',
      `${opts.dryRun ? 'Afterwards, set' : 'Now set'} the version column of ${sets.length > 1 ? 'these entities' : 'this entity'} in the config file:`,
    );
    for (const r of sets) out.push(`  ${r.entity}: { table: '${r.table}', …, version: '${r.column}' },`);
  }
  if (removes.length) {
    out.push(
      '',
      `${opts.dryRun ? 'Afterwards, remove' : 'Now remove'} the version column from ${removes.length > 1 ? 'these entities' : 'this entity'} in the config file (backfill and verify would fail on the missing column):`,
    );
    for (const r of removes) out.push(`  ${r.entity}: delete version: '${r.column}'`);
  }
  return out.join('\n');
}

/** Registers `tandem prepare` on the program. */
export function registerPrepare(program: Command): void {
  program
    .command('prepare')
    .description(
      'add a version column (integer counter) and a trigger that bumps it on every UPDATE to source tables that have none',
    )
    .option('--entity <names>', 'only these entities (comma-separated; default: every entity without a version)')
    .option('--column <name>', 'name of the version column', VERSION_COLUMN_DEFAULT)
    .option('--undo', 'drop the trigger(s) and the column that prepare created')
    .option('--dry-run', 'print the SQL it would run; change nothing')
    .option(
      '--lock-timeout <seconds>',
      `how long DDL may wait for a lock on the table (default ${DEFAULT_LOCK_TIMEOUT_SECONDS})`,
      numberOption({ above: 0, max: 86_400 }),
    )
    .option(
      '--allow-locking',
      'MySQL/MariaDB: accept a table copy that blocks writes when the column cannot be added/dropped online',
    )
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nWrites to the SOURCE (legacy) store. Idempotent. SIGINT/SIGTERM stop it after the entity in flight.\nExit codes: 0 done (or nothing to do), 2 error, 130 stopped by SIGINT, 143 by SIGTERM. See docs/prepare.md.',
    )
    .action(async (opts: PrepareCliOptions, cmd: Command) => {
      const configPath = cmd.optsWithGlobals().config as string;
      const column = opts.column ?? VERSION_COLUMN_DEFAULT;
      let ctx: CommandContext;
      let requests: PrepareRequest[];
      try {
        ctx = await openPrepareContext(configPath);
      } catch (e) {
        process.exitCode = reportError(e);
        return;
      }
      try {
        // a bad entity or column name fails here, before anything is written (not even the control plane)
        ctx.source.sql.ident(column);
        requests = selectPrepareEntities(ctx.config, entityList(opts.entity), column, !!opts.undo);
      } catch (e) {
        await ctx.close();
        process.exitCode = reportError(e);
        return;
      }
      const args = {
        config: configPath,
        entity: opts.entity ?? null,
        column,
        undo: !!opts.undo,
        dryRun: !!opts.dryRun,
      };
      const results: PrepareEntityResult[] = [];
      const summary = () =>
        JSON.stringify(results.map((r) => ({ entity: r.entity, table: r.table, status: r.status })));
      const stop = stopOnSignals('stopping after the entity in flight');
      try {
        // the control plane is created before the legacy schema is touched; a dry run creates nothing
        if (!opts.dryRun) await prepareControl(ctx);
        for (const req of requests) {
          if (stop.signal.aborted) break;
          results.push(
            await prepareEntity(ctx.source, req, {
              column,
              undo: opts.undo,
              dryRun: opts.dryRun,
              lockTimeoutSeconds: opts.lockTimeout,
              allowLocking: opts.allowLocking,
            }),
          );
        }
        const left = requests.length - results.length;
        const stopped =
          left > 0
            ? `stopped by ${stop.received ?? 'a signal'}: ${left} entit${left > 1 ? 'ies' : 'y'} not prepared yet (${requests
                .slice(results.length)
                .map((r) => r.entity)
                .join(', ')}); run prepare again`
            : null;
        process.stdout.write(
          opts.json
            ? `${JSON.stringify({ dryRun: !!opts.dryRun, undo: !!opts.undo, column, entities: results, ...(left ? { notAttempted: requests.slice(results.length).map((r) => r.entity) } : {}) })}\n`
            : `${formatPrepareReport(results, { dryRun: opts.dryRun, undo: opts.undo })}${stopped ? `\n${stopped}` : ''}\n`,
        );
        if (!opts.dryRun || (await controlSchemaVersion(ctx.control)))
          await auditSafely(ctx, { command: 'prepare', args, outcome: left ? 'interrupted' : 'ok', detail: summary() });
        process.exitCode = left ? stop.exitCode : EXIT.ok;
      } catch (e) {
        // what was done before the failure stays done (and is listed); the error says what stopped
        if (opts.json)
          process.stdout.write(
            `${JSON.stringify({ dryRun: !!opts.dryRun, undo: !!opts.undo, column, entities: results, error: errorLine(e) })}\n`,
          );
        else if (results.length)
          process.stdout.write(`${formatPrepareReport(results, { dryRun: opts.dryRun, undo: opts.undo })}\n`);
        if (!opts.dryRun || (await controlSchemaVersion(ctx.control))) {
          await auditSafely(ctx, {
            command: 'prepare',
            args,
            outcome: 'error',
            detail: `${errorLine(e)}; done before: ${summary()}`,
          });
        }
        process.exitCode = reportError(e);
      } finally {
        stop.dispose();
        await ctx.close();
      }
    });
}
