/**
 * `tandem identity …`: operator commands of the identity bridge.
 *
 * - `check`  — JSON lines `{"password": "...", "hash": "..."}` on stdin → `{"ok": true|false, "scheme": "..."}` per line
 * - `wrap`   — replace the fast legacy hashes still in the new store by wrapped Argon2id hashes
 * - `report` — users by state, by legacy scheme, hashes in the new store, migrations per day
 * - `sunset --before DATE` — mark the users that have not migrated reset-required; export identifiers (CSV/JSON)
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { InvalidArgumentError, type Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { TandemError, isTandemError, errorLine } from '../core/errors.js';
import type { VerifyOptions } from '../identity/types.js';
import { identifyHash, verifyPassword } from '../identity/registry.js';
import { resolveIdentity } from '../identity/resolve.js';
import { csvField, formatIdentityReport, identityReport, sunsetIdentities, wrapAtRest, type SunsetEntry } from '../identity/operators.js';
import { auditSafely, EXIT, openContext, prepareControl, reportError, type CommandContext } from './context.js';

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
  return n;
};

/** Opens the context for one entity and resolves its identity block. */
async function openIdentity(configPath: string, entity: string) {
  const ctx = await openContext(configPath, [entity]);
  try {
    const resolved = await resolveIdentity(ctx.entities[0]!, ctx.source, ctx.target);
    return { ctx, resolved };
  } catch (e) {
    await ctx.close();
    throw e;
  }
}

async function check(opts: { rawHex?: string; entity?: string }, cmd: Command): Promise<void> {
  let options: VerifyOptions = {};
  try {
    if (opts.entity) {
      const cfg = await loadConfig(cmd.optsWithGlobals().config as string);
      const id = cfg.entities[opts.entity]?.identity;
      if (!id) throw new TandemError('CONFIG_INVALID', `entity ${opts.entity} has no identity block`);
      options = { ...(id.rawHex ? { rawHex: id.rawHex } : {}), ...(id.firebase ? { firebase: id.firebase } : {}), ...(id.wordpressTrim !== undefined ? { wordpressTrim: id.wordpressTrim } : {}) };
    }
    if (opts.rawHex) {
      if (!['md5', 'sha1', 'sha256', 'sha512'].includes(opts.rawHex)) throw new TandemError('USAGE', '--raw-hex must be md5, sha1, sha256 or sha512');
      options.rawHex = { algorithm: opts.rawHex as 'md5' };
    }
  } catch (e) {
    process.exitCode = reportError(e);
    return;
  }
  let all = true;
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    if (line.trim() === '') continue;
    let out: Record<string, unknown>;
    try {
      let input: unknown;
      try {
        input = JSON.parse(line);
      } catch {
        throw new TandemError('USAGE', 'each line must be a JSON object {"password": "...", "hash": "..."}');
      }
      const { password, hash } = (input ?? {}) as { password?: unknown; hash?: unknown };
      if (typeof password !== 'string' || typeof hash !== 'string') throw new TandemError('USAGE', 'each line needs string fields "password" and "hash"');
      try {
        const r = await verifyPassword(password, hash, options);
        out = { ok: r.ok, scheme: r.scheme };
      } catch (e) {
        if (!isTandemError(e)) throw e;
        out = { ok: false, scheme: identifyHash(hash, options), error: e.code };
      }
    } catch (e) {
      out = { ok: false, scheme: null, error: isTandemError(e) ? e.code : 'TANDEM_ERR_INTERNAL' };
    }
    if (out.ok !== true) all = false;
    process.stdout.write(`${JSON.stringify(out)}\n`);
  }
  process.exitCode = all ? EXIT.ok : EXIT.differences;
}

async function wrap(opts: { entity: string; dryRun?: boolean; json?: boolean; concurrency?: number; pageRows?: number; memoryCost?: number; timeCost?: number; parallelism?: number }, cmd: Command): Promise<void> {
  const configPath = cmd.optsWithGlobals().config as string;
  let opened;
  try {
    opened = await openIdentity(configPath, opts.entity);
  } catch (e) {
    process.exitCode = reportError(e);
    return;
  }
  const { ctx, resolved } = opened;
  const args = { config: configPath, entity: opts.entity, dryRun: !!opts.dryRun };
  try {
    await prepareControl(ctx);
    const argon2 = { ...(opts.memoryCost ? { memoryCost: opts.memoryCost } : {}), ...(opts.timeCost ? { timeCost: opts.timeCost } : {}), ...(opts.parallelism ? { parallelism: opts.parallelism } : {}) };
    const r = await wrapAtRest(ctx.target, resolved, {
      argon2,
      ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
      ...(opts.pageRows ? { pageRows: opts.pageRows } : {}),
      dryRun: !!opts.dryRun,
      logger: ctx.log,
      onProgress: process.stderr.isTTY ? (p) => process.stderr.write(`\rscanned ${p.scanned}, wrapped ${p.wrapped}`) : undefined,
    });
    if (process.stderr.isTTY) process.stderr.write('\n');
    if (opts.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else {
      const slow = Object.entries(r.slow).map(([s, n]) => `${s} ${n}`).join(', ');
      process.stdout.write(
        `${opts.dryRun ? 'would wrap' : 'wrapped'} ${r.wrapped} of ${r.scanned} users of entity ${opts.entity}\n` +
          `  already Argon2 ${r.argon2}, already wrapped ${r.alreadyWrapped}, slow schemes left as they are: ${slow || 'none'}\n` +
          `  unknown ${r.unknown}, malformed ${r.malformed}, empty ${r.empty}, changed meanwhile ${r.changedMeanwhile}\n`,
      );
    }
    await auditSafely(ctx, { command: 'identity wrap', args, outcome: 'ok', detail: JSON.stringify(r) });
    process.exitCode = EXIT.ok;
  } catch (e) {
    await auditSafely(ctx, { command: 'identity wrap', args, outcome: 'error', detail: errorLine(e) });
    process.exitCode = reportError(e);
  } finally {
    await ctx.close();
  }
}

async function report(opts: { entity: string; json?: boolean }, cmd: Command): Promise<void> {
  const configPath = cmd.optsWithGlobals().config as string;
  let opened;
  try {
    opened = await openIdentity(configPath, opts.entity);
  } catch (e) {
    process.exitCode = reportError(e);
    return;
  }
  const { ctx, resolved } = opened;
  try {
    await prepareControl(ctx);
    const r = await identityReport(ctx.source, ctx.target, resolved);
    process.stdout.write(opts.json ? `${JSON.stringify(r)}\n` : `${formatIdentityReport(r)}\n`);
    process.exitCode = EXIT.ok;
  } catch (e) {
    process.exitCode = reportError(e);
  } finally {
    await ctx.close();
  }
}

function parseDate(v: string): Date {
  const d = new Date(v);
  if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(d.getTime())) throw new InvalidArgumentError('expected a date: YYYY-MM-DD or ISO-8601');
  return d;
}

async function sunset(opts: { entity: string; before: Date; format: string; out?: string; dryRun?: boolean }, cmd: Command): Promise<void> {
  const configPath = cmd.optsWithGlobals().config as string;
  if (opts.format !== 'csv' && opts.format !== 'json') {
    process.exitCode = reportError(new TandemError('USAGE', '--format must be csv or json'));
    return;
  }
  let opened: { ctx: CommandContext; resolved: Awaited<ReturnType<typeof resolveIdentity>> };
  try {
    opened = await openIdentity(configPath, opts.entity);
  } catch (e) {
    process.exitCode = reportError(e);
    return;
  }
  const { ctx, resolved } = opened;
  const args = { config: configPath, entity: opts.entity, before: opts.before.toISOString(), format: opts.format, out: opts.out ?? null, dryRun: !!opts.dryRun };
  let file: WriteStream | null = null;
  const write = (s: string): Promise<void> | void => {
    const stream = file ?? process.stdout;
    if (!stream.write(s)) return new Promise((r) => stream.once('drain', () => r()));
  };
  try {
    await prepareControl(ctx);
    if (opts.out) {
      file = createWriteStream(opts.out, { flags: 'w', mode: 0o600 });
      await new Promise<void>((res, rej) => file!.once('open', () => res()).once('error', rej));
    }
    let n = 0;
    await write(opts.format === 'csv' ? 'key,identifier,previous_state\n' : '[');
    const r = await sunsetIdentities(ctx.source, ctx.target, resolved, {
      before: opts.before,
      dryRun: !!opts.dryRun,
      onEntry: (e: SunsetEntry) =>
        write(
          opts.format === 'csv'
            ? `${csvField(e.key)},${csvField(e.identifier)},${e.previousState}\n`
            : `${n++ ? ',' : ''}\n${JSON.stringify({ key: e.key, identifier: e.identifier, previousState: e.previousState })}`,
        ),
    });
    if (opts.format === 'json') await write('\n]\n');
    if (file) await new Promise<void>((res, rej) => file!.end((err?: Error | null) => (err ? rej(err) : res())));
    process.stderr.write(
      `sunset of entity ${opts.entity} (date ${r.before}): ${r.resetRequired} users ${opts.dryRun ? 'would be' : 'are'} reset-required (${r.alreadyResetRequired} already were), ${r.migrated} migrated users kept` +
        `${opts.out ? `; list written to ${opts.out}` : ''}\n`,
    );
    await auditSafely(ctx, { command: 'identity sunset', args, outcome: 'ok', detail: JSON.stringify(r) });
    process.exitCode = EXIT.ok;
  } catch (e) {
    file?.destroy();
    await auditSafely(ctx, { command: 'identity sunset', args, outcome: 'error', detail: errorLine(e) });
    process.exitCode = reportError(e);
  } finally {
    await ctx.close();
  }
}

/** Registers `tandem identity check | wrap | report | sunset`. */
export function registerIdentity(program: Command): void {
  const identity = program.command('identity').description('identity bridge: check hashes, wrap weak hashes at rest, report, sunset legacy credentials');
  identity
    .command('check')
    .description('verify passwords against stored hashes: JSON lines {"password","hash"} on stdin → {"ok","scheme"} per line')
    .option('--raw-hex <algorithm>', 'bare hex digests are md5, sha1, sha256 or sha512 (their shape alone is ambiguous)')
    .option('--entity <name>', "use this entity's identity hash options from the config (raw hex layout, Firebase parameters)")
    .addHelpText('after', '\nExit codes: 0 every line verified, 1 some did not (or were malformed: "error" names the code), 2 error.')
    .action(check);
  identity
    .command('wrap')
    .description('replace the fast legacy hashes still in the new store by Argon2id(legacy hash) (pepper: TANDEM_IDENTITY_PEPPER)')
    .option('--entity <name>', 'entity holding the users', 'users')
    .option('--dry-run', 'count what would be wrapped; write nothing')
    .option('--concurrency <n>', 'hashes computed at once (default: CPUs)', int('--concurrency'))
    .option('--page-rows <n>', 'rows per page (default 500)', int('--page-rows'))
    .option('--memory-cost <KiB>', 'Argon2id memory (default 19456)', int('--memory-cost'))
    .option('--time-cost <n>', 'Argon2id passes (default 2)', int('--time-cost'))
    .option('--parallelism <n>', 'Argon2id lanes (default 1)', int('--parallelism'))
    .option('--json', 'print the result as JSON')
    .action(wrap);
  identity
    .command('report')
    .description('users by state (legacy only, wrapped, migrated, reset required), by legacy scheme, and migrations per day')
    .option('--entity <name>', 'entity holding the users', 'users')
    .option('--json', 'print the report as JSON')
    .action(report);
  identity
    .command('sunset')
    .description('mark every user that has not migrated reset-required and export their identifiers (never hashes)')
    .requiredOption('--before <date>', 'the announced sunset date (YYYY-MM-DD or ISO-8601); must not be in the future', parseDate)
    .option('--entity <name>', 'entity holding the users', 'users')
    .option('--format <format>', 'csv or json', 'csv')
    .option('--out <file>', 'write the list to this file (mode 600) instead of stdout')
    .option('--dry-run', 'export the list without marking anyone')
    .action(sunset);
}
