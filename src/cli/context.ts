import type { Logger } from 'pino';
import { loadConfig } from '../config/load.js';
import { resolveConfig } from '../config/resolve.js';
import type { TandemConfig } from '../config/schema.js';
import { audit, ensureControlSchema, type AuditEntry } from '../control/control.js';
import { errorLine } from '../core/errors.js';
import { redactText } from '../core/redact.js';
import { createLogger } from '../core/logger.js';
import type { ResolvedEntity } from '../core/mapping.js';
import { openStore } from '../stores/index.js';
import type { Store } from '../stores/types.js';

/** Exit codes shared by all commands. */
export const EXIT = { ok: 0, differences: 1, error: 2, interrupted: 130 } as const;

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
 * exist yet.
 */
export async function openContext(configPath: string, only?: string[] | null, log: Logger = createLogger()): Promise<CommandContext> {
  const config = await loadConfig(configPath);
  const opened: Store[] = [];
  const close = async () => {
    await Promise.all(opened.map((s) => s.close().catch(() => {})));
  };
  try {
    const source = await openStore(config.source);
    opened.push(source);
    const target = await openStore(config.target);
    opened.push(target);
    let control = target;
    if (config.control && config.control !== config.target) {
      control = await openStore(config.control);
      opened.push(control);
    }
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
  process.stderr.write(`${errorLine(e)}\n`);
  // the stack's first line repeats the message: it is printed redacted the same way
  if (process.env.TANDEM_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${redactText(e.stack.slice(e.stack.indexOf('\n') + 1))}\n`);
  return EXIT.error;
}

/**
 * A graceful stop on SIGINT: the first one aborts `signal` (the command finishes what is in flight) after
 * printing `message`; a second one quits at once with exit 130. `dispose()` removes the handler.
 */
export function stopOnSigint(message: string): { signal: AbortSignal; dispose: () => void } {
  const stop = new AbortController();
  const onSigint = () => {
    if (stop.signal.aborted) process.exit(EXIT.interrupted);
    process.stderr.write(`\nSIGINT: ${message} (press again to quit at once)\n`);
    stop.abort();
  };
  process.on('SIGINT', onSigint);
  return { signal: stop.signal, dispose: () => process.off('SIGINT', onSigint) };
}
