import pino, { type Logger } from 'pino';
import { errorLine } from './errors.js';
import { redactDeep, redactText } from './redact.js';

/**
 * An error as a log field: its one line ({@link errorLine}: value-free for a TandemError, redacted otherwise),
 * its code and its stack frames. The cause is never serialized (a driver's cause can hold a statement).
 */
function errSerializer(e: unknown): unknown {
  if (!(e instanceof Error)) return typeof e === 'string' ? redactText(e) : e;
  const stack = e.stack ?? '';
  return { type: e.name, code: (e as { code?: unknown }).code, message: errorLine(e), stack: redactText(stack.slice(Math.max(0, stack.indexOf('\n    at ')))) };
}

/**
 * Tandem's logger: pino JSON lines on stderr, with redaction on for every field that could carry a secret
 * (passwords, hashes, URLs with credentials, raw rows): named fields are censored, every string field and the
 * message pass through {@link redactText} (URL passwords, secret query parameters, `password=` pairs), and
 * errors are serialized without their cause. Level from `TANDEM_LOG_LEVEL` (default `info`).
 */
export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      name: 'tandem',
      level: options.level ?? process.env.TANDEM_LOG_LEVEL ?? 'info',
      redact: {
        paths: ['password', 'hash', 'passwordHash', 'password_hash', '*.password', '*.hash', '*.password_hash', 'row', 'rows', 'values', 'url', '*.url', 'params', 'sql'],
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
    (options.destination ?? process.stderr) as pino.DestinationStream,
  );
}
