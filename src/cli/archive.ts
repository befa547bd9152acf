import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ensureControlSchema } from '../control/control.js';
import { TandemError, errorLine, isTandemError } from '../core/errors.js';
import {
  type ArchiveVerifyReport,
  archiveRecordOf,
  clearArchiveRecord,
  readArchiveRecord,
  saveArchiveRecord,
  verifyArchive,
  writeArchive,
} from '../cutover/archive.js';
import type { Store } from '../stores/types.js';
import { legacyReadOnlyTables } from '../cutover/read-only.js';
import { openMigration, type Migration } from '../runtime/migration.js';
import { auditSafely, contextOf, EXIT, openContext, reportError } from './context.js';
import { packageVersion } from './index.js';
import { intOption } from './options.js';

const HELP = `
Writes every legacy table of the entities into DIR: one gzip'd NDJSON file per table (a header line, then one
JSON array of canonical values per row, in key order) and manifest.json (per table: file, rows, checksum — the
sum mod 2^64 of verify's row hashes —, bytes, sha256; created, Tandem version). Reads the legacy store only, by
keyset pages. Refuses a DIR that is not empty unless --force. Archive after legacy_read_only, so the tables do
not change while they are read. Audited. See docs/cutover.md.

  tandem archive verify DIR   re-checks every file against the manifest (sha256, size, rows, checksum from
                              the rows) and, when the legacy store is reachable, against the live tables;
                              exit 1 naming each table that differs. A passing verification is
                              recorded in the control plane (state row "archive"): the decommissioned
                              gate of tandem phase advance reads it (with the live tables compared).`;

/** The verify report as lines. */
export function archiveVerifyLines(r: ArchiveVerifyReport): string[] {
  const out = [
    `archive ${r.dir} (created ${r.manifest.created}, tandem ${r.manifest.tandemVersion}, source ${r.manifest.source})`,
  ];
  for (const t of r.tables) {
    const live = !r.live ? '' : t.live && 'rows' in t.live ? ', live table ✓' : '';
    if (t.problems.length === 0)
      out.push(
        `  ok    ${t.table.padEnd(24)} ${t.file}  ${t.file_rows} rows  checksum ${t.file_checksum}  (file ✓${live})`,
      );
    else for (const p of t.problems) out.push(`  DIFF  ${t.table.padEnd(24)} ${p}`);
  }
  if (!r.live) out.push(`  live tables not compared${r.liveNote ? `: ${r.liveNote}` : ''}`);
  const bad = r.tables.filter((t) => t.problems.length).map((t) => t.table);
  out.push(
    r.ok
      ? `archive verified: ${r.tables.length} table(s) match${r.live ? ' the manifest and the live tables' : ' the manifest'}`
      : `archive differs: ${bad.join(', ')}`,
  );
  return out;
}

/** Opens the legacy store for the live comparison, or says why it cannot be. */
async function openLive(configPath: string, noLive: boolean): Promise<{ m: Migration | null; note?: string }> {
  let m: Migration;
  try {
    m = await openMigration(configPath, { entities: null, tolerateLegacyDown: true, legacyWrites: 'never' });
  } catch (e) {
    // without the live check the config is only needed to record the verification: its absence is no error
    if (noLive) return { m: null, note: '--no-live' };
    if (isTandemError(e, 'CONFIG_NOT_FOUND') || isTandemError(e, 'STORE_UNREACHABLE'))
      return { m: null, note: errorLine(e) };
    throw e;
  }
  if (noLive) return { m, note: '--no-live' };
  try {
    await m.stores.legacy.query('SELECT 1 AS one');
    return { m };
  } catch (e) {
    return { m, note: `legacy store unreachable (${errorLine(e)})` };
  }
}

/**
 * Records a passing verification in the control plane (state row `archive`, src/cutover/archive.ts), where the
 * `decommissioned` gate reads it; a failing one removes the record of the same folder. Returns whether a passing
 * verification was recorded.
 */
async function recordVerification(control: Store, r: ArchiveVerifyReport, dir: string): Promise<boolean> {
  if (r.ok) {
    await saveArchiveRecord(control, archiveRecordOf(r, dir));
    return true;
  }
  const prev = await readArchiveRecord(control);
  if (prev && prev.dir === dir) await clearArchiveRecord(control);
  return false;
}

/**
 * Registers `tandem archive --out DIR [--force] [--page-rows N]` and `tandem archive verify DIR [--no-live]
 * [--json]` (src/cutover/archive.ts). Archive: exit 0, or 2 (`TANDEM_ERR_ARCHIVE_DIR_NOT_EMPTY` for a folder that
 * is not empty without --force). Verify: exit 0 when every table matches, 1 naming the tables that differ, 2
 * (`TANDEM_ERR_ARCHIVE_INVALID`) without a readable manifest. Both are audited (verify when the control store
 * can be opened).
 */
export function registerArchive(program: Command): void {
  const archive = program
    .command('archive')
    .description(
      "write every legacy table of the entities to DIR (gzip'd NDJSON per table, manifest.json); archive verify DIR re-checks it",
    )
    .option('--out <dir>', 'the folder to write the archive into (created when missing; must be empty)')
    .option('--force', 'write into a folder that is not empty (files of the same names are replaced)')
    .option('--page-rows <n>', 'rows per keyset page (default 2000)', intOption({ min: 1, max: 100_000 }))
    .addHelpText('after', HELP)
    .action(async (opts: { out?: string; force?: boolean; pageRows?: number }, cmd: Command) => {
      const configPath = cmd.optsWithGlobals().config as string;
      const args = { out: opts.out, force: !!opts.force };
      let ctx: Awaited<ReturnType<typeof openContext>> | undefined;
      try {
        if (!opts.out) throw new TandemError('USAGE', 'tandem archive needs --out DIR (or: tandem archive verify DIR)');
        ctx = await openContext(configPath);
        await ensureControlSchema(ctx.control);
        const notReadOnly = await legacyReadOnlyTables(ctx.migration).then(
          (ro) => ctx!.entities.map((e) => e.source.name).filter((t) => !ro.includes(t)),
          () => [] as string[],
        );
        if (notReadOnly.length)
          process.stderr.write(
            `note: legacy table(s) ${[...new Set(notReadOnly)].join(', ')} are not read-only: rows written while they are archived may be missed (tandem archive verify compares with the live tables)\n`,
          );
        const manifest = await writeArchive(ctx.migration, opts.out, {
          force: opts.force,
          pageRows: opts.pageRows,
          tandemVersion: packageVersion(),
          onTable: (t) =>
            process.stdout.write(
              `  ${t.table.padEnd(24)} ${t.file}  ${t.rows} rows  ${t.bytes} bytes  checksum ${t.checksum}\n`,
            ),
        });
        process.stdout.write(
          `archive written: ${opts.out} (${manifest.tables.length} table(s), ${manifest.tables.reduce((n, t) => n + t.rows, 0)} rows)\n`,
        );
        await auditSafely(ctx, {
          command: 'archive',
          args,
          outcome: 'ok',
          detail: manifest.tables.map((t) => `${t.table} ${t.rows} rows ${t.checksum}`).join(', '),
        });
        process.exitCode = EXIT.ok;
      } catch (e) {
        if (ctx) await auditSafely(ctx, { command: 'archive', args, outcome: 'error', detail: errorLine(e) });
        process.exitCode = reportError(e);
      } finally {
        await ctx?.close();
      }
    });
  archive
    .command('verify')
    .description('re-check an archive against its manifest and the live legacy tables')
    .argument('<dir>', 'the archive folder')
    .option('--no-live', 'do not compare with the live legacy tables')
    .option(
      '--page-rows <n>',
      'rows per keyset page of the live read (default 2000)',
      intOption({ min: 1, max: 100_000 }),
    )
    .option('--json', 'print the report as JSON')
    .action(async (dir: string, opts: { live: boolean; pageRows?: number; json?: boolean }, cmd: Command) => {
      const configPath = cmd.optsWithGlobals().config as string;
      let m: Migration | null = null;
      try {
        const live = await openLive(configPath, !opts.live);
        m = live.m;
        const r = await verifyArchive(dir, {
          live: live.note ? null : (m?.stores.legacy ?? null),
          liveNote: live.note,
          pageRows: opts.pageRows,
        });
        process.stdout.write(opts.json ? `${JSON.stringify(r, null, 2)}\n` : `${archiveVerifyLines(r).join('\n')}\n`);
        if (m) {
          const ctx = contextOf(m, configPath);
          await ensureControlSchema(ctx.control).catch(() => {});
          const recorded = await recordVerification(ctx.control, r, resolve(dir)).catch((e) => {
            process.stderr.write(
              `note: the verification could not be recorded in the control plane (${errorLine(e)})\n`,
            );
            return false;
          });
          if (recorded && !opts.json)
            process.stdout.write(
              r.live
                ? 'recorded: this archive is what the decommissioned gate reads (tandem phase advance)\n'
                : 'recorded without the live tables: the decommissioned gate asks for a verification with them\n',
            );
          await auditSafely(ctx, {
            command: 'archive verify',
            args: { dir, live: r.live },
            outcome: r.ok ? 'ok' : 'differences',
            detail: r.ok
              ? `${r.tables.length} table(s) match`
              : `differs: ${r.tables
                  .filter((t) => t.problems.length)
                  .map((t) => t.table)
                  .join(', ')}`,
          });
        }
        process.exitCode = r.ok ? EXIT.ok : EXIT.differences;
      } catch (e) {
        process.exitCode = reportError(e);
      } finally {
        await m?.close();
      }
    });
}
