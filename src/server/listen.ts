/**
 * The address checks of `tandem run --http` and the server: pure functions, kept apart from the server itself so
 * that the command line can check `--http` without loading the HTTP stack.
 */
import { TandemError } from '../core/errors.js';
import type { TandemConfig } from '../config/schema.js';

/**
 * Parses `host:port` (`127.0.0.1:7070`, `[::1]:7070`, `:0` = loopback, any free port). Throws
 * TANDEM_ERR_SERVER_LISTEN naming the address when it is not that.
 */
export function parseListen(addr: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([A-Za-z0-9.-]*)):(\d{1,5})$/.exec(addr.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || !(port >= 0 && port <= 65_535))
    throw new TandemError('SERVER_LISTEN', `--http takes host:port (127.0.0.1:7070), not ${JSON.stringify(addr)}`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

/** True for a loopback host: `localhost`, `127.0.0.0/8`, `::1`. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(?:\.\d{1,3}){3}$/.test(h);
}

/**
 * Checks the address `tandem run --http` would listen on (`true`: the config's `server.listen`). Throws
 * TANDEM_ERR_SERVER_LISTEN for text that is not `host:port`, and for a non-loopback address when the config has
 * no token: every route but `/metrics` and `/healthz` would answer 401, so listening beyond this machine could only
 * expose the metrics — most likely a mistake. Writes nothing; call it before any store is opened.
 */
export function httpAddress(flag: string | true, m: { config: Pick<TandemConfig, 'server'> }): string {
  const addr = flag === true ? m.config.server.listen : flag;
  const { host } = parseListen(addr);
  if (!isLoopback(host) && !m.config.server.tokens.length)
    throw new TandemError(
      'SERVER_LISTEN',
      `--http ${addr} listens beyond this machine but server.tokens is empty: every route but /metrics would answer 401. Add tokens to the config, or listen on 127.0.0.1`,
      { host },
    );
  return addr;
}
