import { closeSync, openSync } from 'node:fs';
import pino, { type Logger } from 'pino';
import { TandemError, errorLine } from './errors.js';
import { redactDeep, redactText } from './redact.js';
import { endProgressLine } from './terminal.js';

let logFile: { path: string; fd: number; stream: pino.DestinationStream } | null = null;
let cli = false;

/**
 * Called once by the `tandem` CLI before a command runs: loggers made afterwards default to `warn` on a
 * terminal (see {@link defaultLogLevel}) and write to `logFile` when one is given (the global `--log-file`).
 * Library use (dual writer, identity bridge) keeps `info` on stderr. Throws `TANDEM_ERR_USAGE` when the log
 * file cannot be opened.
 */
export function configureCliLogs(o: { logFile?: string | null } = {}): void {
  cli = true;
  setLogFile(o.logFile ?? null);
}

/**
 * Sends the JSON logs of every logger made afterwards by {@link createLogger} to `path` (appended, created with
 * mode 600) instead of stderr, at `TANDEM_LOG_LEVEL` (default `info`) — the global `--log-file` option.
 * `null` goes back to stderr. Throws `TANDEM_ERR_USAGE` when the file cannot be opened for writing.
 */
export function setLogFile(path: string | null): void {
  if (logFile) {
    const old = logFile;
    logFile = null;
    try {
      closeSync(old.fd);
    } catch {
      /* already closed */
    }
  }
  if (path === null) return;
  let fd: number;
  try {
    fd = openSync(path, 'a', 0o600);
  } catch (e) {
    throw new TandemError(
      'USAGE',
      `--log-file ${JSON.stringify(path)} cannot be opened for writing (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  logFile = { path, fd, stream: pino.destination({ fd, sync: true }) };
}

/** True when stdout or stderr is a terminal (a person watches: progress lines, few logs). */
export function onTerminal(): boolean {
  return !!(process.stdout.isTTY || process.stderr.isTTY);
}

/**
 * The default log level: `TANDEM_LOG_LEVEL` when set; else, in the CLI, `warn` on a terminal (so JSON lines do
 * not interleave with the progress display) unless the logs go to a `--log-file`; else `info`.
 */
export function defaultLogLevel(): string {
  return process.env.TANDEM_LOG_LEVEL ?? (cli && !logFile && onTerminal() ? 'warn' : 'info');
}

// stderr, ending an open progress line first so a log line never sticks to it
const stderrSink: pino.DestinationStream = {
  write(line: string) {
    endProgressLine();
    process.stderr.write(line);
  },
};

/**
 * An error as a log field: its one line ({@link errorLine}: value-free for a TandemError, redacted otherwise),
 * its code and its stack frames. The cause is never serialized (a driver's cause can hold a statement).
 */
function errSerializer(e: unknown): unknown {
  if (!(e instanceof Error)) return typeof e === 'string' ? redactText(e) : e;
  const stack = e.stack ?? '';
  return {
    type: e.name,
    code: (e as { code?: unknown }).code,
    message: errorLine(e),
    stack: redactText(stack.slice(Math.max(0, stack.indexOf('\n    at ')))),
  };
}

/**
 * Tandem's logger: pino JSON lines on stderr (or the `--log-file`), with redaction on for every field that
 * could carry a secret (passwords, hashes, URLs with credentials, raw rows): named fields are censored, every
 * string field and the message pass through {@link redactText} (URL passwords, secret query parameters,
 * `password=` pairs), and errors are serialized without their cause. Level: see {@link defaultLogLevel}.
 */
export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      name: 'tandem',
      level: options.level ?? defaultLogLevel(),
      redact: {
        paths: [
          'password',
          'hash',
          'passwordHash',
          'password_hash',
          '*.password',
          '*.hash',
          '*.password_hash',
          'row',
          'rows',
          'values',
          'url',
          '*.url',
          'params',
          'sql',
        ],
        censor: '[redacted]',
      },
      serializers: { err: errSerializer, error: errSerializer, cause: errSerializer },
      formatters: { log: (obj) => redactDeep(obj) },
      hooks: {
        logMethod(args, method) {
          method.apply(this, args.map((a) => (typeof a === 'string' ? redactText(a) : a)) as Parameters<typeof method>);
        },
      },
      base: undefined,
    },
    (options.destination as pino.DestinationStream | undefined) ?? logFile?.stream ?? stderrSink,
  );
}
