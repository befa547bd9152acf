/**
 * The HTTP server of `tandem run --http [host:port]` (docs/api.md "Starting the server"): the API, the dashboard and
 * `/metrics` in the same process as the supervisor, on the migration it runs. The address defaults to the config's
 * `server.listen` (`127.0.0.1:7070`).
 */
import type { Logger } from 'pino';
import type { Migration } from '../runtime/migration.js';
import type { Supervisor } from '../runtime/services/supervisor.js';
import { type RunningServer, startServer } from './app.js';

export { httpAddress, isLoopback } from './listen.js';

/**
 * Starts the server on `addr` for the migration `m` and its supervisor, with the config's tokens and body limit.
 * Logs `run.http` (the URL, the number of tokens — never a token), warns when there is no token, and prints
 * `http: listening on <url>` on stdout (scripts and tests read the port from it, `:0` taking any free port).
 * Throws TANDEM_ERR_SERVER_LISTEN when the address cannot be listened on.
 */
export async function startRunHttp(
  m: Migration,
  supervisor: Supervisor | null,
  addr: string,
  log: Logger,
  print: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
): Promise<RunningServer> {
  const { tokens, bodyLimitBytes } = m.config.server;
  const server = await startServer({ m, supervisor, tokens, bodyLimitBytes, log }, addr);
  if (!tokens.length)
    log.warn(
      { event: 'run.http_no_tokens' },
      'http: server.tokens is empty — every /api and /ui request is answered 401 (only /metrics and /healthz serve)',
    );
  log.info(
    { event: 'run.http', address: server.url, tokens: tokens.length, roles: [...new Set(tokens.map((t) => t.role))] },
    `http: listening on ${server.url}`,
  );
  print(`http: listening on ${server.url}`);
  return server;
}
