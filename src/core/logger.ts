import pino, { type Logger } from 'pino';

/**
 * Tandem's logger: pino JSON lines on stderr, with redaction on for every field that could carry a secret
 * (passwords, hashes, URLs with credentials, raw rows). Level from `TANDEM_LOG_LEVEL` (default `info`).
 */
export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      name: 'tandem',
      level: options.level ?? process.env.TANDEM_LOG_LEVEL ?? 'info',
      redact: {
        paths: ['password', 'hash', 'passwordHash', 'password_hash', '*.password', '*.hash', '*.password_hash', 'row', 'rows', 'values', 'url', '*.url'],
        censor: '[redacted]',
      },
      base: undefined,
    },
    (options.destination ?? process.stderr) as pino.DestinationStream,
  );
}
