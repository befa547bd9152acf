import type { Logger } from 'pino';
import type { TandemConfig } from '../config/schema.js';
import { audit, ensureControlSchema, type AuditEntry } from '../control/control.js';
import { errorLine, TandemError } from '../core/errors.js';
import { formatProblems, problemsOf } from '../core/problems.js';
import { redactText } from '../core/redact.js';
import { createLogger } from '../core/logger.js';
import { endProgressLine } from '../core/terminal.js';
import type { ResolvedEntity } from '../core/mapping.js';
import { openMigration, type Migration, type MigrationOptions } from '../runtime/migration.js';
import type { Store } from '../stores/types.js';

/**
 * Exit codes shared by all commands. A command stopped early by a signal exits 128 + the signal number:
 * `interrupted` (130) for SIGINT, `terminated` (143) for SIGTERM.
 */
export const EXIT = { ok: 0, differences: 1, error: 2, interrupted: 130, terminated: 143 } as const;

/** The signals that stop a long-running command gracefully, with their exit codes (128 + signal number). */
export const STOP_SIGNALS = { SIGINT: EXIT.interrupted, SIGTERM: EXIT.terminated } as const;
export type StopSignal = keyof typeof STOP_SIGNALS;

/** What every command that works on a config has: the config, both stores, the resolved entities, a logger. */
export interface CommandContext {
  config: TandemConfig;
  configPath: string;
  source: Store;
  target: Store;
  /** Where the audit log is written: the `control` store, or the target. */
  control: Store;
  entities: ResolvedEntity[];
  log: Logger;
  /** The migration runtime these are the parts of. */
  migration: Migration;
  close(): Promise<void>;
}

/** Parses `--entity a,b` into a list. */
export function entityList(v: string | undefined): string[] | undefined {
  return v
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : undefined;
}

/**
 * Opens the migration runtime for a command (src/runtime/migration.ts, {@link openMigration}) and gives its
 * parts the names commands use. Writes nothing: a bad config, URL, schema or key fails here, before the control
 * plane is touched. `only === null` skips resolving the entities (`entities` is empty): for `prepare`, whose
 * version column may not exist yet — and whose schema changes the legacy-write guard then lets through.
 * `source` is guarded (src/control/legacy-guard.ts): a write to a legacy table before write cutover throws
 * TANDEM_ERR_LEGACY_WRITE_REFUSED. A target table that is a source table of one store throws
 * TANDEM_ERR_CONFIG_INVALID before any store is opened (src/config/overlap.ts).
 */
export async function openContext(
  configPath: string,
  only?: string[] | null,
  log: Logger = createLogger(),
  o: Pick<MigrationOptions, 'waitSeconds' | 'signal' | 'onWaiting'> = {},
): Promise<CommandContext> {
  const m = await openMigration(configPath, {
    ...o,
    entities: only,
    legacyWrites: only === null ? 'prepare' : 'by-phase',
    log,
  });
  return contextOf(m, configPath);
}

/** The {@link CommandContext} view of an open migration. */
export function contextOf(m: Migration, configPath: string): CommandContext {
  return {
    config: m.config,
    configPath,
    source: m.stores.legacy,
    target: m.stores.new,
    control: m.stores.control,
    entities: m.entities,
    log: m.log,
    migration: m,
    close: () => m.close(),
  };
}

/**
 * Creates/upgrades the control plane where this command writes: the target (ledger, checkpoints) and the control store.
 */
export async function prepareControl(ctx: CommandContext): Promise<void> {
  await ensureControlSchema(ctx.target);
  if (ctx.control !== ctx.target) await ensureControlSchema(ctx.control);
}

/** Writes an audit entry, never failing the command because of it (the failure is logged). */
export async function auditSafely(ctx: CommandContext, e: AuditEntry): Promise<void> {
  try {
    await audit(ctx.control, e);
  } catch (err) {
    ctx.log.warn({ event: 'audit.failed', err: errorLine(err) }, 'could not write the audit log');
  }
}

/**
 * Prints a TandemError (or any error) as one line on stderr and returns exit code 2. An error that lists
 * problems (`detail.problems`: entity resolution, pre-flight; src/core/problems.ts) is followed, when they are
 * several, by them as one aligned table (entity, table, column, problem, fix), never a value. With `json` the error and its problems are
 * also printed on stdout as `{ "error": { code, message, problems } }`.
 */
export function reportError(e: unknown, json = false): number {
  endProgressLine();
  process.stderr.write(`${errorLine(e)}\n`);
  const problems = problemsOf(e);
  // one problem is its own line; several follow it as a table
  if (problems && problems.length > 1) process.stderr.write(`${formatProblems(problems)}\n`);
  if (json) {
    const code = e instanceof TandemError ? e.code : 'TANDEM_ERR_INTERNAL';
    const message = errorLine(e).slice(code.length + 2);
    process.stdout.write(`${JSON.stringify({ error: { code, message, problems: problems ?? [] } })}\n`);
  }
  // the stack's first line repeats the message: it is printed redacted the same way
  if (process.env.TANDEM_DEBUG && e instanceof Error && e.stack)
    process.stderr.write(`${redactText(e.stack.slice(e.stack.indexOf('\n') + 1))}\n`);
  return EXIT.error;
}

/** A graceful stop in progress: see {@link stopOnSignals}. */
export interface GracefulStop {
  /** Aborted by the first SIGINT or SIGTERM. */
  signal: AbortSignal;
  /** The signal that stopped the command, or null while none has arrived. */
  readonly received: StopSignal | null;
  /** The exit code of a stopped command: 130 after SIGINT, 143 after SIGTERM (130 while none has arrived). */
  readonly exitCode: number;
  /** Removes the handlers (the default behaviour of the signals is back). */
  dispose(): void;
}

/**
 * A graceful stop on SIGINT and SIGTERM alike (Ctrl-C, `kill`, systemd, Kubernetes, CI): the first one aborts
 * `signal` after printing `SIGTERM: <message>` on stderr — the command finishes what is in flight, prints its
 * summary, writes its audit entry and exits with `exitCode` (130 SIGINT, 143 SIGTERM); a second one quits at
 * once with that code. `dispose()` removes the handlers.
 */
export function stopOnSignals(message: string): GracefulStop {
  const stop = new AbortController();
  let received: StopSignal | null = null;
  const handlers = (Object.keys(STOP_SIGNALS) as StopSignal[]).map((name) => {
    const handler = () => {
      endProgressLine();
      if (stop.signal.aborted) {
        process.stderr.write(`${name}: quitting at once\n`);
        process.exit(STOP_SIGNALS[name]);
      }
      received = name;
      process.stderr.write(`${name}: ${message} (send it again to quit at once)\n`);
      stop.abort();
    };
    process.on(name, handler);
    return [name, handler] as const;
  });
  return {
    signal: stop.signal,
    get received() {
      return received;
    },
    get exitCode() {
      return received ? STOP_SIGNALS[received] : EXIT.interrupted;
    },
    dispose: () => {
      for (const [name, h] of handlers) process.off(name, h);
    },
  };
}

/** The former name of {@link stopOnSignals}; it handles SIGTERM as well as SIGINT. */
export const stopOnSigint = stopOnSignals;
