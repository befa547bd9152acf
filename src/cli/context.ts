import type { Logger } from 'pino';
import { loadConfig } from '../config/load.js';
import { assertConfigDistinctTables, assertDistinctTablesByUrl } from '../config/overlap.js';
import { resolveConfig } from '../config/resolve.js';
import type { TandemConfig } from '../config/schema.js';
import { audit, ensureControlSchema, type AuditEntry } from '../control/control.js';
import { guardLegacyWrites, phaseOf } from '../control/legacy-guard.js';
import { errorLine } from '../core/errors.js';
import { redactText } from '../core/redact.js';
import { createLogger } from '../core/logger.js';
import { endProgressLine } from '../core/terminal.js';
import type { ResolvedEntity } from '../core/mapping.js';
import { openStore } from '../stores/index.js';
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
  close(): Promise<void>;
}

/** Parses `--entity a,b` into a list. */
export function entityList(v: string | undefined): string[] | undefined {
  return v ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
}

/**
 * Loads and validates the config, opens the stores, resolves the entities against both schemas. Writes
 * nothing: a bad config, URL, schema or key fails here, before the control plane is touched.
 * `only === null` skips resolving the entities (`entities` is empty): for `prepare`, whose version column may not
 * exist yet — and whose schema changes the legacy-write guard then lets through.
 * `source` is guarded (src/control/legacy-guard.ts): a write to a legacy table before write cutover throws
 * TANDEM_ERR_LEGACY_WRITE_REFUSED. A target table that is a source table of one store throws
 * TANDEM_ERR_CONFIG_INVALID before any store is opened (src/config/overlap.ts).
 */
export async function openContext(configPath: string, only?: string[] | null, log: Logger = createLogger()): Promise<CommandContext> {
  const config = await loadConfig(configPath);
  assertDistinctTablesByUrl(config);
  const opened: Store[] = [];
  const close = async () => {
    await Promise.all(opened.map((s) => s.close().catch(() => {})));
  };
  try {
    let phaseStore: Store | undefined;
    // Tandem's connection to the legacy store refuses non-control writes before write cutover (prepare: its DDL)
    const source = guardLegacyWrites(await openStore(config.source), { phase: phaseOf(() => phaseStore), prepare: only === null });
    opened.push(source);
    const target = await openStore(config.target);
    opened.push(target);
    let control = target;
    if (config.control && config.control !== config.target) {
      control = await openStore(config.control);
      opened.push(control);
    }
    phaseStore = control;
    if (only === null) await assertConfigDistinctTables(config, source, target);
    const entities = only === null ? [] : await resolveConfig(config, source, target, only);
    return { config, configPath, source, target, control, entities, log, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Creates/upgrades the control plane where this command writes: the target (ledger, checkpoints) and the control store. */
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

/** Prints a TandemError (or any error) as one line on stderr and returns exit code 2. */
export function reportError(e: unknown): number {
  endProgressLine();
  process.stderr.write(`${errorLine(e)}\n`);
  // the stack's first line repeats the message: it is printed redacted the same way
  if (process.env.TANDEM_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${redactText(e.stack.slice(e.stack.indexOf('\n') + 1))}\n`);
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
