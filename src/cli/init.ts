import { existsSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { assertDistinctTables, proposalTables } from '../config/overlap.js';
import { TandemError } from '../core/errors.js';
import { propose, renderConfig } from '../init/generate.js';
import { openStore, sameStore } from '../stores/index.js';
import type { Store } from '../stores/types.js';
import { EXIT, reportError } from './context.js';

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('write a starter tandem.config.ts from the two schemas (tables, keys, columns, fill order)')
    .requiredOption('--source <url>', 'legacy store URL (postgres://, mysql://, mariadb://, sqlite:, pglite:)')
    .requiredOption('--target <url>', 'new store URL')
    .option('--out <file>', 'where to write the config', 'tandem.config.ts')
    .option('--force', 'overwrite an existing file')
    .action(async (opts: { source: string; target: string; out: string; force?: boolean }) => {
      const opened: Store[] = [];
      try {
        if (existsSync(opts.out) && !opts.force) throw new TandemError('USAGE', `${opts.out} exists; pass --force to overwrite it`);
        const source = await openStore(opts.source);
        opened.push(source);
        // one store named twice (PGlite and SQLite cannot be opened twice): its own schema is the target's
        const target = sameStore(opts.source, opts.target) ? source : await openStore(opts.target);
        if (target !== source) opened.push(target);
        const p = propose(await source.introspect(), await target.introspect());
        await assertDistinctTables(proposalTables(p), opts.source, opts.target, source, target);
        if (!p.entities.length) throw new TandemError('TABLE_NOT_FOUND', `no source table of ${source.url} has a matching table in ${target.url}`);
        writeFileSync(opts.out, renderConfig(p, opts.source, opts.target));
        process.stdout.write(`wrote ${opts.out}: ${p.entities.length} entities (${(p.order ?? p.entities.map((e) => e.name)).join(', ')})${p.skipped.length ? `; left out: ${p.skipped.map((s) => s.table).join(', ')}` : ''}\n`);
        process.exitCode = EXIT.ok;
      } catch (e) {
        process.exitCode = reportError(e);
      } finally {
        await Promise.all(opened.map((s) => s.close().catch(() => {})));
      }
    });
}
