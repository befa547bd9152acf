import { type Command, Option } from 'commander';
import {
  type BackfillControl,
  type BackfillTune,
  checkTune,
  pauseBackfill,
  resumeBackfill,
  tuneBackfill,
} from '../control/backfill-control.js';
import { TandemError } from '../core/errors.js';
import { routingCommand } from './routing-common.js';
import { EXIT, reportError } from './context.js';

/** One change as `tandem ctl` prints it. */
type ControlChange = { from: BackfillControl; to: BackfillControl };

/** The action of a `tandem ctl` subcommand: its API path and how it writes the control plane directly. */
type CtlAction = 'pause' | 'resume' | 'tune';

/**
 * Parses a `--max-rows-per-second` / `--chunk-seconds` value: `none` (or `null`) removes the operator's value
 * (the config's or the command line's holds again), anything else must be a number; the range is checked by
 * `checkTune`. Throws TANDEM_ERR_TUNE_INVALID naming the option.
 */
export function parseTuneValue(option: string, v: string): number | null {
  const t = v.trim().toLowerCase();
  if (t === 'none' || t === 'null') return null;
  const n = t === '' ? Number.NaN : Number(t);
  if (!Number.isFinite(n))
    throw new TandemError('TUNE_INVALID', `${option} must be a number or none, not ${JSON.stringify(v)}`, {
      field: option,
    });
  return n;
}

/** The tune request of `tandem ctl tune`'s options, checked (TANDEM_ERR_TUNE_INVALID before anything is written). */
export function tuneFromOptions(o: { maxRowsPerSecond?: string; chunkSeconds?: string }): BackfillTune {
  const t: BackfillTune = {};
  if (o.maxRowsPerSecond !== undefined)
    t.maxRowsPerSecond = parseTuneValue('--max-rows-per-second', o.maxRowsPerSecond);
  if (o.chunkSeconds !== undefined) t.chunkSeconds = parseTuneValue('--chunk-seconds', o.chunkSeconds);
  if (t.maxRowsPerSecond === undefined && t.chunkSeconds === undefined)
    throw new TandemError('TUNE_INVALID', 'tandem ctl tune needs --max-rows-per-second or --chunk-seconds', {
      field: null,
    });
  return checkTune(t);
}

const shown = (v: number | null) => (v === null ? 'none (config)' : String(v));

/**
 * The lines `tandem ctl` prints for a change: `backfill: paused (was running)`, `backfill: already paused`,
 * `tune: maxRowsPerSecond 500 → 200`, `tune: chunkSeconds 1 (unchanged)`.
 */
export function changeLines(action: CtlAction, c: ControlChange, tune: BackfillTune = {}): string[] {
  if (action === 'pause') return [c.from.paused ? 'backfill: already paused' : 'backfill: paused (was running)'];
  if (action === 'resume') return [c.from.paused ? 'backfill: running (was paused)' : 'backfill: already running'];
  const out: string[] = [];
  for (const field of ['maxRowsPerSecond', 'chunkSeconds'] as const) {
    if (tune[field] === undefined) continue;
    const a = c.from[field],
      b = c.to[field];
    out.push(a === b ? `tune: ${field} ${shown(b)} (unchanged)` : `tune: ${field} ${shown(a)} → ${shown(b)}`);
  }
  return out;
}

/**
 * `tandem ctl … --url`: POSTs the action to the API (`{url}/api/backfill/<action>`, JSON body, bearer token) and
 * returns its `{ from, to }`. An error answer `{ error: { code, message } }` is thrown as an {@link ApiError}; a
 * connection failure, a timeout (10 s) or an answer that is not the API's JSON as TANDEM_ERR_API_UNREACHABLE.
 */
export async function postControl(
  url: string,
  action: CtlAction,
  token: string | undefined,
  body: BackfillTune = {},
): Promise<ControlChange> {
  let endpoint: URL;
  try {
    endpoint = new URL(`api/backfill/${action}`, url.endsWith('/') ? url : `${url}/`);
    if (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:') throw new Error('not http');
  } catch {
    throw new TandemError('USAGE', `--url must be an http:// or https:// address, not ${JSON.stringify(url)}`);
  }
  const where = `${endpoint.origin}${endpoint.pathname}`;
  let res: Response;
  try {
    res = await fetch(endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (e) {
    const c = (e as { cause?: { code?: string; errors?: { code?: string }[] } }).cause;
    const cause = c?.code ?? c?.errors?.[0]?.code ?? (c as Error | undefined)?.message ?? (e as Error).name;
    throw new TandemError('API_UNREACHABLE', `could not reach ${where} (${cause})`, { url: where });
  }
  let answer: unknown;
  try {
    answer = await res.json();
  } catch {
    throw new TandemError('API_UNREACHABLE', `${where} answered HTTP ${res.status} without JSON`, { url: where });
  }
  const err = (answer as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (!res.ok || err) {
    throw new ApiError(
      typeof err?.code === 'string' ? err.code : `HTTP ${res.status}`,
      typeof err?.message === 'string' ? err.message : `${where} answered HTTP ${res.status}`,
      res.status,
    );
  }
  const a = answer as Partial<ControlChange>;
  if (!a.from || !a.to || typeof a.from.paused !== 'boolean' || typeof a.to.paused !== 'boolean')
    throw new TandemError('API_UNREACHABLE', `${where} answered without { from, to }`, { url: where });
  return a as ControlChange;
}

/** An error answer of the API: its own code (`TANDEM_ERR_AUTH_REQUIRED`) and message, and the HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

async function run(cmd: Command, action: CtlAction, tune: () => BackfillTune): Promise<void> {
  const { url, token } = cmd.optsWithGlobals() as { url?: string; token?: string };
  if (!url) {
    let t: BackfillTune = {};
    await routingCommand(
      cmd,
      () => {
        if (action === 'tune') t = tune();
      },
      async (control) => {
        const c =
          action === 'pause'
            ? await pauseBackfill(control)
            : action === 'resume'
              ? await resumeBackfill(control)
              : await tuneBackfill(control, t);
        return changeLines(action, c, t).join('\n');
      },
    );
    return;
  }
  try {
    const t = action === 'tune' ? tune() : {};
    const c = await postControl(url, action, token ?? process.env.TANDEM_TOKEN, t);
    process.stdout.write(`${changeLines(action, c, t).join('\n')}\n`);
    process.exitCode = EXIT.ok;
  } catch (e) {
    if (e instanceof ApiError) {
      process.stderr.write(`${e.code}: ${e.message}\n`);
      process.exitCode = EXIT.error;
    } else process.exitCode = reportError(e);
  }
}

/**
 * Registers `tandem ctl pause|resume|tune`: the operator's live control of the running backfill (gh-ost's
 * interactive commands), taking effect in every worker within one chunk. Without `--url` it writes the control
 * plane of the config directly; with `--url http://host:port` it asks the API of a `tandem run --http`
 * (`--token`, or `TANDEM_TOKEN`, an operator token). Audited either way. Bad values: TANDEM_ERR_TUNE_INVALID,
 * exit 2, nothing written.
 */
export function registerCtl(program: Command): void {
  const ctl = program
    .command('ctl')
    .description('control the running backfill: pause, resume, tune (within one chunk, every worker; audited)')
    .option('--url <url>', 'talk to the API of `tandem run --http` at this address instead of the control plane')
    .addOption(new Option('--token <token>', 'bearer token (an operator token) for --url').env('TANDEM_TOKEN'));
  ctl
    .command('pause')
    .description('pause every backfill after its chunk in flight (resume: tandem ctl resume)')
    .action((_o: unknown, cmd: Command) => run(cmd, 'pause', () => ({})));
  ctl
    .command('resume')
    .description('let paused backfills go on')
    .action((_o: unknown, cmd: Command) => run(cmd, 'resume', () => ({})));
  ctl
    .command('tune')
    .description('change the rate or chunk time of the running backfills from their next chunk on')
    .option('--max-rows-per-second <n>', 'rows per second (> 0, at most 1e9), or none for the config value')
    .option('--chunk-seconds <s>', 'seconds one chunk should take (0 < s ≤ 60), or none for the config value')
    .action((o: { maxRowsPerSecond?: string; chunkSeconds?: string }, cmd: Command) =>
      run(cmd, 'tune', () => tuneFromOptions(o)),
    );
}
