/**
 * `tandem identity …`: operator commands of the identity bridge.
 *
 * - `check`  — JSON lines `{"password": "...", "hash": "..."}` on stdin → `{"ok": true|false, "scheme": "..."}` per
 *   line
 * - `wrap`   — replace the fast legacy hashes still in the new store by wrapped Argon2id hashes
 * - `report` — users by state, by legacy scheme, hashes in the new store, migrations per day
 * - `sunset --before DATE` — mark the users that have not migrated reset-required; export identifiers (CSV/JSON)
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { TandemError, isTandemError, errorLine } from '../core/errors.js';
import type { VerifyOptions } from '../identity/types.js';
import { identifyHash, verifyPassword } from '../identity/registry.js';
import { resolveIdentity } from '../identity/resolve.js';
import {
  csvField,
  formatIdentityReport,
  identityReport,
  sunsetIdentities,
  wrapAtRest,
  type SunsetEntry,
} from '../identity/operators.js';
import { commandHeartbeat } from './heartbeat.js';
import { endProgressLine, setProgressLineOpen } from '../core/terminal.js';
import {
  auditSafely,
  EXIT,
  openContext,
  prepareControl,
  reportError,
  stopOnSignals,
  type CommandContext,
} from './context.js';
import { boundedLines } from './lines.js';
import { enumOption, intOption } from './options.js';

/** Default cap of one input line of `identity check`, in bytes (`--max-line-bytes`). */
export const CHECK_MAX_LINE_BYTES = 64 * 1024;

const RAW_HEX = ['md5', 'sha1', 'sha256', 'sha512'] as const;
/** Argon2id memory cost bounds in KiB (RFC 9106: at least 8 × lanes; 4 GiB at most here). */
const ARGON2_MEMORY = { min: 8, max: 4 * 1024 * 1024 };

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

async function check(
  opts: { rawHex?: (typeof RAW_HEX)[number]; entity?: string; maxLineBytes: number },
  cmd: Command,
): Promise<void> {
  let options: VerifyOptions = {};
  try {
    if (opts.entity) {
      const cfg = await loadConfig(cmd.optsWithGlobals().config as string);
      const id = cfg.entities[opts.entity]?.identity;
      if (!id) throw new TandemError('CONFIG_INVALID', `entity ${opts.entity} has no identity block`);
      options = {
        ...(id.rawHex ? { rawHex: id.rawHex } : {}),
        ...(id.firebase ? { firebase: id.firebase } : {}),
        ...(id.wordpressTrim !== undefined ? { wordpressTrim: id.wordpressTrim } : {}),
      };
    }
    if (opts.rawHex) options.rawHex = { algorithm: opts.rawHex };
  } catch (e) {
    process.exitCode = reportError(e);
    return;
  }
  let all = true;
  // SIGINT/SIGTERM: answer the line in flight, then stop reading
  const stop = stopOnSignals('stopping after the line in flight');
  stop.signal.addEventListener('abort', () => process.stdin.destroy(), { once: true });
  try {
    for await (const item of boundedLines(process.stdin, opts.maxLineBytes)) {
      if (item.tooLong !== undefined) {
        // the line was dropped as it streamed past; the next lines are answered as usual
        all = false;
        process.stdout.write(
          `${JSON.stringify({ ok: false, scheme: null, error: 'TANDEM_ERR_USAGE', reason: `line of ${item.tooLong} bytes is longer than --max-line-bytes ${opts.maxLineBytes}; skipped` })}\n`,
        );
        continue;
      }
      all = (await checkLine(item.line, options)) && all;
      if (stop.signal.aborted) break;
    }
  } catch (e) {
    if (!stop.signal.aborted) {
      stop.dispose();
      process.exitCode = reportError(e);
      return;
    }
  }
  stop.dispose();
  process.exitCode = stop.signal.aborted ? stop.exitCode : all ? EXIT.ok : EXIT.differences;
}

/** Answers one input line of `identity check` on stdout; returns whether it verified. */
async function checkLine(line: string, options: VerifyOptions): Promise<boolean> {
  {
    if (line.trim() === '') return true;
    let out: Record<string, unknown>;
    try {
      let input: unknown;
      try {
        input = JSON.parse(line);
      } catch {
        throw new TandemError('USAGE', 'each line must be a JSON object {"password": "...", "hash": "..."}');
      }
      const { password, hash } = (input ?? {}) as { password?: unknown; hash?: unknown };
      if (typeof password !== 'string' || typeof hash !== 'string')
        throw new TandemError('USAGE', 'each line needs string fields "password" and "hash"');
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
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return out.ok === true;
  }
}

async function wrap(
  opts: {
    entity: string;
    dryRun?: boolean;
    json?: boolean;
    concurrency?: number;
    pageRows?: number;
    memoryCost?: number;
    timeCost?: number;
    parallelism?: number;
  },
  cmd: Command,
): Promise<void> {
  const configPath = cmd.optsWithGlobals().config as string;
  let opened;
  try {
    if (opts.memoryCost !== undefined && opts.memoryCost < 8 * (opts.parallelism ?? 1))
      throw new TandemError(
        'USAGE',
        `--memory-cost ${opts.memoryCost} is below 8 × --parallelism ${opts.parallelism ?? 1} KiB (Argon2 needs at least ${8 * (opts.parallelism ?? 1)})`,
      );
    opened = await openIdentity(configPath, opts.entity);
  } catch (e) {
    process.exitCode = reportError(e);
    return;
  }
  const { ctx, resolved } = opened;
  const args = { config: configPath, entity: opts.entity, dryRun: !!opts.dryRun };
  let hb: Awaited<ReturnType<typeof commandHeartbeat>> | undefined;
  const stop = stopOnSignals('stopping after the page in flight');
  try {
    await prepareControl(ctx);
    hb = await commandHeartbeat(ctx, 'identity wrap', { entity: opts.entity });
    const argon2 = {
      ...(opts.memoryCost ? { memoryCost: opts.memoryCost } : {}),
      ...(opts.timeCost ? { timeCost: opts.timeCost } : {}),
      ...(opts.parallelism ? { parallelism: opts.parallelism } : {}),
    };
    const r = await wrapAtRest(ctx.target, resolved, {
      argon2,
      ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
      ...(opts.pageRows ? { pageRows: opts.pageRows } : {}),
      dryRun: !!opts.dryRun,
      logger: ctx.log,
      signal: stop.signal,
      onProgress: process.stderr.isTTY
        ? (p) => {
            process.stderr.write(`\r\x1b[2Kscanned ${p.scanned}, wrapped ${p.wrapped}`);
            setProgressLineOpen(process.stderr);
          }
        : undefined,
    });
    endProgressLine();
    if (opts.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else {
      const slow = Object.entries(r.slow)
        .map(([s, n]) => `${s} ${n}`)
        .join(', ');
      process.stdout.write(
        `${opts.dryRun ? 'would wrap' : 'wrapped'} ${r.wrapped} of ${r.scanned} users of entity ${opts.entity}\n` +
          `  already Argon2 ${r.argon2}, already wrapped ${r.alreadyWrapped}, slow schemes left as they are: ${slow || 'none'}\n` +
          `  unknown ${r.unknown}, malformed ${r.malformed}, empty ${r.empty}, changed meanwhile ${r.changedMeanwhile}\n` +
          (r.interrupted
            ? `  stopped by ${stop.received ?? 'a signal'} after a committed page; run identity wrap again to go on\n`
            : ''),
      );
    }
    await auditSafely(ctx, {
      command: 'identity wrap',
      args,
      outcome: r.interrupted ? 'interrupted' : 'ok',
      detail: JSON.stringify(r),
    });
    process.exitCode = r.interrupted ? stop.exitCode : EXIT.ok;
  } catch (e) {
    await auditSafely(ctx, { command: 'identity wrap', args, outcome: 'error', detail: errorLine(e) });
    process.exitCode = reportError(e);
  } finally {
    await hb?.stop();
    stop.dispose();
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
  if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(d.getTime()))
    throw new InvalidArgumentError('expected a date: YYYY-MM-DD or ISO-8601');
  return d;
}

async function sunset(
  opts: { entity: string; before: Date; format: string; out?: string; dryRun?: boolean },
  cmd: Command,
): Promise<void> {
  const configPath = cmd.optsWithGlobals().config as string;
  let opened: { ctx: CommandContext; resolved: Awaited<ReturnType<typeof resolveIdentity>> };
  try {
    opened = await openIdentity(configPath, opts.entity);
  } catch (e) {
    process.exitCode = reportError(e);
    return;
  }
  const { ctx, resolved } = opened;
  const args = {
    config: configPath,
    entity: opts.entity,
    before: opts.before.toISOString(),
    format: opts.format,
    out: opts.out ?? null,
    dryRun: !!opts.dryRun,
  };
  let file: WriteStream | null = null;
  const write = (s: string): Promise<void> | void => {
    const stream = file ?? process.stdout;
    if (!stream.write(s)) return new Promise((r) => stream.once('drain', () => r()));
  };
  const stop = stopOnSignals('stopping after the page in flight');
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
      signal: stop.signal,
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
        `${opts.out ? `; list written to ${opts.out}` : ''}` +
        `${r.interrupted ? `; stopped by ${stop.received ?? 'a signal'} after ${r.scanned} users: run identity sunset again for the rest` : ''}\n`,
    );
    await auditSafely(ctx, {
      command: 'identity sunset',
      args,
      outcome: r.interrupted ? 'interrupted' : 'ok',
      detail: JSON.stringify(r),
    });
    process.exitCode = r.interrupted ? stop.exitCode : EXIT.ok;
  } catch (e) {
    file?.destroy();
    await auditSafely(ctx, { command: 'identity sunset', args, outcome: 'error', detail: errorLine(e) });
    process.exitCode = reportError(e);
  } finally {
    stop.dispose();
    await ctx.close();
  }
}

/** Registers `tandem identity check | wrap | report | sunset`. */
export function registerIdentity(program: Command): void {
  const identity = program
    .command('identity')
    .description('identity bridge: check hashes, wrap weak hashes at rest, report, sunset legacy credentials');
  identity
    .command('check')
    .description(
      'verify passwords against stored hashes: JSON lines {"password","hash"} on stdin → {"ok","scheme"} per line',
    )
    .option(
      '--raw-hex <algorithm>',
      'bare hex digests are md5, sha1, sha256 or sha512 (their shape alone is ambiguous)',
      enumOption(RAW_HEX),
    )
    .option(
      '--max-line-bytes <n>',
      `longest input line read (default ${CHECK_MAX_LINE_BYTES}); a longer line is skipped and answered {"ok":false,"error":"TANDEM_ERR_USAGE",…}`,
      intOption({ min: 2, max: 1 << 30 }),
      CHECK_MAX_LINE_BYTES,
    )
    .option(
      '--entity <name>',
      "use this entity's identity hash options from the config (raw hex layout, Firebase parameters)",
    )
    .addHelpText(
      'after',
      '\nExit codes: 0 every line verified, 1 some did not (or were malformed: "error" names the code), 2 error,\n130/143 stopped by SIGINT/SIGTERM (after answering the line in flight).',
    )
    .action(check);
  identity
    .command('wrap')
    .description(
      'replace the fast legacy hashes still in the new store by Argon2id(legacy hash) (pepper: TANDEM_IDENTITY_PEPPER)',
    )
    .option('--entity <name>', 'entity holding the users', 'users')
    .option('--dry-run', 'count what would be wrapped; write nothing')
    .option('--concurrency <n>', 'hashes computed at once (default: CPUs; 1 to 1024)', intOption({ min: 1, max: 1024 }))
    .option('--page-rows <n>', 'rows per page (default 500; 1 to 100000)', intOption({ min: 1, max: 100_000 }))
    .option(
      '--memory-cost <KiB>',
      `Argon2id memory (default 19456; ${ARGON2_MEMORY.min} to ${ARGON2_MEMORY.max}, at least 8 × parallelism)`,
      intOption(ARGON2_MEMORY),
    )
    .option('--time-cost <n>', 'Argon2id passes (default 2; 1 to 100)', intOption({ min: 1, max: 100 }))
    .option('--parallelism <n>', 'Argon2id lanes (default 1; 1 to 255)', intOption({ min: 1, max: 255 }))
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nSIGINT/SIGTERM stop it after the page in flight (printed and audited as interrupted; run it again to go on).\nExit codes: 0 done, 2 error, 130 stopped by SIGINT, 143 by SIGTERM.',
    )
    .action(wrap);
  identity
    .command('report')
    .description(
      'users by state (legacy only, wrapped, migrated, reset required), by legacy scheme, and migrations per day',
    )
    .option('--entity <name>', 'entity holding the users', 'users')
    .option('--json', 'print the report as JSON')
    .action(report);
  identity
    .command('sunset')
    .description('mark every user that has not migrated reset-required and export their identifiers (never hashes)')
    .requiredOption(
      '--before <date>',
      'the announced sunset date (YYYY-MM-DD or ISO-8601); must not be in the future',
      parseDate,
    )
    .option('--entity <name>', 'entity holding the users', 'users')
    .option('--format <format>', 'csv or json', enumOption(['csv', 'json'] as const), 'csv')
    .option('--out <file>', 'write the list to this file (mode 600) instead of stdout')
    .option('--dry-run', 'export the list without marking anyone')
    .addHelpText(
      'after',
      '\nSIGINT/SIGTERM stop it after the page in flight (the list so far is complete for the users marked).\nExit codes: 0 done, 2 error, 130 stopped by SIGINT, 143 by SIGTERM.',
    )
    .action(sunset);
}
