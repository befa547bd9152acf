import { existsSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { assertDistinctTables, proposalTables } from '../config/overlap.js';
import { TandemError } from '../core/errors.js';
import { propose, renderConfig, type Proposal } from '../init/generate.js';
import { identifyHash } from '../identity/registry.js';
import { openStore, sameStore } from '../stores/index.js';
import type { Store } from '../stores/types.js';
import { EXIT, reportError } from './context.js';

/** The options of `tandem init`. */
interface InitOptions {
  source: string;
  target: string;
  out: string;
  force?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('write a starter tandem.config.ts from the two schemas (tables, keys, columns, fill order)')
    .requiredOption('--source <url>', 'legacy store URL (postgres://, mysql://, mariadb://, sqlite:, pglite:)')
    .requiredOption('--target <url>', 'new store URL')
    .option('--out <file>', 'where to write the config', 'tandem.config.ts')
    .option('--force', 'overwrite an existing file')
    .option('--dry-run', 'print the config it would write and the problems it sees; write nothing')
    .option('--json', 'with --dry-run: print { config, problems } as JSON')
    .action(async (opts: InitOptions) => {
      const opened: Store[] = [];
      try {
        if (opts.json && !opts.dryRun) throw new TandemError('USAGE', '--json needs --dry-run');
        if (!opts.dryRun && existsSync(opts.out) && !opts.force)
          throw new TandemError('USAGE', `${opts.out} exists; pass --force to overwrite it`);
        const source = await openStore(opts.source);
        opened.push(source);
        // one store named twice (PGlite and SQLite cannot be opened twice): its own schema is the target's
        const target = sameStore(opts.source, opts.target) ? source : await openStore(opts.target);
        if (target !== source) opened.push(target);
        const p = propose(await source.introspect(), await target.introspect(), {
          sourceZeroDates: source.capabilities.zeroDates === true,
          targetZeroDates: target.capabilities.zeroDates === true,
        });
        await assertDistinctTables(proposalTables(p), opts.source, opts.target, source, target);
        await markHashColumns(source, p);
        if (!p.entities.length)
          throw new TandemError(
            'TABLE_NOT_FOUND',
            `no source table of ${source.url} has a matching table in ${target.url}`,
          );
        const text = renderConfig(p, opts.source, opts.target);
        if (opts.dryRun) {
          process.stdout.write(
            opts.json
              ? `${JSON.stringify({ config: text, problems: p.problems }, null, 2)}\n`
              : `${text}\n${formatProblems(p)}`,
          );
          process.exitCode = EXIT.ok;
          return;
        }
        writeFileSync(opts.out, text);
        process.stdout.write(
          `wrote ${opts.out}: ${p.entities.length} entities (${(p.order ?? p.entities.map((e) => e.name)).join(', ')})${p.skipped.length ? `; left out: ${p.skipped.map((s) => s.table).join(', ')}` : ''}\n`,
        );
        process.exitCode = EXIT.ok;
      } catch (e) {
        process.exitCode = reportError(e);
      } finally {
        await Promise.all(opened.map((s) => s.close().catch(() => {})));
      }
    });
}

/**
 * The problems of a proposal as text for `tandem init --dry-run`: a header with their number, then one line per
 * problem, `entity.column: problem` (a table left out: `table: left out: reason`).
 */
export function formatProblems(p: Proposal): string {
  if (!p.problems.length) return '// problems init sees: none\n';
  const where = (x: Proposal['problems'][number]) =>
    x.entity === null ? x.table || '(order)' : x.column ? `${x.entity}.${x.column}` : x.entity;
  const width = Math.min(40, Math.max(...p.problems.map((x) => where(x).length)));
  const lines = [`// problems init sees (${p.problems.length}):`];
  for (const x of p.problems) lines.push(`//   ${where(x).padEnd(width)}  ${x.problem}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Adds to each proposed entity's `sensitive` the text columns of its source table whose sampled values (up to
 * 20 non-NULL ones) are mostly password hashes the identity registry recognises. Reads only; a column that
 * cannot be sampled is left as it is. Values never leave this function.
 */
async function markHashColumns(source: Store, p: Proposal): Promise<void> {
  const schema = await source.introspect();
  for (const e of p.entities) {
    const t = schema.tables.get(e.sourceTable);
    if (!t) continue;
    for (const c of t.columns) {
      if (c.category !== 'text' || e.sensitive.includes(c.name)) continue;
      try {
        const col = source.sql.ident(c.name);
        const rows = await source.query<Record<string, unknown>>(
          `SELECT ${col} AS v FROM ${source.sql.table(t.name)} WHERE ${col} IS NOT NULL LIMIT 20`,
        );
        const values = rows.map((r) => r.v).filter((v): v is string => typeof v === 'string' && v.length > 0);
        if (values.length && values.filter((v) => identifyHash(v) !== null).length * 2 > values.length)
          e.sensitive.push(c.name);
      } catch {
        // a column that cannot be sampled is judged by its name only
      }
    }
  }
}
